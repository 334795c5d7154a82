"""MLflow registry helper on a temporary sqlite store: versions, aliases, safe loading."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from lftiming_ml.models.registry import (
    ModelNotRegisteredError,
    UnsafeWeightsError,
    load_by_alias,
    load_state_dict_file,
    log_and_register,
)


class NotATensor:
    """A class instance: weights_only loading must refuse it."""

    def __init__(self) -> None:
        self.payload = "anything"


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root / 'mlflow.db'}"


def _weights(value: float) -> dict[str, torch.Tensor]:
    return {"layer.weight": torch.full((2, 3), value), "layer.bias": torch.arange(2, dtype=torch.float32) + value}


def _register(uri: str, name: str, value: float, **kw) -> object:
    return log_and_register(
        tracking_uri=uri, experiment="tests", model_name=name, state_dict=_weights(value),
        config={"profile": {"name": "cpu", "value": value}}, params={"lr": 1e-3, "profile": {"backbone": "r18"}},
        metrics={"recall": value}, history=[{"loss": 2.0}, {"loss": 1.0}], **kw,
    )


def test_two_versions_alias_moves_and_loads_right_weights(tracking_uri: str) -> None:
    v1 = _register(tracking_uri, "detector-a", 1.0, artifacts={"notes/readme.txt": b"hello"})
    v2 = _register(tracking_uri, "detector-a", 2.0)
    assert (v1.version, v2.version) == (1, 2) and v1.run_id != v2.run_id
    state, config, info = load_by_alias(tracking_uri=tracking_uri, model_name="detector-a")
    assert info.version == 2 and info.run_id == v2.run_id and info.alias == "champion"
    assert torch.equal(state["layer.weight"], torch.full((2, 3), 2.0))
    assert config["profile"]["value"] == 2.0

    v3 = _register(tracking_uri, "detector-a", 3.0, set_alias=False)  # registered, not promoted
    assert v3.alias is None
    state, _, info = load_by_alias(tracking_uri=tracking_uri, model_name="detector-a")
    assert info.version == 2 and torch.equal(state["layer.bias"], torch.tensor([2.0, 3.0]))

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(v1.run_id)
    assert run.data.params["profile.backbone"] == "r18" and run.data.metrics["recall"] == 1.0
    assert [m.value for m in client.get_metric_history(v1.run_id, "loss")] == [2.0, 1.0]
    assert "notes" in {a.path for a in client.list_artifacts(v1.run_id)}


def test_missing_alias_and_missing_model_name_both(tracking_uri: str) -> None:
    _register(tracking_uri, "detector-b", 1.0)
    with pytest.raises(ModelNotRegisteredError, match=r"'detector-b'.*'staging'"):
        load_by_alias(tracking_uri=tracking_uri, model_name="detector-b", alias="staging")
    with pytest.raises(ModelNotRegisteredError, match=r"'no-such-model'.*'champion'.*no registered model"):
        load_by_alias(tracking_uri=tracking_uri, model_name="no-such-model")


def test_weights_only_refuses_pickled_objects(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"layer.weight": torch.zeros(1), "extra": NotATensor()}, evil)
    with pytest.raises(UnsafeWeightsError, match="refusing"):
        load_state_dict_file(evil)
    not_dict = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], not_dict)
    with pytest.raises(UnsafeWeightsError, match="dict of tensors"):
        load_state_dict_file(not_dict)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(NotATensor()))
    with pytest.raises(UnsafeWeightsError):
        load_state_dict_file(plain)
    good = tmp_path / "good.pt"
    torch.save(_weights(4.0), good)
    assert torch.equal(load_state_dict_file(good)["layer.weight"], torch.full((2, 3), 4.0))
