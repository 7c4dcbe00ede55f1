"""The layers import only downwards, no module imports itself round a circle, and the lower layers
never load Qt (nor the synthetic generator torch).

Layers, lowest first (DESIGN.md):  core  <-  inference (engine; synth; training)  <-  report  <-  faces
(cli, qt). Every `import` in the source counts, also one inside a function: an import deferred for
start-up speed is still a dependency.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("viewer", "inference")

# Layer of a module: the first rule whose prefix matches (longest prefixes first).
LAYER_OF: tuple[tuple[str, str], ...] = (
    ("inference.training", "training"),
    ("inference.synth", "synth"),
    ("inference", "engine"),
    ("viewer.core", "core"),
    ("viewer.report", "report"),
    ("viewer.analysis", "analysis"),
    ("viewer.pacs", "pacs"),
    ("viewer.cli", "cli"),
    ("viewer.qt", "qt"),
    ("viewer.__main__", "entry"),
    ("viewer.settings", "app"),
    ("viewer.app_logging", "app"),
    ("viewer.schemas", "core"),
    ("viewer", "base"),  # viewer/__init__.py: the version string only
)
# What each layer may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "core": {"base"},
    "synth": {"base", "engine_leaf"},
    "engine": {"base", "core"},
    "training": {"base", "core", "engine", "synth"},
    "report": {"base", "core", "engine"},
    "analysis": {"base", "core", "engine", "report"},
    "pacs": {"base", "core", "report", "analysis"},
    "app": {"base"},
    "cli": {"base", "core", "engine", "synth", "report", "analysis", "pacs", "app"},
    "qt": {"base", "core", "engine", "report", "analysis", "pacs", "app"},
    "entry": {"base", "cli", "qt", "training"},
}
# The generator (no torch) may use the engine's plain label list, nothing else of the engine.
ENGINE_LEAVES = {"inference.labels"}


def layer_of(module: str) -> str:
    for prefix, layer in LAYER_OF:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise KeyError(module)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_imports(root: Path) -> dict[str, set[str]]:
    """module -> the project modules it imports (resolved to existing modules)."""
    files = {module_name(p, root): p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        targets: set[str] = set()
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                names = [f"{base}.{a.name}" for a in node.names] + [base]
            for name in names:
                # The longest existing module that the name starts with.
                parts = name.split(".")
                while parts and ".".join(parts) not in files:
                    parts.pop()
                if parts and parts[0] in PACKAGES:
                    target = ".".join(parts)
                    if target != mod:
                        targets.add(target)
        graph[mod] = targets
    return graph


def forbidden_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, targets in sorted(graph.items()):
        src = layer_of(mod)
        for t in sorted(targets):
            dst = layer_of(t)
            if dst == src:
                continue
            ok = dst in ALLOWED[src] or ("engine_leaf" in ALLOWED[src] and t in ENGINE_LEAVES)
            # A package's __init__ is imported with any of its modules: only its own code counts.
            if not ok and not (t in ("viewer", "inference") and not _has_code(t)):
                bad.append(f"{mod} ({src}) imports {t} ({dst})")
    return bad


def _has_code(package: str) -> bool:
    init = REPO / package / "__init__.py"
    tree = ast.parse(init.read_text(encoding="utf-8"))
    return any(not isinstance(n, ast.Expr) for n in tree.body) and package != "viewer"


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            # A package's __init__ is not a real edge back to its own modules.
            if v.startswith(w + "."):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_every_module_has_a_layer() -> None:
    for mod in project_imports(REPO):
        layer_of(mod)


def test_layers_import_only_downwards() -> None:
    assert forbidden_imports(project_imports(REPO)) == []


def test_no_import_circles() -> None:
    assert import_cycles(project_imports(REPO)) == []


def test_the_checks_catch_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    """The same checks on a copy of the tree with one forbidden import and one circle added."""
    for pkg in PACKAGES:
        for p in (REPO / pkg).rglob("*.py"):
            dst = tmp_path / p.relative_to(REPO)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    clean = project_imports(tmp_path)
    assert forbidden_imports(clean) == [] and import_cycles(clean) == []
    windowing = tmp_path / "viewer" / "core" / "windowing.py"
    windowing.write_text(windowing.read_text() + "\n\ndef _f():\n    from viewer.report.findings import study_findings\n")
    scan = tmp_path / "viewer" / "core" / "scan.py"
    scan.write_text(scan.read_text() + "\n\ndef _g():\n    from viewer.core import series\n")
    graph = project_imports(tmp_path)
    assert "viewer.core.windowing (core) imports viewer.report.findings (report)" in forbidden_imports(graph)
    assert any({"viewer.core.scan", "viewer.core.series"} <= set(c) for c in import_cycles(graph))


# ----------------------------------------------------------------- what the lower layers load

CORE_MODULES = [
    "viewer.core.scan",
    "viewer.core.series",
    "viewer.core.geometry",
    "viewer.core.pixels",
    "viewer.core.loading",
    "viewer.core.volume",
    "viewer.core.windowing",
    "viewer.cli.info",
]
INFERENCE_MODULES = [
    "inference.results",
    "inference.preprocess",
    "inference.model",
    "inference.weights",
    "inference.gradcam",
    "inference.predict",
]
REPORT_MODULES = ["viewer.report.findings", "viewer.report.pdf", "viewer.report.json_report"]
SYNTH_MODULES = ["inference.synth"]


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "modules", [CORE_MODULES, INFERENCE_MODULES, REPORT_MODULES], ids=["core", "inference", "report"]
)
def test_no_qt(modules: list[str]) -> None:
    loaded = {m.split(".")[0] for m in _imported_after(modules)}
    assert not loaded & {"PySide6", "pyqtgraph", "PyQt5", "PyQt6"}


def test_the_engine_never_loads_training_code() -> None:
    loaded = _imported_after(INFERENCE_MODULES + REPORT_MODULES)
    assert not {m for m in loaded if m.startswith(("inference.training", "inference.synth"))}


def test_synth_imports_neither_qt_nor_torch() -> None:
    loaded = {m.split(".")[0] for m in _imported_after(SYNTH_MODULES)}
    assert not loaded & {"PySide6", "pyqtgraph", "torch"}
