"""How the shipped ``builtin:digits`` weights were made: ``python -m latentcut.models.digits_training [OUT.npz]``.

Trains ``DigitsVae`` on the first 1500 of scikit-learn's 1797 digits (the rest are held out), on one
CPU thread with fixed seeds, so the same torch version writes the same weights. It prints the
held-out reconstruction error to record as ``DIGITS_RECORDED_ERROR`` in ``digits.py``. Not part of
install or tests; it takes about a minute.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from latentcut.atomic import atomic_path
from latentcut.models.digits import DIGITS_HELD_OUT, DIGITS_WEIGHTS, DigitsGenerator, DigitsVae, digit_images, held_out_digits

__all__ = ["held_out_error", "trained_weights"]

_SEED = 1797
_EPOCHS = 500
_BATCH = 100
_LEARNING_RATE = 1e-3
# Weight of the KL term: below 1 so more latent dimensions stay in use (at 1, all but five collapse onto the prior
# and classes blur together); samples from N(0, I) still decode to digits.
_KL_WEIGHT = 0.25


def trained_weights(epochs: int = _EPOCHS) -> dict[str, np.ndarray]:
    """Return the VAE's float32 weights after ``epochs`` passes of Adam over the training digits."""
    torch.manual_seed(_SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    images, _ = digit_images()
    train = torch.from_numpy(images[:-DIGITS_HELD_OUT].reshape(len(images) - DIGITS_HELD_OUT, -1))
    vae = DigitsVae()
    optimiser = torch.optim.Adam(vae.parameters(), lr=_LEARNING_RATE)
    order = torch.Generator().manual_seed(_SEED)
    for epoch in range(epochs):
        total = 0.0
        for batch in train[torch.randperm(len(train), generator=order)].split(_BATCH):
            mean, log_variance = vae.posterior(batch)
            z = mean + torch.randn_like(mean) * (0.5 * log_variance).exp()
            reconstruction = F.binary_cross_entropy_with_logits(vae.decode_logits(z), batch, reduction="sum")
            kl = -0.5 * (1 + log_variance - mean.square() - log_variance.exp()).sum()
            loss = (reconstruction + _KL_WEIGHT * kl) / len(batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        if epoch % 50 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:4d}  loss {total / len(train):.3f}", file=sys.stderr)
    return {name: tensor.detach().numpy().astype(np.float32) for name, tensor in vae.state_dict().items()}


def held_out_error(generator: DigitsGenerator) -> float:
    """Mean absolute pixel error (ink 0..1) of encode -> decode at 8x8 over the held-out digits."""
    images, _ = held_out_digits()
    frames = np.repeat((images * 255.0 + 0.5).astype(np.uint8)[..., None], 3, axis=3)
    decoded = generator.render(generator.encode(frames), generator.native_size)[..., 0] / 255.0
    return float(np.abs(decoded - images).mean())


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DIGITS_WEIGHTS
    weights = trained_weights()
    with atomic_path(out) as temporary, temporary.open("wb") as handle:
        np.savez_compressed(handle, **weights)  # type: ignore[arg-type]  # numpy's stub mistypes named arrays
    error = held_out_error(DigitsGenerator(device="cpu", weights=out))
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB); held-out reconstruction error {error:.6f}")
    print(f"record it in digits.py: DIGITS_RECORDED_ERROR = {error:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
