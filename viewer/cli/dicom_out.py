"""The findings as DICOM files (SR + key images) and sending them to a PACS node: shared by
`ichview analyze --sr DIR --send NODE` and `ichview listen`."""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from viewer.core.atomic import write_atomic
from viewer.core.errors import IchviewError
from viewer.core.series import StudyTree
from viewer.report.findings import StudyFindings


def write_dicom_results(per_study: Sequence[StudyFindings], tree: StudyTree, out_dir: Path) -> list[Path]:
    """Write the SR and key images of every analysed study into `out_dir` (created); their paths."""
    from viewer.report.sr import build_dicom_results, read_sources, result_file_name

    paths_by_uid = {h.sop_instance_uid: h.path for st in tree.stacks() for h in st.slices}
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for study in per_study:
        if not study.stacks:
            continue
        uids = [uid for s in study.stacks for uid in s.sop_instance_uids]
        missing = [u for u in uids if u not in paths_by_uid]
        if missing:
            raise IchviewError(f"{len(missing)} analysed slices have no file to reference in the SR")
        results = build_dicom_results(study, read_sources(sorted({paths_by_uid[u] for u in uids})))
        for ds in results.datasets():
            target = out_dir / result_file_name(ds)
            written.append(write_atomic(target, lambda fh, ds=ds: ds.save_as(fh, enforce_file_format=True)))
    return written


def send_results(node_name: str, paths: Sequence[Path], *, config_path: Path | None = None) -> int:
    """C-STORE `paths` to the configured node `node_name`; the number sent."""
    from viewer.pacs.nodes import load_config
    from viewer.pacs.send import send_files

    config = load_config(config_path)
    node = config.node(node_name)
    done = 0
    for progress in send_files(node, config.local, list(paths)):
        done = progress.done
    return done


def sr_and_send(per_study: Sequence[StudyFindings], tree: StudyTree, *, sr_dir: Path | None, send: str | None) -> list[str]:
    """`analyze --sr/--send`: write the DICOM results (into a temporary folder when only sending)
    and send them; lines to print (no patient data)."""
    lines: list[str] = []
    if sr_dir is not None:
        paths = write_dicom_results(per_study, tree, sr_dir)
        lines.append(f"Wrote {len(paths)} DICOM result file(s) (SR and key images) to {sr_dir}")
        if send:
            lines.append(f"Sent {send_results(send, paths)} file(s) to PACS node {send!r}")
        return lines
    with tempfile.TemporaryDirectory(prefix="ichview-sr-") as tmp:
        paths = write_dicom_results(per_study, tree, Path(tmp))
        lines.append(f"Sent {send_results(send or '', paths)} DICOM result file(s) to PACS node {send!r}")
    return lines
