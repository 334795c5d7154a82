"""The bootstrap round's pieces that need no trained model: the plan's checks, which wells the
simulated reviewer proofreads (queue or random), what it writes, and the promotion rule."""

from __future__ import annotations

import pytest

from lftiming_assets.bootstrap import RoundPlan, decide, select_wells, simulated_review
from lftiming_ml.annotations.review_wells import wells_to_review
from lftiming_ml.annotations.store import read_manifest, read_well
from lftiming_ml.store.layout import ChipStore


def test_plan_refuses_what_a_round_cannot_do() -> None:
    with pytest.raises(ValueError, match="at least one chip"):
        RoundPlan(chips=(), held_out=())
    with pytest.raises(ValueError, match="fine-tunes one or more"):
        RoundPlan(chips=("c",), held_out=(), models=("well_detector",))
    with pytest.raises(ValueError, match="cannot be 'champion'"):
        RoundPlan(chips=("c",), held_out=(), alias="champion")
    with pytest.raises(ValueError, match="'queue' or 'random'"):
        RoundPlan(chips=("c",), held_out=(), review_order="best")
    with pytest.raises(ValueError, match="epochs 0"):
        RoundPlan(chips=("c",), held_out=(), epochs=0)


def test_queue_order_takes_the_most_suspicious_wells_and_random_is_seeded(chip: ChipStore) -> None:
    ranked = wells_to_review(chip)
    assert len(ranked) >= 5
    queue = select_wells([chip], 3, "queue", seed=0)[chip.chip_id]
    assert queue == [w.well for w in sorted(ranked, key=lambda w: (-w.score, w.well))[:3]]
    first = select_wells([chip], 3, "random", seed=0)[chip.chip_id]
    assert first == select_wells([chip], 3, "random", seed=0)[chip.chip_id] and len(set(first)) == 3
    assert {w.well for w in ranked} >= set(first)
    assert any(select_wells([chip], 3, "random", seed=s)[chip.chip_id] != first for s in range(1, 6))


def test_simulated_reviewer_writes_the_truth_of_its_wells_only(chip: ChipStore) -> None:
    before = read_manifest(chip).version
    wells = select_wells([chip], 2, "queue", seed=0)[chip.chip_id]
    version = simulated_review(chip, wells)
    assert version != before and sorted(read_manifest(chip).wells) == sorted(wells)
    assert {s.provenance for w in wells for s in read_well(chip, w).sources} == {"simulator"}
    assert simulated_review(chip, []) == version  # nothing to proofread: the same version


def test_promotion_needs_the_models_own_score_better_and_no_other_much_worse() -> None:
    champion = {"segmentation mIoU": 0.80, "tracking MOTA": 0.95, "cell type accuracy": 0.97,
                "apoptosis accuracy": 0.98, "contact FN rate": 0.05}
    better = {**champion, "segmentation mIoU": 0.85, "tracking MOTA": 0.945, "contact FN rate": 0.055}
    ok, reasons = decide(["locsnet"], champion, better)
    assert ok and any("segmentation mIoU: candidate 0.8500" in r for r in reasons)
    ok, reasons = decide(["locsnet"], champion, {**better, "contact FN rate": 0.07})
    assert not ok and any("contact FN rate" in r and "worse by more than" in r for r in reasons)
    ok, reasons = decide(["locsnet"], champion, {**champion, "segmentation mIoU": 0.80})
    assert not ok and any("not better" in r for r in reasons)
    ok, _ = decide(["locsnet", "celltype_classifier"], champion, {**better, "cell type accuracy": 0.96})
    assert not ok


def test_annotate_restore_from_the_command_line(chip: ChipStore, data_root, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    from lftiming_assets import cli

    monkeypatch.setenv("LFTIMING_DATA", str(data_root))
    wells = sorted(w.well for w in wells_to_review(chip))
    assert cli.main(["annotate", "--chip", chip.chip_id, "--from", "simulator", "--wells", *wells[:2]]) == 0
    first = read_manifest(chip).version
    assert cli.main(["annotate", "--chip", chip.chip_id, "--from", "simulator"]) == 0
    assert len(read_manifest(chip).wells) == len(wells)
    capsys.readouterr()
    assert cli.main(["annotate", "--chip", chip.chip_id, "--restore", first[:10]]) == 0
    assert f"annotations version {first} is current again (2 wells)" in capsys.readouterr().out
    assert read_manifest(chip).version == first
    with pytest.raises(SystemExit, match="has no annotations version 'deadbeefdead'"):
        cli.main(["annotate", "--chip", chip.chip_id, "--restore", "deadbeefdead"])
    with pytest.raises(SystemExit, match="takes no --from or --wells"):
        cli.main(["annotate", "--chip", chip.chip_id, "--restore", first[:10], "--from", "simulator"])
    with pytest.raises(SystemExit, match="give --from"):
        cli.main(["annotate", "--chip", chip.chip_id])
    assert read_manifest(chip).version == first


def test_a_held_out_chip_without_truth_is_refused_before_anything_runs(chip: ChipStore, data_root,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from lftiming_assets.bootstrap import bootstrap_round

    monkeypatch.setenv("LFTIMING_DATA", str(data_root))
    shutil.rmtree(chip.raw_dir / "gt")
    before = read_manifest(chip).version
    with pytest.raises(ValueError, match=f"held-out chips {chip.chip_id} have no ground truth"):
        bootstrap_round(RoundPlan(chips=(chip.chip_id,), held_out=(chip.chip_id,)), log=lambda line: None)
    assert read_manifest(chip).version == before
