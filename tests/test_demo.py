import json


def test_demo_makes_samples_journeys_and_a_grid_that_link_to_their_sidecars(run_cli, tmp_path):
    result = run_cli("demo", "out", "--no-progress", timeout_s=600)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    for name in ("samples", "journey-slerp", "journey-spring", "journey-lerp"):
        assert name + ".mp4" in result.stdout
        info = run_cli("info", f"out/{name}.z.npy", "--video", f"out/{name}.mp4")
        assert info.returncode == 0 and "link      ok" in info.stdout, info.stderr
    assert json.loads((out / "journey-spring.z.json").read_text())["frames"] == 101
    assert "snapshot-grid.mp4" in result.stdout and "101 frames 256x256" in result.stdout
    conform = run_cli("conform", "out/demo.kdenlive", "-o", "out/demo-cut.z.npy")
    assert conform.returncode == 0 and "wrote out/demo-cut.z.npy: 351 frames" in conform.stdout
