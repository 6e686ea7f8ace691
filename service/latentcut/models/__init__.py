"""Models that turn latents into images: the ``Generator`` protocol, the embedded CPPN, and loaders for users' models."""
