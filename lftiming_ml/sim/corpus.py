"""Simulate a training corpus (``lftiming_ml.corpus.CorpusConfig``): the chips missing under a
root, reusing those already there."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from lftiming_ml.corpus import CorpusConfig, corpus_chips
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config
from lftiming_ml.truth.files import WELLS, has_truth


def _simulate_chip(path: Path, preset: str, seed: int, n_fields: int, n_frames: int, mitosis_prob: float | None,
                   field_workers: int | None) -> None:
    config = preset_config(preset, seed=seed, n_fields=n_fields, n_frames=n_frames)
    if mitosis_prob is not None:
        config = config.model_copy(update={"biology": config.biology.model_copy(update={"mitosis_prob": mitosis_prob})})
    simulate_chip(path, config, overwrite=True, workers=field_workers)


def simulate_corpus(corpus: CorpusConfig, root: Path | str, *, workers: int = 1) -> list[Path]:
    """The chip folders of ``corpus`` under ``root``, in ``corpus_chips`` order, simulating
    those not there yet (a folder with ``gt/wells.parquet`` is reused).

    ``workers`` > 1 simulates up to that many chips at a time in spawned processes, one
    field at a time each; otherwise chips are simulated one after the other, each with its
    fields in parallel (``simulate_chip``'s default). The chips do not depend on ``workers``.
    """
    root = Path(root)
    chips = [(root / c.chip_id, c.preset, c.seed) for c in corpus_chips(corpus)]
    todo = [(path, preset, seed, corpus.n_fields, corpus.n_frames, corpus.target_mitosis_prob)
            for path, preset, seed in chips if not has_truth(path, WELLS)]
    if workers <= 1 or len(todo) <= 1:
        for args in todo:
            _simulate_chip(*args, field_workers=None)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=get_context("spawn")) as pool:
            list(pool.map(_simulate_chip, *zip(*todo), [1] * len(todo)))
    return [path for path, _, _ in chips]


__all__ = ["simulate_corpus"]
