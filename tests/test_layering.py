"""The study core, inference and the synthetic generator never import Qt (and synth no torch)."""
from __future__ import annotations

import subprocess
import sys

import pytest

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
SYNTH_MODULES = ["inference.synth"]


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {line.split(".")[0] for line in out.stdout.split()}


@pytest.mark.parametrize("modules", [CORE_MODULES, INFERENCE_MODULES], ids=["core", "inference"])
def test_no_qt(modules: list[str]) -> None:
    loaded = _imported_after(modules)
    assert not loaded & {"PySide6", "pyqtgraph", "PyQt5", "PyQt6"}


def test_synth_imports_neither_qt_nor_torch() -> None:
    loaded = _imported_after(SYNTH_MODULES)
    assert not loaded & {"PySide6", "pyqtgraph", "torch"}
