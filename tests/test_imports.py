"""What importing each layer drags in: the conform, the watcher and the command line's parser stay free of torch."""

import ast
import re
import sys
from pathlib import Path

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


PACKAGE = Path(__file__).resolve().parent.parent / "service" / "latentcut"


def _layers() -> dict[str, int]:
    """Each top-level module or subpackage's rank in the package docstring's dependency order."""
    doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text())) or ""
    entries = [re.match(r"^    (\S.*?)(?:\s{2,}|$)", line) for line in doc.splitlines()]
    names = [entry.group(1).split(",") for entry in entries if entry]
    return {name.strip(): layer for layer, row in enumerate(names) for name in row}


def _imported(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("latentcut."):
            names.append(node.module or "")
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names if alias.name.startswith("latentcut."))
    return names


def test_each_layer_imports_only_what_stands_above_it_in_the_package_docstring():
    rank = _layers()
    assert len(rank) > 10 and rank["errors"] == rank["timebase"] < rank["latent"] < rank["conform"] < rank["cli"]
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        top = path.relative_to(PACKAGE).with_suffix("").parts[0]
        if top in ("__init__", "__main__"):
            continue
        if top not in rank:
            wrong.append(f"{path.relative_to(PACKAGE)} is in no layer of the package docstring")
            continue
        for name in _imported(ast.parse(path.read_text())):
            other = name.split(".")[1]
            if rank.get(other, len(rank)) > rank[top]:
                wrong.append(f"{path.relative_to(PACKAGE)} ({top}) imports {name}")
    assert not wrong, "\n".join(wrong)


def test_lxml_is_spoken_by_the_mlt_xml_module_alone():
    speakers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(name.split(".")[0] == "lxml" for name in names):
                speakers.append(str(path.relative_to(PACKAGE)))
    assert sorted(set(speakers)) == ["timeline/mlt_xml.py"]
