"""The one-line reason `info` and `analyze` give when a path holds no image series."""
from __future__ import annotations

from collections.abc import Sequence

from viewer.core.series import StudyTree


def no_series_reason(tree: StudyTree, paths: Sequence[str], *, command: str) -> str:
    """"ichview COMMAND: no DICOM image series found in ..." with the three commonest skip reasons."""
    where = ", ".join(paths)
    if not tree.skipped:
        return f"ichview {command}: no DICOM image series found in {where} (no files there)"
    reasons: dict[str, int] = {}
    for skipped in tree.skipped:
        reasons[skipped.reason] = reasons.get(skipped.reason, 0) + 1
    top = "; ".join(f"{n} x {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
    return f"ichview {command}: no DICOM image series found in {where} ({len(tree.skipped)} files skipped: {top})"
