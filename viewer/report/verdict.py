"""The one verdict of a stack, from both readers (the only place a verdict is made; no Qt).

The readers:
- the first reader (ours): a 2.5D slice classifier trained on synthetic and inserted bleeds only;
  per-slice P(any) and the five RSNA subtypes, fast, but it flags slices on many real normal scans
  (skull base, vertex; see resources/model/MODEL_CARD.md);
- the second reader: BLAST-CT (Monteiro et al., Lancet Digital Health 2020), a 3D segmenter trained
  on 184 real annotated head CTs: IPH, extra-axial blood (EAH), IVH and perilesional oedema, with
  volumes in mL.

The rule (`VerdictRule`, its numbers stored in the first reader's weights metadata next to the
operating threshold, `ModelMetadata.extra["verdict_rule"]`, and these defaults when absent):
1. The second reader finds a blood component (IPH, EAH or IVH; oedema alone is not blood) of at
   least `second_min_ml` (1 mL): "Hemorrhage suspected".
2. Else, the first reader's maximum P(any) reaches `first_alone_threshold`, a level no slice of
   the real normal scans here reaches: "Hemorrhage suspected", said to be the first reader's alone.
3. Else: "No hemorrhage detected" (never "normal"). When the first reader flagged slices at its
   operating threshold that the second reader did not confirm, the report says the readers
   disagree, and where.
When the second reader did not run (not asked, refused, or still running) the verdict is the first
reader's alone at its operating threshold, and the text says it is provisional.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["VerdictRule", "DEFAULT_RULE", "Verdict", "decide", "FIRST_READER", "SECOND_READER"]

FIRST_READER = "ichview slice classifier"
SECOND_READER = "BLAST-CT"
SECOND_READER_CITATION = (
    "BLAST-CT: Monteiro M, Newcombe VFJ, et al. Lancet Digital Health 2020;2(6):e314-e322 "
    "(doi:10.1016/S2589-7500(20)30085-6)"
)


@dataclass(frozen=True)
class VerdictRule:
    """The numbers of the combination rule (see the module docstring)."""

    second_min_ml: float = 1.0
    first_alone_threshold: float = 0.9
    source: str = "default"  # "default" or where the numbers were read from

    @classmethod
    def from_metadata(cls, extra: dict[str, Any] | None) -> VerdictRule:
        """The rule stored in a weights file's `extra["verdict_rule"]`, else the defaults."""
        stored = (extra or {}).get("verdict_rule")
        if not isinstance(stored, dict):
            return cls()
        try:
            second = float(stored["second_min_ml"])
            first = float(stored["first_alone_threshold"])
        except (KeyError, TypeError, ValueError):
            return cls()
        if not (0.0 < second < 1000.0 and 0.0 < first <= 1.0):
            return cls()
        return cls(second, first, "weights metadata")


DEFAULT_RULE = VerdictRule()


@dataclass(frozen=True)
class Verdict:
    """A stack's verdict and who found what, in words."""

    suspected: bool | None  # None: not analysed
    by: tuple[str, ...]  # the readers whose finding decided "suspected" (empty when negative)
    first_reader_positive: bool | None  # at its operating threshold; None when not analysed
    second_reader_positive: bool | None  # a blood component >= second_min_ml; None when not run
    provisional: bool  # the second reader has not (or could not) read this stack
    disagreement: str  # "" when the readers agree (or only one read)
    basis: str  # one sentence: why this verdict


def decide(
    *,
    first_max_any: float | None,
    first_threshold: float | None,
    first_flagged: str,
    second_ran: bool,
    second_blood_ml: float,
    second_largest: str,
    rule: VerdictRule = DEFAULT_RULE,
) -> Verdict:
    """The rule. `first_flagged` says where the first reader reached its threshold ("slices 3-5");
    `second_blood_ml` is the largest blood component of the second reader in mL and
    `second_largest` describes it ("EAH 12.3 mL, slices 10-16")."""
    if first_max_any is None or first_threshold is None:
        return Verdict(None, (), None, None, False, "", "not analysed")
    first_pos = first_max_any >= first_threshold
    if not second_ran:
        basis = (
            f"{FIRST_READER} alone (second reader not run): max P(any) {first_max_any:.2f} "
            f"{'>=' if first_pos else '<'} its threshold {first_threshold:.2f}"
        )
        return Verdict(first_pos, (FIRST_READER,) if first_pos else (), first_pos, None, True, "", basis)
    second_pos = second_blood_ml >= rule.second_min_ml
    first_alone = first_max_any >= rule.first_alone_threshold
    if second_pos:
        by = (SECOND_READER, FIRST_READER) if first_pos else (SECOND_READER,)
        disagreement = "" if first_pos else (
            f"{SECOND_READER} found blood ({second_largest}); the {FIRST_READER} stayed below its threshold "
            f"(max P(any) {first_max_any:.2f})"
        )
        basis = f"{SECOND_READER} found blood: {second_largest}"
        return Verdict(True, by, first_pos, True, False, disagreement, basis)
    if first_alone:
        disagreement = (
            f"the {FIRST_READER} is confident (max P(any) {first_max_any:.2f} >= {rule.first_alone_threshold:.2f}, "
            f"{first_flagged}); {SECOND_READER} found no blood component of {rule.second_min_ml:g} mL or more"
        )
        basis = f"{FIRST_READER} alone, above {rule.first_alone_threshold:.2f}"
        return Verdict(True, (FIRST_READER,), True, False, False, disagreement, basis)
    disagreement = ""
    if first_pos:
        disagreement = (
            f"the {FIRST_READER} flagged {first_flagged} (max P(any) {first_max_any:.2f}); "
            f"{SECOND_READER} found no blood component of {rule.second_min_ml:g} mL or more there or elsewhere"
        )
    basis = (
        f"{SECOND_READER} found no blood component of {rule.second_min_ml:g} mL or more and the {FIRST_READER} "
        f"stayed below {rule.first_alone_threshold:.2f}"
    )
    return Verdict(False, (), first_pos, False, False, disagreement, basis)
