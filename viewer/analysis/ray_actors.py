"""The per-study triage task on a Ray cluster (optional extra: `pip install ichview[cluster]`).

Each `TriageActor` loads both readers once and runs `viewer.analysis.triage.analyse_study` on the
studies it is given; the actors read the DICOM files from paths every node must see (a shared
file system); results (rows and report bytes) go back to the driver, which writes them. One actor
per CPU slot (`cpus_per_actor` each, torch using that many threads), or one per GPU when the cluster
has GPUs (then on CUDA).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from viewer.analysis.studies import StudyInput
from viewer.analysis.triage import ReaderConfig, StudyOutcome

__all__ = ["run_on_ray", "connect"]


def connect(address: str) -> None:
    """`auto` (a cluster started with `ray start`), `local` (start one on this machine) or an address."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise RuntimeError("Ray is not installed: pip install 'ichview[cluster]' (or pip install ray)") from exc
    if ray.is_initialized():
        return
    if address == "local":
        ray.init(include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)


def run_on_ray(
    todo: Sequence[StudyInput], config: ReaderConfig, address: str, *, cpus_per_actor: int = 1
) -> Iterator[tuple[StudyInput, StudyOutcome]]:
    """Yield (study, outcome) as the actors finish them (any order)."""
    import ray
    from ray.util import ActorPool

    connect(address)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus > 0:
        n_actors = gpus
        actor_cls = ray.remote(num_gpus=1, num_cpus=cpus_per_actor)(_TriageActor)
        actor_config = replace(config, device="cuda", threads=cpus_per_actor)
    else:
        n_actors = max(1, int(resources.get("CPU", 1)) // cpus_per_actor)
        actor_cls = ray.remote(num_cpus=cpus_per_actor)(_TriageActor)
        actor_config = replace(config, device="cpu", threads=cpus_per_actor)
    n_actors = max(1, min(n_actors, len(todo)))
    actors = [actor_cls.remote(actor_config) for _ in range(n_actors)]
    pool = ActorPool(actors)
    by_index = dict(enumerate(todo))
    try:
        for index, outcome in pool.map_unordered(lambda a, item: a.run.remote(*item), list(by_index.items())):
            yield by_index[index], outcome
    finally:
        for actor in actors:
            ray.kill(actor)


class _TriageActor:
    """Holds the readers of one Ray worker."""

    def __init__(self, config: ReaderConfig) -> None:
        from viewer.analysis.triage import load_readers

        self.readers = load_readers(config)

    def run(self, index: int, study: StudyInput) -> tuple[int, StudyOutcome]:
        from viewer.analysis.triage import run_study

        return index, run_study(study, self.readers)
