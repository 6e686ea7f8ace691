"""Paths between latent vectors: lerp, slerp, and the damped-spring "physical" interpolation through keyframes.

The physical path follows the Deep Meditations idea: a particle is pulled by a damped spring toward
the current target keyframe and by a second, critically damped spring toward the hypersphere shell
through the keyframes (radius sqrt(dim) for Gaussian latents, where they live). Because it has
mass, its velocity never jumps at a keyframe (slerp's does). Left alone it would lag behind and
miss keyframes, so each segment's simulated path gets a correction ``e * smootherstep(u)`` that
moves its end onto the keyframe; smootherstep has zero first and second derivatives at both ends,
so the correction changes neither velocity nor acceleration at the keyframes. The path therefore
passes through every keyframe at its frame (to float32 rounding). On the last segment a second
correction ``-arrival(u) * v_end`` cancels the velocity the particle still has there: the journey
comes to rest on its last keyframe instead of stopping dead at full speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from latentcut.errors import UsageError

__all__ = ["SpringParams", "lerp", "slerp", "slerp_rows", "spring_path"]

_PARALLEL_RAD = 1e-6  # below this angle slerp and normalised lerp agree to float precision


def _as_weights(t: float | np.ndarray) -> np.ndarray:
    return np.atleast_1d(np.asarray(t, np.float64))


def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Return ``(1 - t) * a + t * b`` for each weight in ``t``: shape ``(len(t), dim)``."""
    w = _as_weights(t)[:, None]
    return ((1.0 - w) * np.asarray(a, np.float64) + w * np.asarray(b, np.float64)).astype(np.float32)


