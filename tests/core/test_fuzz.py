"""Seeded fuzzing of real files: one tag, one header byte, or the file's length changed per case.

Every case copies four slices of the real GE series into its own folder, changes one file, and
checks: open_paths / load_stack raise nothing but IchviewError; the case takes bounded time; the
info JSON is strict JSON, UTF-8 and schema-valid, and the info text carries no control character;
the untouched slices load with their HU unchanged; the changed slice is decoded identically,
warned about (inconsistent_values, decode_failed, mixed_patient or any warning the clean stack
lacks) or skipped with a reason. Byte changes are made in the header (up to and including the
Pixel Data element header): a changed pixel value is undetectable by design (DICOM has no
checksum).

Default: ICHVIEW_FUZZ_CASES=150 cases (~10 s). A longer run:
    ICHVIEW_FUZZ_CASES=3000 .venv/bin/python -m pytest -q -s tests/core/test_fuzz.py
prints the figures (cases by kind, outcomes, worst time per case); ICHVIEW_FUZZ_SEED picks
another seed.
"""
from __future__ import annotations

import io
import json
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import jsonschema
import numpy as np
import pydicom
import pydicom.config
import pytest

from viewer.cli.info import SCHEMA_PATH, dumps_json, write_text
from viewer.core import decode_pool
from viewer.core.errors import IchviewError
from viewer.core.loading import load_stack, open_paths

CASES = int(os.environ.get("ICHVIEW_FUZZ_CASES", "150"))
SEED = int(os.environ.get("ICHVIEW_FUZZ_SEED", "20261204"))
MAX_SECONDS_PER_CASE = 10.0  # generous: two cores shared by four engineers; worst seen ~0.3 s
SOURCES = ("11.dcm", "12.dcm", "13.dcm", "14.dcm")
VICTIM = "12.dcm"
FLAGGING_CODES = {"inconsistent_values", "decode_failed", "mixed_patient"}

TAGS: dict[str, str] = {
    "ImagePositionPatient": "DS3",
    "ImageOrientationPatient": "DS6",
    "PixelSpacing": "DS2",
    "SliceThickness": "DS",
    "GantryDetectorTilt": "DS",
    "RescaleSlope": "DS",
    "RescaleIntercept": "DS",
    "WindowCenter": "DS",
    "WindowWidth": "DS",
    "SliceLocation": "DS",
    "Rows": "US",
    "Columns": "US",
    "BitsAllocated": "US",
    "BitsStored": "US",
    "HighBit": "US",
    "PixelRepresentation": "US",
    "SamplesPerPixel": "US",
    "PixelPaddingValue": "SS",
    "NumberOfFrames": "IS",
    "InstanceNumber": "IS",
    "PhotometricInterpretation": "CS",
    "Modality": "CS",
    "ImageType": "CS",
    "PatientID": "LO",
    "PatientName": "PN",
    "SeriesDescription": "LO",
    "StudyInstanceUID": "UI",
    "SeriesInstanceUID": "UI",
    "SOPInstanceUID": "UI",
    "SOPClassUID": "UI",
}
_NUMBERS = ["nan", "inf", "-inf", "0", "-0", "1e308", "-1e308", "1e-300", "", "abc", "1\\2", "2", "-1024",
            "0.5", "1e6", "40000", "  7 ", "+1", "1e", "00040"]
_US = [0, 1, 2, 7, 8, 12, 15, 16, 17, 24, 32, 64, 255, 256, 511, 513, 1024, 32767, 65535]
_TEXT = ["", "\x1b[31mRED\x1b[0m", "line\nPatient FAKE (ID 0)", "Müller^Jürgen", "x" * 64, "MONOCHROME1",
         "MONOCHROME3", "RGB", "PALETTE COLOR", "\u202eevil", "1.2.3", "1.2.840.10008.5.1.4.1.1.2", "ORIGINAL\\LOCALIZER",
         "MR", "CT", "\x00\x00"]


def _value(rng: random.Random, kind: str) -> object:
    if kind.startswith("DS"):
        n = int(kind[2:] or 1)
        parts = [rng.choice(_NUMBERS) if rng.random() < 0.6 else repr(rng.uniform(-1e3, 1e3)) for _ in range(n)]
        if rng.random() < 0.3:  # one value changed among sane ones, or a wrong count
            parts = [repr(rng.uniform(-1, 1)) for _ in range(n)]
            parts[rng.randrange(n)] = rng.choice(_NUMBERS)
            if rng.random() < 0.3:
                parts = parts[:-1]
        return "\\".join(parts)
    if kind in ("US", "SS"):
        value = rng.choice(_US) if rng.random() < 0.8 else rng.randrange(65536)
        return value - 65536 if kind == "SS" and value > 32767 else value
    if kind == "IS":
        return rng.choice(["0", "-1", "1", "2", "1000000", "1A", "", "99999999999"])
    return rng.choice(_TEXT)


def _mutate_tag(rng: random.Random, path: Path) -> str:
    keyword = rng.choice(sorted(TAGS))
    ds = pydicom.dcmread(path)
    tag = pydicom.datadict.tag_for_keyword(keyword)
    if rng.random() < 0.12:
        if tag in ds:
            del ds[tag]
        what = f"{keyword} deleted"
    else:
        kind = TAGS[keyword]
        vr = {"DS2": "DS", "DS3": "DS", "DS6": "DS"}.get(kind, kind)
        value = _value(rng, kind)
        ds[tag] = pydicom.DataElement(tag, vr, value)
        what = f"{keyword}={value!r}"
    ds.save_as(path)
    return what


def _pixel_value_start(path: Path) -> int:
    with open(path, "rb") as fh:
        data = fh.read()
    i = data.rfind(b"\xe0\x7f\x10\x00")
    return i + 12 if i > 0 else len(data)


