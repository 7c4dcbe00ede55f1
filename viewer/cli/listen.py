"""`ichview listen [--config FILE] [--port N] [--ae-title AE] [--allow AE ...] [--quiet-period S]
[--send NODE] [--weights FILE] [--device cpu|cuda] [--second-reader on|off] [--max-studies N]`

A storage SCP for pushed head CT: accepts CT images only from the allowed calling AE titles, waits
until a study has been quiet for the quiet period, analyses it headlessly (both readers, as
`ichview analyze`), writes a DICOM SR and key images into a new series of the same study and, when
a node is given (`--send` or listen.send_to in the PACS settings), C-STOREs them there.
One line per event on stdout, naming studies by a hash, never by patient. Ctrl-C or SIGTERM stops.
Exit codes: 0 stopped normally, 1 could not start (settings, port, model), 2 bad arguments.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from viewer.core.errors import IchviewError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ichview listen", description=(
        "Receive pushed CT studies, analyse each (research and triage aid, not a diagnosis) and send the "
        "DICOM SR and key images back to a PACS node."))
    p.add_argument("--config", type=Path, metavar="FILE", help="PACS settings (default: ~/.config/ichview/pacs.json)")
    p.add_argument("--port", type=int, help="port to listen on (default: local.port of the settings)")
    p.add_argument("--ae-title", help="our AE title (default: local.ae_title)")
    p.add_argument("--allow", action="append", metavar="AE", help="calling AE title allowed to push (repeatable)")
    p.add_argument("--quiet-period", type=float, metavar="S", help="seconds without a new image before a study counts as complete")
    p.add_argument("--send", metavar="NODE", help="node to send results to (default: listen.send_to)")
    p.add_argument("--results", type=Path, metavar="DIR", help="also keep the result files here")
    p.add_argument("--weights", type=Path, metavar="FILE")
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int)
    p.add_argument("--second-reader", choices=("on", "off"), default="on")
    p.add_argument("--max-studies", type=int, metavar="N", help="stop after N studies (default: run until stopped)")
    return p


def _analyser(args: argparse.Namespace, results_root: Path):  # type: ignore[no-untyped-def]
    """Load the readers once; return analyse(ReceivedStudy) -> result files."""
    from inference.predict import Engine
    from viewer.cli.analyze import analyze_tree, study_keys
    from viewer.cli.dicom_out import write_dicom_results
    from viewer.core.loading import open_paths
    from viewer.report.study_split import split_by_study
    from viewer.report.verdict import VerdictRule

    engine = Engine.load(args.weights, device=args.device, threads=args.threads)
    rule = VerdictRule.from_metadata(engine.metadata.extra)
    second = None
    if args.second_reader == "on":
        from inference.readers.blast_ct.segment import SecondReader

        second = SecondReader.load(None, device=args.device, threads=args.threads)

    def analyse(study):  # type: ignore[no-untyped-def]
        tree = open_paths([study.folder])
        if not tree.stacks():
            raise IchviewError("no image stack in the pushed study")
        findings = analyze_tree(tree, engine, second=second, rule=rule)
        per_study = [s for s in split_by_study(findings, study_keys(tree)) if s.stacks]
        if not per_study:
            raise IchviewError("no stack of the pushed study could be analysed")
        return write_dicom_results(per_study, tree, results_root / study.key)

    return analyse


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from viewer.pacs.cache import StudyCache
    from viewer.pacs.listen import Listening, ResultsSent, StudyAnalysed, StudyFailed, StudyReceived, listen
    from viewer.pacs.nodes import LocalAE, check_ae_title, default_cache_dir, load_config
    from viewer.pacs.storage_scp import StorageSCP

    try:
        config = load_config(args.config)
        local = config.local
        if args.port is not None or args.ae_title:
            local = LocalAE(args.ae_title or local.ae_title, args.port or local.port, local.host)
        allowed = tuple(check_ae_title(a, "--allow") for a in args.allow) if args.allow else config.listen.allowed_callers
        quiet = args.quiet_period if args.quiet_period is not None else config.listen.quiet_period_s
        send_name = args.send if args.send is not None else config.listen.send_to
        send_to = config.node(send_name) if send_name else None
        cache = StudyCache(Path(config.cache_folder) if config.cache_folder else default_cache_dir(),
                           config.cache_limit_mb * 1_000_000)
        results_root = args.results or cache.results
        scp = StorageSCP(local, allowed, cache, quiet_period_s=quiet)
        print("Loading the readers...", file=sys.stderr, flush=True)
        analyse = _analyser(args, results_root)
    except (IchviewError, OSError, RuntimeError) as exc:
        print(f"ichview listen: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for event in listen(scp, analyse, local=local, send_to=send_to, stop=stop, max_studies=args.max_studies):
            if isinstance(event, Listening):
                print(f"Listening as {event.ae_title} on port {event.port}; accepting CT from {', '.join(allowed)}", flush=True)
            elif isinstance(event, StudyReceived):
                print(f"study {event.study.key}: received {event.study.n_instances} images from {event.study.calling_ae}", flush=True)
            elif isinstance(event, StudyAnalysed):
                print(f"study {event.study.key}: analysed, {len(event.results)} result file(s)", flush=True)
            elif isinstance(event, ResultsSent):
                print(f"study {event.study.key}: sent {event.n_files} file(s) to {event.node}", flush=True)
            elif isinstance(event, StudyFailed):
                print(f"study {event.study.key}: {event.stage} failed: {event.message}", flush=True)
    except KeyboardInterrupt:
        pass
    except IchviewError as exc:
        print(f"ichview listen: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
