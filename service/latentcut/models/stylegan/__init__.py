"""StyleGAN generators (StyleGAN2, StyleGAN3) in plain PyTorch and their snapshot reader."""
