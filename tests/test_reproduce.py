"""benchmarks/reproduce.py: the bundles go into a fresh store (never the user's), a models
directory missing a bundle is refused by name, and --record-cards writes the held-out
figures into each card without breaking its checksums. Uses the tiny re-ID bundle of
tests/models/test_bundled.py; trains and benchmarks nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import lftiming_ml.bundled
from lftiming_ml.models.card import read_card, verify_card
from lftiming_ml.models.registry import load_by_alias
from tests.models.test_bundled import _shipped

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import reproduce  # noqa: E402
from reproduce_summary import Figure, Target  # noqa: E402


def test_a_missing_bundle_is_named(tmp_path: Path) -> None:
    _shipped(tmp_path / "models")
    with pytest.raises(SystemExit, match="no bundle for well_detector, locsnet"):
        reproduce.register_bundles(tmp_path / "models", tmp_path / "store")


def test_bundles_register_in_the_given_store_and_cards_get_the_figures(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lftiming_ml.bundled, "PIPELINE_MODELS", ("reid_embedding",))
    models = tmp_path / "models"
    _shipped(models)
    store = tmp_path / "store"
    store.mkdir()
    uri, identity = reproduce.register_bundles(models, store)
    assert uri == f"sqlite:///{store / 'mlflow.db'}" and (store / "mlflow.db").is_file()
    _, _, info = load_by_alias(tracking_uri=uri, model_name="reid_embedding")
    assert info.version == identity["reid_embedding"]["version"] == 1
    key = reproduce.models_key(identity)
    assert key == reproduce.models_key(identity) and len(key) == 12

    figures = [Figure("tracking_gt", "MOTA on true detections, overall", 0.99, (0.98, 1.0), Target(">=", 0.97), True,
                      ("reid_embedding",)),
               Figure("wells", "well recall", 1.0, (0.98, 1.0), Target(">=", 0.995), True, ("well_detector",))]
    records = [{"stage": "tracking_gt", "json": "/r/tracking_gt.json", "command": "python benchmarks/tracking.py"},
               {"stage": "wells", "json": "/r/wells.json", "command": "python benchmarks/wells.py"}]
    written = reproduce.record_cards(models, records, figures, "python benchmarks/reproduce.py --record-cards")
    assert written == ["reid_embedding/tracking_gt"]
    held = verify_card(models / "reid_embedding")["held_out"]
    assert set(held) == {"tracking_gt"}
    entry = held["tracking_gt"]
    assert entry["command"] == "python benchmarks/reproduce.py --record-cards"
    assert entry["scores"]["MOTA on true detections, overall"] == {"value": 0.99, "ci95": [0.98, 1.0],
                                                                   "target": "≥ 0.97", "status": "met"}
    assert read_card(models / "reid_embedding")["files"] == identity["reid_embedding"]["files_sha256"]
    assert reproduce.models_key(identity) == key  # writing the card changes no bundle file, so no key
