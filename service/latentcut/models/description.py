"""What a loaded model says about itself: its kind, latent sizes, classes, resolution, mapping layers, snapshot and weights' hash."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from latentcut.models.generator import Encoder, Generator, weights_sha256

__all__ = ["ModelDescription", "model_description"]


@dataclass(frozen=True)
class ModelDescription:
    """A model's facts, as ``latentcut model`` prints them (None: the model has no such thing)."""

    spec: str
    kind: str  # stylegan2, stylegan3, cppn, digits-vae, torch module, ...
    z_dim: int  # the width of the latents it takes in z space: what `latentcut sample --model` draws
    w_dim: int | None  # StyleGAN: the intermediate latent's width (a ``latentcut map`` sequence's)
    num_ws: int | None  # StyleGAN: ws per frame in w+ space
    c_dim: int  # classes of a conditional model (0: none)
    resolution: tuple[int, int]  # native (width, height)
    mapping_layers: int | None
    snapshot: str | None  # which training snapshot: "400 kimg", "@27" ...
    encodes: bool  # it maps pictures back to latents (``latentcut encode`` uses it)
    input_controls: tuple[str, ...]  # per-frame controls of its input (StyleGAN3 translate/rotate, StyleGAN2 const_noise)
    sha256: str  # its weights' hash, as sidecars record it

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["resolution"] = list(self.resolution)
        data["input_controls"] = list(self.input_controls)
        return data

    def lines(self) -> list[str]:
        """The facts as aligned lines for a terminal."""
        rows = [
            ("model", self.spec),
            ("kind", self.kind),
            ("z_dim", str(self.z_dim)),
            ("w_dim", "-" if self.w_dim is None else str(self.w_dim)),
            ("num_ws", "-" if self.num_ws is None else str(self.num_ws)),
            ("c_dim", str(self.c_dim)),
            ("resolution", f"{self.resolution[0]}x{self.resolution[1]}"),
            ("mapping", "-" if self.mapping_layers is None else f"{self.mapping_layers} layers"),
            ("snapshot", self.snapshot or "-"),
            ("encodes", "yes" if self.encodes else "no"),
            ("controls", ", ".join(self.input_controls) or "-"),
            ("sha256", self.sha256),
        ]
        return [f"{name:<11}{value}" for name, value in rows]


def model_description(generator: Generator) -> ModelDescription:
    """The facts of ``generator`` (a StyleGAN snapshot, a built-in model or any other ``Generator``)."""
    from latentcut.models.cppn import CppnGenerator
    from latentcut.models.stylegan.generator import StyleGanGenerator, snapshot_kimg

    sha256 = weights_sha256(generator)
    encodes = isinstance(generator, Encoder)
    if isinstance(generator, StyleGanGenerator):
        network: Any = generator.network
        controls = generator.input_controls
        kimg = snapshot_kimg(generator.spec)
        return ModelDescription(
            spec=generator.spec,
            kind="stylegan3" if "translate" in controls else "stylegan2",
            z_dim=generator.z_dim,
            w_dim=generator.w_dim,
            num_ws=generator.num_ws,
            c_dim=generator.c_dim,
            resolution=generator.native_size,
            mapping_layers=int(network.mapping.num_layers),
            snapshot=None if kimg is None else f"{kimg} kimg",
            encodes=encodes,
            input_controls=controls,
            sha256=sha256,
        )
    if isinstance(generator, CppnGenerator):
        kind, snapshot = "cppn (built in, any resolution)", f"@{generator.snapshot}"
    elif generator.spec == "builtin:digits":
        kind, snapshot = "digits VAE (built in)", None
    else:
        kind, snapshot = f"torch module ({type(getattr(generator, '_module', generator)).__name__})", None
    return ModelDescription(
        spec=generator.spec,
        kind=kind,
        z_dim=generator.latent_dim,
        w_dim=None,
        num_ws=None,
        c_dim=int(getattr(generator, "c_dim", 0)),
        resolution=generator.native_size,
        mapping_layers=None,
        snapshot=snapshot,
        encodes=encodes,
        input_controls=(),
        sha256=sha256,
    )
