"""The six RSNA 2019 labels, in model output order."""
from __future__ import annotations

LABELS: tuple[str, ...] = (
    "any",
    "epidural",
    "intraparenchymal",
    "intraventricular",
    "subarachnoid",
    "subdural",
)
SUBTYPES: tuple[str, ...] = LABELS[1:]
# RSNA 2019 weighted multi-label log loss weights.
LOSS_WEIGHTS: dict[str, float] = {"any": 2.0, **{s: 1.0 for s in SUBTYPES}}