def _orthogonal_unit(unit: np.ndarray) -> np.ndarray:
    # The basis axis least aligned with ``unit``, made orthogonal to it; the same for unit and -unit,
    # which keeps slerp symmetric for antipodal endpoints.
    axis = np.zeros_like(unit)
    axis[int(np.argmin(np.abs(unit)))] = 1.0
    ortho = axis - (axis @ unit) * unit
    return ortho / np.linalg.norm(ortho)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Return spherical interpolation between ``a`` and ``b`` for each weight in ``t``: ``(len(t), dim)``.

    The direction moves along the great circle at constant angular speed; the norm moves linearly from
    ``|a|`` to ``|b|``, so every point's norm lies between the endpoints' norms and
    ``slerp(a, b, t) == slerp(b, a, 1 - t)``. Near-parallel endpoints fall back to normalised lerp;
    antipodal endpoints (no unique great circle) turn through a fixed orthogonal direction.
    """
    w = _as_weights(t)
    a64 = np.broadcast_to(np.asarray(a, np.float64), (len(w), np.shape(a)[-1]))
    b64 = np.broadcast_to(np.asarray(b, np.float64), (len(w), np.shape(b)[-1]))
    return slerp_rows(a64, b64, w)


def slerp_rows(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Return ``slerp(a[i], b[i], t[i])`` for every row ``i`` (float32), with the guarantees of ``slerp``."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    w = np.asarray(t, np.float64)[:, None]
    norm_a = np.linalg.norm(a64, axis=1, keepdims=True)
    norm_b = np.linalg.norm(b64, axis=1, keepdims=True)
    zero = (norm_a == 0) | (norm_b == 0)
    ua = a64 / np.where(norm_a == 0, 1.0, norm_a)
    ub = b64 / np.where(norm_b == 0, 1.0, norm_b)
    # atan2 form: accurate for every angle, unlike arccos of the dot product near 0 and pi.
    omega = 2.0 * np.arctan2(np.linalg.norm(ua - ub, axis=1, keepdims=True), np.linalg.norm(ua + ub, axis=1, keepdims=True))
    parallel = omega < _PARALLEL_RAD
    antipodal = np.pi - omega < _PARALLEL_RAD
    sin_omega = np.where(parallel | antipodal, 1.0, np.sin(omega))
    direction = (np.sin((1.0 - w) * omega) * ua + np.sin(w * omega) * ub) / sin_omega
    if parallel.any():
        nearly = (1.0 - w) * ua + w * ub
        direction = np.where(parallel, nearly / np.linalg.norm(nearly, axis=1, keepdims=True), direction)
    for row in np.nonzero(antipodal[:, 0])[0]:
        direction[row] = np.cos(np.pi * w[row]) * ua[row] + np.sin(np.pi * w[row]) * _orthogonal_unit(ua[row])
    out = ((1.0 - w) * norm_a + w * norm_b) * direction
    if zero.any():
        out = np.where(zero, (1.0 - w) * a64 + w * b64, out)
    return out.astype(np.float32)


@dataclass(frozen=True)
class SpringParams:
    """Constants of the physical interpolation, in units of one segment so they suit any segment length."""

    stiffness: float = 12.0  # (natural angular frequency x segment duration)^2 of the keyframe spring
    damping: float = 0.7  # damping ratio: 1 critical, <1 swings a little past the line of travel
    shell_stiffness: float = 400.0  # same unit, for the spring that holds the norm on the keyframes' shell
    substeps: int = 16  # integration steps per frame at least (semi-implicit Euler)
    arrive: bool = True  # come to rest on the last keyframe (False: arrive at the simulated speed)


def _smootherstep(u: np.ndarray) -> np.ndarray:
    return u * u * u * (u * (6.0 * u - 15.0) + 10.0)


def _arrival(u: np.ndarray) -> np.ndarray:
    # The quintic with value, slope and curvature 0 at u = 0, value 0, slope 1 and curvature 0 at u = 1:
    # subtracting arrival(u) * v_end leaves the path unchanged at its start, still on the keyframe at
    # its end, and cancels the end velocity v_end (and keeps the acceleration there at the simulated one).
    return -(u**3) * (1.0 - u) * (4.0 - 3.0 * u)


def _arrived(path: np.ndarray, velocity: np.ndarray, target: np.ndarray, arrival: np.ndarray) -> np.ndarray:
    # Cancel the end velocity (path units per segment) in direction and in norm separately, so the
    # correction does not cut a chord inside the shell: the direction loses its tangential motion
    # and the norm its radial motion, each by ``arrival``; both end at rest on ``target``.
    norms = np.linalg.norm(path, axis=1, keepdims=True)
    radial_speed = velocity @ target / np.linalg.norm(target)
    moved = path - arrival * velocity
    return moved / np.linalg.norm(moved, axis=1, keepdims=True) * (norms - arrival * radial_speed)


def spring_path(keyframes: np.ndarray, frames_per_segment: int, params: SpringParams = SpringParams()) -> np.ndarray:
    """Return the physical path through ``keyframes``: ``(len(keyframes) - 1) * frames_per_segment + 1`` frames.

    Frame ``i * frames_per_segment`` is keyframe ``i``. The particle starts at rest on keyframe 0,
    carries its velocity across every inner keyframe, and comes to rest on the last one (with
    ``params.arrive``). Deterministic: no randomness at all.
    """
    keys = np.asarray(keyframes, np.float64)
    if keys.ndim != 2 or len(keys) < 2:
        raise UsageError("the physical path needs at least two keyframes as a (count, dim) array")
    if frames_per_segment < 1:
        raise UsageError(f"frames per segment {frames_per_segment} must be at least 1")
    # Semi-implicit Euler is stable for omega * dt < 2; keep a wide margin for the stiffer spring.
    substeps = max(
        params.substeps, math.ceil(4.0 * math.sqrt(max(params.stiffness, params.shell_stiffness)) / frames_per_segment)
    )
    steps = frames_per_segment * substeps
    dt = 1.0 / steps  # time unit: one segment
    omega = np.sqrt(params.stiffness)
    shell_k = params.shell_stiffness
    shell_c = 2.0 * np.sqrt(shell_k)  # critical radial damping: the norm settles without wobbling
    key_norms = np.linalg.norm(keys, axis=1)
    u = np.arange(1, frames_per_segment + 1) / frames_per_segment
    blend = _smootherstep(u)[:, None]

    out = np.empty(((len(keys) - 1) * frames_per_segment + 1, keys.shape[1]), np.float64)
    out[0] = keys[0]
    position, velocity = keys[0].copy(), np.zeros_like(keys[0])
    for seg in range(len(keys) - 1):
        target = keys[seg + 1]
        simulated = np.empty((frames_per_segment, keys.shape[1]))
        for step in range(1, steps + 1):
            # The shell runs through the keyframes (radius ~ sqrt(dim) for Gaussian latents).
            radius = key_norms[seg] + (key_norms[seg + 1] - key_norms[seg]) * (step - 1) / steps
            norm = np.linalg.norm(position)
            radial = position / norm if norm > 0 else np.zeros_like(position)
            shell_pull = (-shell_k * (norm - radius) - shell_c * (velocity @ radial)) * radial
            accel = params.stiffness * (target - position) - 2.0 * params.damping * omega * velocity + shell_pull
            velocity = velocity + dt * accel
            position = position + dt * velocity
            if step % substeps == 0:
                simulated[step // substeps - 1] = position
        miss = target - simulated[-1]
        corrected = simulated + blend * miss
        if params.arrive and seg == len(keys) - 2:
            corrected = _arrived(corrected, velocity, target, _arrival(u)[:, None])
        out[seg * frames_per_segment + 1 : (seg + 1) * frames_per_segment + 1] = corrected
        # The next segment starts exactly on the keyframe with the simulated (uncorrected) velocity,
        # which equals the corrected path's velocity there because smootherstep is flat at u = 1.
        position = target.copy()
    return out.astype(np.float32)
