"""What decides a rendered frame's picture, as one key per frame: shared by the frame cache, the daemon and the watcher.

A frame's key is the sha256 of: the model's weights hash and spec (snapshot included), the frame size,
the latent's float32 bytes and the opacity applied to it, on frames that cross-fade in pixels,
the second latent and its weight, and on frames whose controls change anything (lanes, a performance's
input controls), their column names, values and the directions they use. Equal keys give equal
pictures, so after a small edit only frames whose key changed are generated again, and a frame that
only moved in time is not a changed frame.
"""

from __future__ import annotations

import hashlib

import numpy as np

from latentcut.latent.controls import InputControls

__all__ = ["frame_keys"]


def frame_keys(
    model_sha256: str,
    model_spec: str,
    size: tuple[int, int],
    latents: np.ndarray,
    opacity: np.ndarray,
    blend_latents: np.ndarray | None = None,
    blend_weight: np.ndarray | None = None,
    controls: InputControls | None = None,
) -> list[str]:
    """Return the key of every frame (hex sha256); a blend weight of 0 keys a frame as if it had no cross-fade.

    ``controls``: the frames' controls; a frame whose controls are all neutral keys as if it had none.
    """
    prefix = hashlib.sha256(f"{model_sha256}|{model_spec}|{size[0]}x{size[1]}|".encode())
    rows = np.ascontiguousarray(latents, dtype="<f4")
    alphas = np.ascontiguousarray(opacity, dtype="<f4")
    if blend_latents is None or blend_weight is None:
        others, weights = None, np.zeros(len(rows), "<f4")
    else:
        others, weights = np.ascontiguousarray(blend_latents, dtype="<f4"), np.ascontiguousarray(blend_weight, dtype="<f4")
    steering = None if controls is None else np.ascontiguousarray(controls.values, dtype="<f4")
    steered = np.zeros(len(rows), bool) if controls is None else controls.steered()
    if controls is not None:
        named = hashlib.sha256("|".join(controls.columns).encode())
        if controls.directions is not None:
            named.update(np.ascontiguousarray(controls.directions, dtype="<f4").tobytes())
        columns = named.digest()
    keys = []
    for index, (row, alpha, weight) in enumerate(zip(rows, alphas, weights, strict=True)):
        digest = prefix.copy()
        digest.update(row.tobytes())
        digest.update(alpha.tobytes())
        if others is not None and weight > 0:
            digest.update(b"blend")
            digest.update(others[index].tobytes())
            digest.update(weight.tobytes())
        if steering is not None and steered[index]:
            digest.update(b"controls")
            digest.update(columns)
            digest.update(steering[index].tobytes())
        keys.append(digest.hexdigest())
    return keys
