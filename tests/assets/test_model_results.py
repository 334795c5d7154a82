"""The metadata every model asset reports after training and registering."""

from __future__ import annotations

from lftiming_assets.models.results import registered_model_result
from lftiming_ml.models.registry import ModelVersionInfo


def test_registered_model_result_reports_version_time_and_finite_validation_metrics() -> None:
    info = ModelVersionInfo("locsnet", 3, "run-1", "champion")
    history = [{"loss": 1.0, "val_miou": 0.5}, {"loss": 0.4, "val_miou": 0.8, "val_auroc": float("nan")}]
    meta = registered_model_result(info, history, 12.34, profile="cpu", n_chips=5).metadata
    assert (meta["model"], meta["version"], meta["alias"], meta["mlflow_run_id"]) == ("locsnet", 3, "champion", "run-1")
    assert (meta["epochs_run"], meta["train_seconds"], meta["profile"], meta["n_chips"]) == (2, 12.3, "cpu", 5)
    assert meta["val_miou"] == 0.8 and "val_auroc" not in meta and "loss" not in meta