def _mutate_bytes(rng: random.Random, path: Path) -> str:
    end = _pixel_value_start(path)
    data = bytearray(path.read_bytes())
    changes = []
    for _ in range(rng.choice((1, 1, 1, 2, 4))):
        at = rng.randrange(0, end)
        data[at] = rng.choice((0, 0xFF, rng.randrange(256), data[at] ^ (1 << rng.randrange(8))))
        changes.append(at)
    path.write_bytes(bytes(data))
    return f"bytes at {changes}"


def _truncate(rng: random.Random, path: Path) -> str:
    size = path.stat().st_size
    at = rng.choice((rng.randrange(size), rng.randrange(max(1, size - 600_000), size), size - 1, 132, 0))
    os.truncate(path, at)
    return f"cut at {at}"


KINDS = {"tag": _mutate_tag, "byte": _mutate_bytes, "truncate": _truncate}
WEIGHTS = {"tag": 6, "byte": 3, "truncate": 1}


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module", autouse=True)
def _stop_worker_processes():
    yield
    decode_pool.shutdown_pool()


def _hu_by_name(tree) -> tuple[dict[str, np.ndarray], dict[str, set[str]], set[str]]:
    """HU per file name, the warning codes of its volume, and the files of volumes that failed."""
    hu: dict[str, np.ndarray] = {}
    codes: dict[str, set[str]] = {}
    missing: set[str] = set()
    for stack in tree.stacks():
        try:
            volume = load_stack(stack, workers=1)
        except IchviewError:
            missing.update(h.path.name for h in stack.slices)
            continue
        for k, h in enumerate(stack.slices):
            hu[h.path.name] = volume.hu[k]
            codes[h.path.name] = {w.code for w in volume.warnings}
            if k in volume.missing_slices:
                missing.add(h.path.name)
    return hu, codes, missing


def _strict(token: str) -> None:
    raise ValueError(f"non-standard JSON number {token}")


def test_fuzz_single_changes_of_real_files(real_data: Path, tmp_path: Path, schema: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pydicom.config.settings, "writing_validation_mode", pydicom.config.IGNORE)
    clean = tmp_path / "clean"
    clean.mkdir()
    for name in SOURCES:
        shutil.copyfile(real_data / "ge_head_ct_tilted" / name, clean / name)
    ref_hu, ref_codes, _ = _hu_by_name(open_paths([clean]))
    assert sorted(ref_hu) == sorted(SOURCES)

    rng = random.Random(SEED)
    kinds: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
    failures: list[str] = []
    worst = (0.0, "")
    for case in range(CASES):
        kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        folder = tmp_path / f"case{case}"
        folder.mkdir()
        for name in SOURCES:
            if name != VICTIM:
                os.link(clean / name, folder / name)
        shutil.copyfile(clean / VICTIM, folder / VICTIM)
        try:
            what = KINDS[kind](rng, folder / VICTIM)
        except Exception as exc:  # noqa: BLE001 - pydicom would not write this value: not a case
            outcomes["not written"] += 1
            shutil.rmtree(folder)
            continue
        kinds[kind] += 1
        label = f"case {case} ({kind}: {what})"
        start = time.perf_counter()
        try:
            tree = open_paths([folder], workers=1)
            text, _ = dumps_json(tree)
            jsonschema.validate(json.loads(text.encode("utf-8").decode("utf-8"), parse_constant=_strict), schema)
            out = io.StringIO()
            write_text(tree, out)
            assert not any(ch in out.getvalue() for ch in "\x1b\r\x07\x00"), "control character in the text"
            hu, codes, missing = _hu_by_name(tree)
        except Exception as exc:  # noqa: BLE001 - anything escaping is a finding
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
            outcomes["failure"] += 1
            by_kind[kind]["failure"] += 1
            continue
        elapsed = time.perf_counter() - start
        worst = max(worst, (elapsed, label))
        skipped = {s.path.name: s.reason for s in tree.skipped}
        problems = []
        for name in SOURCES:
            if name == VICTIM:
                continue
            if name in hu and name not in missing:
                if not np.array_equal(hu[name], ref_hu[name]):
                    problems.append(f"untouched {name} changed")
            elif not (name in skipped and "copy of" in skipped[name]):  # displaced by a changed SOP UID
                problems.append(f"untouched {name} not loaded ({skipped.get(name)})")
        if VICTIM in skipped:
            outcome = "skipped with a reason" if skipped[VICTIM].strip() else "skipped without a reason"
        elif VICTIM in missing:
            outcome = "warned (gap)"
        elif VICTIM in hu and np.array_equal(hu[VICTIM], ref_hu[VICTIM]):
            outcome = "decoded identically"
        elif VICTIM in hu and (codes[VICTIM] & FLAGGING_CODES or codes[VICTIM] - ref_codes[VICTIM]):
            outcome = "warned"
        else:
            outcome = "silently different" if VICTIM in hu else "lost"
        if outcome in ("silently different", "lost", "skipped without a reason"):
            problems.append(outcome)
        if elapsed > MAX_SECONDS_PER_CASE:
            problems.append(f"took {elapsed:.1f} s")
        if problems:
            failures.append(f"{label}: {'; '.join(problems)}")
            outcome = "failure"
        outcomes[outcome] += 1
        by_kind[kind][outcome] += 1
        shutil.rmtree(folder)
    summary = (
        f"fuzz seed {SEED}: {sum(kinds.values())} cases {dict(kinds)}; outcomes {dict(outcomes)}; "
        f"by kind { {k: dict(v) for k, v in by_kind.items()} }; worst {worst[0]:.3f} s ({worst[1]})"
    )
    print(summary)
    assert not failures, "\n".join(failures[:20]) + f"\n{len(failures)} failures; {summary}"
