import json

import numpy as np
import pytest
from PIL import Image

from latentcut.render.sheet import cell_origin


@pytest.mark.slow
@pytest.mark.timeout(900)  # the whole demo: 157 s in the measured run on 2 shared cores; a loaded machine takes longer
def test_demo_makes_samples_journeys_and_a_grid_that_link_to_their_sidecars(run_cli, cli, tmp_path):
    # The demo is the first command a new user runs: a process of its own; the checks of what it made run in this one.
    result = run_cli("demo", "out", "--no-progress", timeout_s=900)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    for name in (
        "samples",
        "journey-slerp",
        "journey-spring",
        "journey-lerp",
        "journey-retimed",
        "journeys/journey-001",
        "lanes",
    ):
        assert name.split("/")[-1] + ".mp4" in result.stdout
        info = cli("info", f"out/{name}.z.npy", "--video", f"out/{name}.mp4")
        assert info.returncode == 0 and "link      ok" in info.stdout, info.stderr
    assert json.loads((out / "journey-spring.z.json").read_text())["frames"] == 101
    assert "snapshot-grid.mp4" in result.stdout and "101 frames 256x256" in result.stdout
    conform = cli("conform", "out/demo.kdenlive", "-o", "out/demo-cut.z.npy")
    assert conform.returncode == 0 and "wrote out/demo-cut.z.npy: 351 frames" in conform.stdout
    # The lanes project: a direction and a noise walk the CPPN applies, conformed and rendered; the journey's ends untouched.
    lanes = run_cli("conform", "out/lanes.kdenlive", "-o", "out/lanes-again.z.npy", "--explain")
    assert lanes.returncode == 0, lanes.stderr
    assert "direction lanes-direction.attr.npy in z, amount: " in lanes.stdout and "noise walk (seed 2018" in lanes.stdout
    made = json.loads((out / "lanes.z.json").read_text())["made"]
    assert made["controls"]["columns"] == ["direction:0", "noise_angle:2018:12", "noise_frame"]
    # The contact sheet of the 48 samples: 8 columns of 128 px tiles, 6 rows.
    sheet = np.asarray(Image.open(out / "samples.png"))
    x, y = cell_origin(47, 8, (128, 128))
    assert sheet.shape[1] == x + 128 + 2 and sheet.shape[0] == y + 128 + 18 + 2
    # The batch: three chained journeys in a project that conforms to the journeys end to end.
    batch = [np.load(out / "journeys" / f"journey-00{n}.z.npy") for n in (1, 2, 3)]
    np.testing.assert_array_equal(batch[0][-1], batch[1][0])
    conform = cli("conform", "out/journeys/journeys.kdenlive", "-o", "out/batch.z.npy")
    assert conform.returncode == 0, conform.stderr
    np.testing.assert_array_equal(np.load(out / "batch.z.npy"), np.concatenate(batch))
    assert (out / "journeys" / "journeys.png").is_file()
    # The retimed journey changes more evenly than the spring journey it came from.
    made = json.loads((out / "journey-retimed.z.json").read_text())["made"]
    assert made["cv_after"] * 3 <= made["cv_before"]
