"""What importing each layer drags in: the conform, the watcher and the command line's parser stay free of torch."""

import sys

from latentcut.programs import run_program

LIGHT = """
import sys
import latentcut.conform.project, latentcut.conform.explain, latentcut.watch.session, latentcut.watch.saves
import latentcut.cli.main
latentcut.cli.main.parser()
heavy = sorted(name for name in ("torch", "torchvision", "cv2", "sklearn") if name in sys.modules)
print(",".join(heavy))
"""


def test_conform_watch_and_the_parser_do_not_import_torch():
    result = run_program([sys.executable, "-c", LIGHT], stall_s=None, timeout_s=120, text=True, check=True)
    assert result.stdout.strip() == "", f"imported: {result.stdout.strip()}"


def test_rendering_does_import_torch():
    # The check above can fail: the same probe sees torch once a module that needs it is imported.
    probe = LIGHT.replace("import latentcut.cli.main\n", "import latentcut.cli.main, latentcut.models.cppn\n")
    result = run_program([sys.executable, "-c", probe], stall_s=None, timeout_s=120, text=True, check=True)
    assert "torch" in result.stdout
