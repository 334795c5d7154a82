"""MLflow runs as users expect: opened before training (running, with params and per-epoch
metrics while it trains), FAILED when training raises, experiments typed "Machine learning",
two versions compared side by side, and the lookup of a version's run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from lftiming_ml.models.registry import (
    EXPERIMENT_KIND,
    ModelNotRegisteredError,
    compare_versions,
    log_held_out,
    log_and_register,
    registry_exists,
    training_run,
    version_runs,
)


@pytest.fixture()
def tracking_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def _weights() -> dict[str, torch.Tensor]:
    return {"w": torch.ones(2, 2)}


def test_the_run_is_live_while_training(tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    seen = []  # what a user opening MLflow would see after each epoch

    def train_one_epoch(epoch: int, log) -> None:
        log(epoch, {"loss": 1.0 / (epoch + 1), "val_miou": 0.5 + epoch / 10})
        run = client.get_run(live.run_id)
        history = client.get_metric_history(live.run_id, "loss")
        seen.append((run.info.status, run.data.params.get("lr"), [m.step for m in history]))

    with training_run(tracking_uri=tracking_uri, experiment="locsnet", model_name="locsnet", params={"lr": 0.001},
                      run_name="live", flush_seconds=0.0) as live:
        told = []
        log = live.epoch_logger(lambda epoch, row: told.append(epoch))
        for epoch in range(3):
            train_one_epoch(epoch, log)
        info = live.finish(state_dict=_weights(), config={"kind": "x"}, params={"n_chips": 4},
                           metrics={"val_miou": 0.7}, alias="champion")

    assert seen == [("RUNNING", "0.001", [0]), ("RUNNING", "0.001", [0, 1]), ("RUNNING", "0.001", [0, 1, 2])]
    assert told == [0, 1, 2]  # the engine's own log_fn still sees every epoch
    run = client.get_run(info.run_id)
    assert run.info.status == "FINISHED" and run.data.params == {"lr": "0.001", "n_chips": "4"}
    assert [m.step for m in client.get_metric_history(info.run_id, "val_miou")][-1] == 2  # final metrics: last epoch
    assert info.version == 1 and client.get_model_version_by_alias("locsnet", "champion").run_id == info.run_id
    experiment = client.get_experiment_by_name("locsnet")
    assert experiment.tags[EXPERIMENT_KIND[0]] == EXPERIMENT_KIND[1] == "custom_model_development"


def test_a_failed_training_leaves_a_failed_run_and_no_version(tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    with pytest.raises(FloatingPointError):
        with training_run(tracking_uri=tracking_uri, experiment="celltype", model_name="celltype") as live:
            live.log_epoch(0, {"loss": 1.0})
            raise FloatingPointError("non-finite loss")
    run = client.get_run(live.run_id)
    assert run.info.status == "FAILED"
    assert [m.value for m in client.get_metric_history(live.run_id, "loss")] == [1.0]  # what was logged stays
    assert client.search_model_versions("name='celltype'") == []


def test_an_older_experiment_gets_the_kind_tag(tracking_uri: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri)
    client.create_experiment("old", artifact_location=(tmp_path / "artifacts").as_uri())  # not ./mlruns
    log_and_register(tracking_uri=tracking_uri, experiment="old", model_name="old", state_dict=_weights(),
                     config={}, params={}, metrics={"m": 1.0})
    assert client.get_experiment_by_name("old").tags[EXPERIMENT_KIND[0]] == EXPERIMENT_KIND[1]


def test_compare_two_versions_side_by_side(tracking_uri: str) -> None:
    for lr, miou in ((0.001, 0.8), (0.0005, 0.85)):
        log_and_register(tracking_uri=tracking_uri, experiment="locsnet", model_name="locsnet", state_dict=_weights(),
                         config={}, params={"lr": lr, "epochs": 5}, metrics={"val_miou": miou},
                         history=[{"loss": 1.0}, {"loss": 0.5}])
    table = compare_versions(tracking_uri=tracking_uri, model_name="locsnet", versions=(1, 2))
    assert list(table.columns) == ["section", "name", "v1", "v2", "differs"]
    params = table[table["section"] == "param"].set_index("name")
    assert list(params.index) == ["lr"]  # only what differs
    assert params.loc["lr", ["v1", "v2", "differs"]].tolist() == ["0.001", "0.0005", "*"]
    metrics = table[table["section"] == "metric"].set_index("name")
    assert metrics.loc["val_miou", ["v1", "v2"]].tolist() == ["0.8", "0.85"]
    assert metrics.loc["loss", "differs"] == ""
    assert table[table["section"] == "run"]["name"].tolist()[:3] == ["run_id", "run_name", "status"]
    everything = compare_versions(tracking_uri=tracking_uri, model_name="locsnet", versions=(1, 2), all_params=True)
    assert set(everything[everything["section"] == "param"]["name"]) == {"lr", "epochs"}
    assert log_held_out(tracking_uri=tracking_uri, model_name="locsnet", version=2,
                        scores={"miou_all": 0.91, "miou_gt4": float("nan")}) == ["heldout_miou_all"]
    log_held_out(tracking_uri=tracking_uri, model_name="locsnet", version=2, scores={"miou_all": 0.93})  # a rerun
    scored = compare_versions(tracking_uri=tracking_uri, model_name="locsnet", versions=(1, 2)).set_index("name")
    assert scored.loc["heldout_miou_all", ["v1", "v2", "differs"]].tolist() == ["nan", "0.93", "*"]
    with pytest.raises(ModelNotRegisteredError, match="no version 9"):
        log_held_out(tracking_uri=tracking_uri, model_name="locsnet", version=9, scores={"miou_all": 0.5})
    with pytest.raises(ValueError, match="not 2 with itself"):
        compare_versions(tracking_uri=tracking_uri, model_name="locsnet", versions=(2, 2))
    with pytest.raises(ModelNotRegisteredError, match=r"no version 9 .*versions: \[1, 2\]"):
        compare_versions(tracking_uri=tracking_uri, model_name="locsnet", versions=(1, 9))


def test_version_runs_looks_up_without_creating_a_registry(tmp_path: Path, tracking_uri: str) -> None:
    missing = f"sqlite:///{tmp_path / 'nothing' / 'mlflow.db'}"
    assert not registry_exists(missing) and version_runs(tracking_uri=missing, versions=[("locsnet", 1)]) == {}
    assert not (tmp_path / "nothing").exists()
    assert not registry_exists("fake://no-mlflow")
    info = log_and_register(tracking_uri=tracking_uri, experiment="reid", model_name="reid", state_dict=_weights(),
                            config={}, params={}, metrics={}, run_name="reid-cpu")
    found = version_runs(tracking_uri=tracking_uri, versions=[("reid", 1), ("reid", 2)])
    assert list(found) == [("reid", 1)]
    assert found[("reid", 1)].run_id == info.run_id and found[("reid", 1)].run_name == "reid-cpu"
    assert found[("reid", 1)].aliases == ("champion",) and found[("reid", 1)].experiment == "reid"
