"""Shared test set-up: headless Qt, real-data paths, and no silent skips."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = (REPO_ROOT / ".." / "shared" / "data" / "real").resolve()
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """`../shared/data/real`; its absence is a failure, never a skip."""
    if not REAL_DATA.is_dir():
        pytest.fail(f"real test data not found at {REAL_DATA} (clone the repo beside shared/)")
    return REAL_DATA


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save screenshots and reports for a person to look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test fails the run: nothing may be silently skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = 1
