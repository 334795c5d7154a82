"""The simulated training corpora: chip names, reuse of cached chips, the one split by chip."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import lftiming_ml.sim.corpus as corpus_module
from lftiming_ml.classification.config import CLASSIFICATION_CORPUS
from lftiming_ml.corpus import CorpusConfig, corpus_chips, n_validation_chips, split_by_chip
from lftiming_ml.sim.corpus import simulate_corpus
from lftiming_ml.segmentation.config import SEGMENTATION_CORPUS
from lftiming_ml.wells.detector_config import WELL_DETECTOR_CORPUS


def test_model_corpora_keep_the_chip_folders_already_cached() -> None:
    """The names the three per-model simulators gave their chips (their caches are reused)."""
    assert [c.chip_id for c in corpus_chips(WELL_DETECTOR_CORPUS)[:2]] == ["wells-standard-s10000-f2-t12",
                                                                         "wells-hard-s10001-f2-t12"]
    assert [c.chip_id for c in corpus_chips(SEGMENTATION_CORPUS)[:2]] == ["seg-standard-s20000", "seg-hard-s20001"]
    assert [c.chip_id for c in corpus_chips(CLASSIFICATION_CORPUS)] == [
        "cls-standard-s40000-m25", "cls-hard-s40001-m25", "cls-standard-s40002-m25", "cls-hard-s40003-m25"]
    assert corpus_chips(CLASSIFICATION_CORPUS.replace(target_mitosis_prob=None))[0].chip_id == "cls-standard-s40000"
    sizes = [(c.n_chips, c.n_fields, c.n_frames, c.target_mitosis_prob)
             for c in (WELL_DETECTOR_CORPUS, SEGMENTATION_CORPUS, CLASSIFICATION_CORPUS)]
    assert sizes == [(10, 2, 12, None), (10, 1, 12, None), (4, 1, 72, 0.25)]


def test_chips_are_deterministic_cycle_presets_and_count_seeds_up() -> None:
    corpus = SEGMENTATION_CORPUS.replace(presets=("easy", "standard", "hard"), n_chips=7, first_seed=20_100)
    chips = corpus_chips(corpus)
    assert chips == corpus_chips(corpus)
    assert [c.seed for c in chips] == list(range(20_100, 20_107))
    assert [c.preset for c in chips] == ["easy", "standard", "hard"] * 2 + ["easy"]
    assert len({c.chip_id for c in chips}) == 7


@pytest.mark.parametrize("n", range(2, 61))
def test_split_puts_every_chip_on_exactly_one_side(n: int) -> None:
    chips = [Path(f"chip{i}") for i in range(n)]
    train, val = split_by_chip(chips)
    assert train and val and train + val == chips  # whole chips, each once, the last ones validate
    assert len(val) == n_validation_chips(n) == -(-n // 5)


def test_split_keeps_the_sizes_the_defaults_and_measurements_use() -> None:
    assert {n: n_validation_chips(n) for n in (2, 4, 10, 12, 50)} == {2: 1, 4: 1, 10: 2, 12: 3, 50: 10}
    with pytest.raises(ValueError, match="cannot be split"):
        split_by_chip([Path("only")])


def test_simulated_chip_folders_split_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus_module, "_simulate_chip", lambda path, *a, **k: (path / "gt").mkdir(parents=True))
    dirs = simulate_corpus(SEGMENTATION_CORPUS.replace(n_chips=5), tmp_path)
    train, val = split_by_chip(dirs)
    assert val == [tmp_path / "seg-standard-s20004"] and tmp_path / "seg-standard-s20004" not in train


def test_simulate_reuses_chips_already_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = CLASSIFICATION_CORPUS.replace(n_chips=3)
    done = tmp_path / "cls-hard-s40001-m25" / "gt"
    done.mkdir(parents=True)
    (done / "wells.parquet").touch()
    calls: list[tuple] = []
    monkeypatch.setattr(corpus_module, "_simulate_chip", lambda *a, **k: calls.append((*a, k)))
    dirs = simulate_corpus(corpus, tmp_path)
    assert dirs == [tmp_path / c.chip_id for c in corpus_chips(corpus)]
    assert [(c[0].name, c[1], c[2], c[3], c[4], c[5]) for c in calls] == [
        ("cls-standard-s40000-m25", "standard", 40_000, 1, 72, 0.25), ("cls-standard-s40002-m25", "standard", 40_002, 1, 72, 0.25)]


def test_config_keeps_seed_ranges_and_names_checked() -> None:
    with pytest.raises(ValidationError, match="seed floor 20000"):
        SEGMENTATION_CORPUS.replace(first_seed=10_500)  # the well detector's range
    with pytest.raises(ValidationError, match="greater than or equal to 10000"):
        SEGMENTATION_CORPUS.replace(seed_floor=0, first_seed=301)  # a benchmark's seed
    with pytest.raises(ValidationError, match="must name"):
        SEGMENTATION_CORPUS.replace(chip_id="seg-{preset}")
    with pytest.raises(ValidationError, match="may use only"):
        SEGMENTATION_CORPUS.replace(chip_id="seg-{seed}-{size}")
    with pytest.raises(ValidationError, match="Extra inputs"):
        CorpusConfig(chip_id="x-{seed}", n_chips=2, first_seed=10_000, n_frames=2, frame_step=2)
    assert SEGMENTATION_CORPUS.replace(n_chips=3).n_chips == 3 and SEGMENTATION_CORPUS.n_chips == 10
