"""The look as data: recorded in a sidecar and read back, today's sidecars still read, choices applied once, bad fields refused."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from latentcut.errors import SidecarError, UsageError
from latentcut.latent.look import Look, LookOptions, LookRun, ModelRef, frame_looks
from latentcut.latent.sidecar import load_sequence, save_sequence

Z = np.zeros((4, 8), np.float32)


def test_a_look_survives_its_sidecar_and_its_model_file_is_recorded_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    model_file = tmp_path / "models/G.pkl"
    model_file.write_bytes(b"weights")
    look = Look(
        ModelRef("../models/G.pkl", "a" * 64, (str(model_file),)),
        space="w",
        truncation_psi=0.7,
        psi_in_latents=0.7,
        class_index=2,
        noise_mode="random",
        noise_seed=5,
        translate=(0.125, -0.25),
        rotate_deg=12.5,
    )
    save_sequence(tmp_path / "seq/s.w.npy", Z, fps=Fraction(25), look=look)
    data = json.loads((tmp_path / "seq/s.w.json").read_text())
    assert data["model"] == {
        "spec": "../models/G.pkl",
        "sha256": "a" * 64,
        "file": "../models/G.pkl",
        "file_absolute": str(model_file),
    }
    assert data["look"] == {
        "truncation_psi": 0.7,
        "psi_in_latents": 0.7,
        "class": 2,
        "noise_mode": "random",
        "noise_seed": 5,
        "translate": [0.125, -0.25],
        "rotate_deg": 12.5,
    }
    (tmp_path / "moved").mkdir()
    for name in (
        "s.w.npy",
        "s.w.json",
    ):  # the sidecar moved: its relative path now points elsewhere, its absolute one still holds
        (tmp_path / "seq" / name).rename(tmp_path / "moved" / name)
    read = load_sequence(tmp_path / "moved/s.w.npy").meta.look
    assert read == look and read.model is not None
    assert read.model.files == (str(tmp_path / "models/G.pkl"),)  # ../models from moved/ and the absolute path agree


def test_todays_sidecars_read_as_before_and_a_mapped_w_carries_its_psi(tmp_path: Path) -> None:
    save_sequence(tmp_path / "old.w.npy", Z, fps=Fraction(25))
    data = json.loads((tmp_path / "old.w.json").read_text())
    data.update(space="w", model={"spec": "G.pkl", "sha256": "b" * 64}, made={"how": "mapped", "truncation_psi": 0.6, "class": 1})
    (tmp_path / "old.w.json").write_text(json.dumps(data))
    look = load_sequence(tmp_path / "old.w.npy").meta.look
    assert look == Look(ModelRef("G.pkl", "b" * 64), space="w", truncation_psi=0.6, psi_in_latents=0.6, class_index=1)
    assert look.psi_to_apply == 1.0  # shown at 0.6, which the latents already carry: no more truncation
    plain = save_sequence(tmp_path / "plain.z.npy", Z, fps=Fraction(25))
    assert "look" not in json.loads((tmp_path / "plain.z.json").read_text()) and plain.look == Look()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("truncation_psi", "0.7"),
        ("truncation_psi", float("nan")),
        ("truncation_psi", 1e300),
        ("class", -1),
        ("class", True),
        ("noise_mode", "loud"),
        ("noise_seed", 2**64),
        ("translate", [1]),
        ("rotate_deg", float("inf")),
        ("shimmer", 1),
    ],
)
def test_a_bad_look_field_is_one_line_naming_the_file(tmp_path: Path, field: str, value: object) -> None:
    save_sequence(tmp_path / "s.z.npy", Z, fps=Fraction(25))
    data = json.loads((tmp_path / "s.z.json").read_text())
    data["look"] = {field: value}
    (tmp_path / "s.z.json").write_text(json.dumps(data))
    with pytest.raises(
        SidecarError, match=r"s\.z\.json: (a field is missing or malformed \(.*look|holds (NaN|Infinity), which is not JSON)"
    ) as caught:
        load_sequence(tmp_path / "s.z.npy")
    assert "\n" not in str(caught.value)


def test_a_choice_applies_once_and_a_conflict_is_one_line() -> None:
    mapped = Look(space="w", truncation_psi=0.7, psi_in_latents=0.7, class_index=1)
    assert mapped.psi_to_apply == 1.0
    assert mapped.chosen(LookOptions(truncation_psi=0.7)).psi_to_apply == 1.0  # not 0.49: never twice
    assert mapped.chosen(LookOptions(truncation_psi=0.35)).psi_to_apply == pytest.approx(0.5)  # the pictures show 0.35
    assert mapped.chosen(LookOptions(class_index=1)) == mapped
    with pytest.raises(UsageError, match="carry it; drop --class") as caught:
        mapped.chosen(LookOptions(class_index=2), "s.w.npy")
    assert str(caught.value).startswith("s.w.npy: ") and "\n" not in str(caught.value)
    with pytest.raises(UsageError, match="no psi brings them back"):
        Look(space="w", truncation_psi=0.0, psi_in_latents=0.0).chosen(LookOptions(truncation_psi=0.5))
    z = Look(truncation_psi=0.7, noise_mode="random", noise_seed=3)
    assert z.chosen(LookOptions()) == z and z.chosen(LookOptions(noise_seed=4)).noise_seed == 4
    assert z.psi_to_apply == 0.7 and Look().psi_to_apply is None


def test_look_runs_survive_the_sidecar_and_say_each_frames_look(tmp_path: Path) -> None:
    runs = (
        LookRun(0, Look(ModelRef("builtin:cppn@3", "c" * 64))),
        LookRun(3, Look(ModelRef("builtin:cppn@20", "d" * 64), truncation_psi=0.5)),
    )
    meta = save_sequence(
        tmp_path / "chain.z.npy", np.zeros((6, 8), np.float32), fps=Fraction(25), look=runs[0].look, look_runs=runs
    )
    assert load_sequence(tmp_path / "chain.z.npy").meta.look_runs == runs == meta.look_runs
    assert frame_looks(runs, 6).tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(SidecarError, match="look runs"):
        save_sequence(tmp_path / "bad.z.npy", Z, fps=Fraction(25), look_runs=(LookRun(1, Look()),))
