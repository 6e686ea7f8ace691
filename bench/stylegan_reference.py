"""Equality to NVIDIA's images: latentcut's StyleGAN networks on snapshots pickled by NVIDIA's code, against NVIDIA's outputs.

    .venv/bin/python bench/stylegan_reference.py [FOLDER] [--export DIR]

FOLDER (default ../shared/reference/stylegan) holds NAME.pkl and NAME.ref.npz pairs: ``z`` (n, z_dim),
``img_psi1`` / ``img_psi07`` (NVIDIA's ``G(z, None, truncation_psi, noise_mode='const')``) and ``ws``
(``G.mapping(z, None)``). Prints, per generator and case, the mean and largest absolute difference of
the 8-bit frames (``clip((x + 1) * 127.5 + 0.5, 0, 255)``; goal: mean < 0.5 of a level) and the
largest difference of the float images. ``--export DIR`` writes each pair instead as ``DIR/NAME.npz``: the
generator's module, constructor arguments (JSON) and weights (``weight/<name>``) beside the reference
arrays, plain numbers that carry none of the source text NVIDIA's pickles embed. That is how the test
fixtures in ``tests/data/stylegan/`` were made.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from latentcut.models.stylegan.pickle_reader import build_generator, read_snapshot

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "reference" / "stylegan"


def eight_bit(images: np.ndarray) -> np.ndarray:
    return np.clip((np.asarray(images, np.float64) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8).astype(np.float64)


def export(folder: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for reference in sorted(folder.glob("*.ref.npz")):
        name = reference.name[: -len(".ref.npz")]
        record = read_snapshot(folder / f"{name}.pkl")["G_ema"]
        weights = {f"weight/{key}": tensor.numpy() for key, tensor in record.state_dict().items()}
        with np.load(reference) as data:
            arrays = {key: data[key] for key in data.files}
        np.savez_compressed(
            out / f"{name}.npz",
            module=np.array(record.module_name),
            init_kwargs=np.array(json.dumps(record.init_kwargs)),
            **arrays,
            **weights,
        )
        print(f"wrote {out / name}.npz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--export", type=Path, metavar="DIR", help="write NAME.npz fixtures to DIR instead of comparing")
    args = parser.parse_args()
    if args.export is not None:
        export(args.folder, args.export)
        return
    folder = args.folder
    print(f"{'generator':<14}{'case':<12}{'8-bit mean':>12}{'8-bit max':>11}{'float max':>12}")
    for reference in sorted(folder.glob("*.ref.npz")):
        name = reference.name[: -len(".ref.npz")]
        snapshot = read_snapshot(folder / f"{name}.pkl")["G_ema"]
        network = build_generator(snapshot)
        data = np.load(reference)
        z = torch.from_numpy(data["z"])
        with torch.no_grad():
            ws = network.mapping(z, None).numpy()
            cases = {
                "psi 1": (network(z, None, truncation_psi=1.0, noise_mode="const").numpy(), data["img_psi1"]),
                "psi 0.7": (network(z, None, truncation_psi=0.7, noise_mode="const").numpy(), data["img_psi07"]),
                "from W": (network.synthesis(torch.from_numpy(data["ws"]), noise_mode="const").numpy(), data["img_psi1"]),
            }
        print(f"{name:<14}{'ws':<12}{'':>12}{'':>11}{np.abs(ws - data['ws']).max():>12.2e}")
        for case, (ours, theirs) in cases.items():
            difference = np.abs(eight_bit(ours) - eight_bit(theirs))
            print(f"{name:<14}{case:<12}{difference.mean():>12.4f}{difference.max():>11.0f}{np.abs(ours - theirs).max():>12.2e}")


if __name__ == "__main__":
    main()
