"""The web explorer driven in a real browser (Debian's chromium through Playwright): the Marrow workflow, saving and chaining."""

from __future__ import annotations

import itertools
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
sync_api = pytest.importorskip("playwright.sync_api")

from latentcut.explore.server import ExplorerSettings, ExploreServer, local_explorer  # noqa: E402
from latentcut.explore.transitions import key_from_json, key_vector, silhouette, transition_latents  # noqa: E402
from latentcut.latent.journey import chained_latents  # noqa: E402
from latentcut.latent.sampling import gaussian_latents  # noqa: E402
from latentcut.latent.sidecar import load_sequence, save_sequence  # noqa: E402
from latentcut.programs import Program  # noqa: E402
from latentcut.render.encode import VideoWriter, encoding_for  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SIZE = (64, 64)
WAIT_MS = 20_000
SCREENSHOT_ENV = "LATENTCUT_EXPLORE_SCREENSHOT"  # set it to a path to keep the screenshot for a person to look at

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (install.sh installs it)"),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's chromium, started and stopped (with every process it made) as a watched program; Playwright drives it over CDP."""
    profile = tmp_path_factory.mktemp("chromium")
    command = [str(CHROMIUM), *CHROMIUM_ARGS, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"]
    with Program(command) as chromium, sync_api.sync_playwright() as playwright:
        endpoint = chromium.wait_for_output(r"DevTools listening on (ws://\S+)", timeout_s=WAIT_MS / 1000)[1]
        connected = playwright.chromium.connect_over_cdp(endpoint, timeout=WAIT_MS)
        try:
            yield connected
        finally:
            connected.close()


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pool") / "pool.z.npy"
    save_sequence(path, gaussian_latents(20, 512, 11), fps=25)
    return path


@pytest.fixture
def server(tmp_path: Path, pool: Path) -> Iterator[ExploreServer]:
    settings = ExplorerSettings(
        out=tmp_path / "out",
        snapshots=("builtin:cppn", "builtin:cppn@3"),
        pool=load_sequence(pool).latents,
        pool_name=pool.name,
        size=SIZE,
        tile_size=(48, 48),
        columns=5,
    )
    running = ExploreServer(local_explorer(settings, device="cpu"), "127.0.0.1", 0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def page(browser: Any, server: ExploreServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        opened.goto(server.url)
        opened.wait_for_selector("body[data-ready='1']")
        yield opened
        assert not errors, errors
    finally:
        context.close()


def tid(name: str) -> str:
    return f"[data-testid={name}]"


def frame_index(page: Any) -> int:
    return int(page.get_attribute(tid("frame-index"), "data-index"))


def generate(page: Any, steps: int, interp: str = "slerp") -> dict[str, Any]:
    """Generate with these settings; wait until every frame arrived and frame 0 shows; return the transition's keys."""
    page.fill(tid("steps"), str(steps))
    page.select_option(tid("interp"), interp)
    page.click(tid("generate"))
    page.wait_for_function(
        "n => { const p = document.querySelector('[data-testid=progress]'); return p.max == n && p.value == n; }", arg=steps
    )
    page.wait_for_function("() => document.querySelector('[data-testid=status]').textContent.includes('ready')")
    assert frame_index(page) == 0
    return page.evaluate("() => ({source: state.source, destination: state.destination, id: state.gen.id})")


def shown_frame(page: Any) -> np.ndarray:
    """The pixels the page shows in its frame image, read back through a canvas once the image has loaded."""
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=frame]'); return i.complete && i.naturalWidth > 0 && "
        "i.src.includes('/' + document.querySelector('[data-testid=frame-index]').dataset.index + '.png'); }"
    )
    width, height, data = page.evaluate(
        """() => {
            const image = document.querySelector('[data-testid=frame]');
            const canvas = document.createElement('canvas');
            canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
            const context = canvas.getContext('2d');
            context.drawImage(image, 0, 0);
            return [canvas.width, canvas.height, Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data)];
        }"""
    )
    return np.array(data, np.uint8).reshape(height, width, 4)[:, :, :3]


def expected_latents(server: ExploreServer, keys: dict[str, Any], steps: int, interp: str) -> np.ndarray:
    explorer = server.explorer

    def vector(key: dict[str, Any]) -> np.ndarray:
        return key_vector(key_from_json(key), explorer.pool, 512, lambda name: explorer.folder.latents(name)[-1])

    return transition_latents(vector(keys["source"]), vector(keys["destination"]), steps, interp)


def test_shuffle_keep_source_and_next_source(page: Any) -> None:
    def labels() -> tuple[str, str]:
        return page.inner_text("#source-label"), page.inner_text("#destination-label")

    assert page.is_checked("#from-pool")  # a pool was given: shuffling picks its frames
    page.uncheck("#from-pool")
    first = labels()
    page.click(tid("shuffle-both"))
    second = labels()
    assert second[0] != first[0] and second[1] != first[1] and second[0].startswith("random #")
    page.click(tid("keep-source"))
    third = labels()
    assert third[0] == second[0] and third[1] != second[1]
    page.click(tid("next-source"))
    assert labels()[0] == third[1]
    # Clicking the contact sheet: tile 7 (row 1, column 2 of 5) becomes the source, then tile 0 the destination.
    sheet = page.locator("#sheets img").first
    sheet.wait_for()
    page.wait_for_function("() => document.querySelector('#sheets img').naturalWidth > 0")
    layout = page.evaluate("() => state.config.sheet")
    width, height = layout["tile"]
    gap, label = layout["gap_px"], layout["label_px"]
    scale = page.evaluate("() => { const i = document.querySelector('#sheets img'); return i.clientWidth / i.naturalWidth; }")
    sheet.click(
        position={"x": (gap + 2 * (width + gap) + width / 2) * scale, "y": (gap + (height + label + gap) + height / 2) * scale}
    )
    sheet.click(position={"x": (gap + 5) * scale, "y": (gap + 5) * scale})
    assert labels() == ("pool frame 7", "pool frame 0")


def test_generate_streams_frames_that_step_with_buttons_and_arrows(page: Any, server: ExploreServer) -> None:
    page.select_option(tid("snapshot"), "builtin:cppn@3")
    keys = generate(page, 9, "spring")
    assert page.inner_text(tid("frame-index")) == "frame 0 / 8"
    page.click(tid("next"))
    assert frame_index(page) == 1
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert frame_index(page) == 3
    page.click(tid("prev"))
    assert frame_index(page) == 2
    # The frame shown is the model's frame of that latent (to one level: torch's sums round by batch shape and threads).
    latents = expected_latents(server, keys, 9, "spring")
    model = server.explorer.renderer("builtin:cppn@3")
    shown, rendered = shown_frame(page), model.render(latents[2:3], SIZE)[0]
    assert np.abs(shown.astype(np.int16) - rendered).max() <= 1 and (shown != rendered).mean() < 0.001
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert frame_index(page) == 8  # stepping cycles round, as Marrow does
    assert page.inner_text(tid("frame-index")) == "frame 8 / 8"


def test_play_cycles_at_the_chosen_rate(page: Any) -> None:
    generate(page, 6)
    page.fill(tid("fps"), "30")
    page.click(tid("play"))
    assert page.inner_text(tid("play")) == "Pause"
    seen = page.evaluate(
        """() => new Promise(resolve => {
            const seen = [];
            const started = performance.now();
            const watch = setInterval(() => {
                seen.push(Number(document.querySelector('[data-testid=frame-index]').dataset.index));
                if (performance.now() - started > 1000) { clearInterval(watch); resolve(seen); }
            }, 10);
        })"""
    )
    page.click(tid("play"))
    assert page.inner_text(tid("play")) == "Play"
    changes = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    assert 15 <= changes <= 40, seen  # about 30 steps in 1 s at 30 fps (12 at the default 12 fps)
    assert set(seen) == set(range(6))  # every frame shown, round and round
    stopped = frame_index(page)
    page.wait_for_timeout(150)
    assert frame_index(page) == stopped


def test_shadow_mode_shows_the_silhouette_of_the_frame(page: Any) -> None:
    generate(page, 4)
    page.click(tid("next"))
    colour = shown_frame(page)
    page.check(tid("shadows"))
    page.wait_for_function("() => document.querySelector('[data-testid=frame]').src.includes('shadow=1')")
    shadow = shown_frame(page)
    np.testing.assert_array_equal(shadow, silhouette(colour))
    assert set(np.unique(shadow).tolist()) <= {24, 236}
    page.uncheck(tid("shadows"))
    np.testing.assert_array_equal(shown_frame(page), colour)


def test_save_writes_sidecar_proxy_and_project(page: Any, server: ExploreServer, decode_video: Any, tmp_path: Path) -> None:
    keys = generate(page, 8, "lerp")
    page.fill(tid("name"), "bloom-1")
    page.click(tid("save"))
    page.wait_for_selector(f"{tid('saved')} li[data-name='bloom-1']")
    out = server.explorer.folder.folder
    sequence = load_sequence(out / "bloom-1.z.npy")
    np.testing.assert_array_equal(sequence.latents, expected_latents(server, keys, 8, "lerp"))
    assert sequence.meta.made["how"] == "explore" and sequence.meta.made["interp"] == "lerp"
    assert sequence.meta.model is not None and sequence.meta.model.spec == "builtin:cppn"
    # The proxy holds the page's frames: the page's frames put through the same proxy encoding decode to exactly
    # the proxy's frames (x264 is deterministic), and each proxy frame is nearest its own page frame.
    page_frames = []
    for _ in range(8):
        page_frames.append(shown_frame(page))
        page.click(tid("next"))
    shown = np.stack(page_frames)
    proxy = decode_video(out / "bloom-1.mp4", SIZE)
    assert proxy.shape == (8, 64, 64, 3)
    reference = tmp_path / "reference.mp4"
    with VideoWriter(reference, SIZE, Fraction(25), encoding_for(reference, "proxy")) as video:
        video.write(shown)
    np.testing.assert_array_equal(proxy, decode_video(reference, SIZE))
    distances = np.abs(proxy[:, None].astype(np.int16) - shown[None].astype(np.int16)).mean(axis=(2, 3, 4))
    assert distances.argmin(axis=1).tolist() == list(range(8))
    # The project: a real Kdenlive document with the clip in its bin as a latent clip.
    root = ET.parse(out / "explore.kdenlive").getroot()
    producers = [p for p in root.iter("producer") if p.findtext("property[@name='mlt_service']") == "latent"]
    assert [p.findtext("property[@name='latent:sidecar']") for p in producers] == ["bloom-1.z.npy"]
    assert [p.findtext("property[@name='resource']") for p in producers] == ["bloom-1.mp4"]
    # Saving again under the same name is refused, and the files stay.
    page.click(tid("save"))
    page.wait_for_function("() => document.querySelector('[data-testid=status]').textContent.includes('already saved')")
    assert (out / "bloom-1.mp4").exists() and load_sequence(out / "bloom-1.z.npy").meta.frames == 8


def test_chain_reload_load_and_delete(page: Any, server: ExploreServer) -> None:
    out = server.explorer.folder.folder
    generate(page, 5)
    page.fill(tid("name"), "first")
    page.click(tid("save"))
    page.wait_for_selector(f"{tid('saved')} li[data-name='first']")
    page.click(tid("next-source"))  # chains onto the saved transition
    assert page.inner_text("#source-label") == "end of “first”"
    generate(page, 4, "spring")
    page.fill(tid("name"), "second")
    page.click(tid("save"))
    page.wait_for_selector(f"{tid('saved')} li[data-name='second']")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.eval_on_selector_all(f"{tid('saved')} li", "items => items.map(i => i.dataset.name)") == ["first", "second"]
    assert "continues first" in page.inner_text(f"{tid('saved')} li[data-name='second']")
    page.click(f"{tid('saved')} li[data-name='second'] button[data-action=chain]")
    page.wait_for_function("() => document.querySelector('[data-testid=status]').textContent.includes('second-chain')")
    chain = load_sequence(out / "second-chain.z.npy")
    first, second = load_sequence(out / "first.z.npy").latents, load_sequence(out / "second.z.npy").latents
    np.testing.assert_array_equal(second[0], first[-1])  # no jump at the join
    np.testing.assert_array_equal(chain.latents, chained_latents([first, second]))
    assert len(chain.latents) == 8 and chain.meta.made["transitions"] == ["first", "second"]
    # Load brings a saved transition back onto the stage, with its settings.
    page.click(f"{tid('saved')} li[data-name='first'] button[data-action=load]")
    page.wait_for_function("() => document.querySelector('[data-testid=status]').textContent.includes('ready')")
    assert page.inner_text(tid("frame-index")) == "frame 0 / 4" and page.input_value(tid("steps")) == "5"
    # Delete asks twice, then the files and the project's clip go.
    delete = f"{tid('saved')} li[data-name='second'] button[data-action=delete]"
    page.click(delete)
    assert (out / "second.z.npy").exists()
    page.click(delete)
    page.wait_for_function("() => document.querySelector('[data-testid=saved]').dataset.count === '1'")
    assert not (out / "second.z.npy").exists() and not (out / "second.mp4").exists()
    project = (out / "explore.kdenlive").read_text()
    assert "first.z.npy" in project and "second.z.npy" not in project


def test_screenshot_of_the_page(page: Any, tmp_path: Path) -> None:
    generate(page, 6)
    page.click(tid("next"))
    path = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "explore.png")
    path.write_bytes(page.screenshot(full_page=True))  # written here: Playwright would write it from a thread of its own
    from PIL import Image

    with Image.open(path) as shot:
        pixels = np.asarray(shot.convert("RGB"))
    box = page.locator(tid("frame")).bounding_box()
    frame = pixels[int(box["y"]) : int(box["y"] + box["height"]), int(box["x"]) : int(box["x"] + box["width"])]
    assert frame.shape[0] > 200 and frame.std() > 10  # the transition's frame is on screen, not an empty box
