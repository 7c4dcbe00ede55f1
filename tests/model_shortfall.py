"""Known shortfalls of the shipped model, kept visible instead of deleted or skipped.

A test that checks what users need from the *model* (a clean head reads negative, N lands in the
bleed) raises `ModelShortfall` from `expect_model` when the shipped weights fall short. Such a test
is marked `xfail(raises=ModelShortfall, strict=True)`: any other failure (the viewer, the report,
the export) still fails the run, and the day the model meets the expectation the strict marker
turns the pass into a failure, so the marker must be removed and the check counts again.
"""
from __future__ import annotations

import pytest


class ModelShortfall(AssertionError):
    """The shipped model does not (yet) do what the test expects of it; see MODEL_CARD.md."""


def expect_model(condition: bool, message: str) -> None:
    """Assert something of the model's output, raising ModelShortfall when it is not so."""
    if not condition:
        raise ModelShortfall(message)


KNOWN_SHORTFALL = pytest.mark.xfail(
    raises=ModelShortfall,
    strict=True,
    reason="shipped model scores clean slices near its operating threshold (0.19, set by the real-background "
    "held-out part) and real-scanner brightening above it (resources/model/MODEL_CARD.md; issue 4)",
)
