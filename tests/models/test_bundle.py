"""Training bundles: a model trained where MLflow is absent (a GPU machine), written to a
folder, read back with every part checked, and registered as a new MLflow version."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from lftiming_assets.cli import main
from lftiming_ml.models.bundle import (BUNDLE_JSON, BUNDLE_WEIGHTS, BundleError, TrainingBundle, UnsafeWeightsError,
                                       read_bundle, write_bundle)
from lftiming_ml.models.registry import load_by_alias, register_bundle
from lftiming_ml.models.training import warmup_cosine
from lftiming_ml.segmentation.config import SEGMENTATION_CORPUS, CorpusSampling, segmenter_profile, train_config
from lftiming_ml.segmentation.model import segmenter_from_registry
from lftiming_ml.segmentation.infer import segment_crops
from lftiming_ml.segmentation.config import OVERLAY_ARTIFACT
from lftiming_ml.segmentation.offline import train_bundle


def _bundle(**changes: object) -> TrainingBundle:
    fields = {"model_name": "locsnet", "state_dict": {"layer.weight": torch.arange(6.0).reshape(2, 3)},
              "config": {"kind": "locsnet"}, "params": {"train": {"epochs": 3}, "n_chips": 10},
              "metrics": {"val_miou": 0.9, "train_seconds": 12.0},
              "history": [{"epoch": 0.0, "loss": 1.5}, {"epoch": 1.0, "loss": 0.5}],
              "artifacts": {"previews/overlay.png": b"\x89PNG-bytes"}, "run_name": "locsnet-cpu-10chips"}
    fields.update(changes)
    return TrainingBundle(**fields)


def test_bundle_round_trip(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", _bundle())
    back = read_bundle(path)
    assert torch.equal(back.state_dict["layer.weight"], torch.arange(6.0).reshape(2, 3))
    assert (back.model_name, back.config, back.params, back.run_name) == (
        "locsnet", {"kind": "locsnet"}, {"train": {"epochs": 3}, "n_chips": 10}, "locsnet-cpu-10chips")
    assert back.metrics == {"val_miou": 0.9, "train_seconds": 12.0}
    assert back.history == [{"epoch": 0.0, "loss": 1.5}, {"epoch": 1.0, "loss": 0.5}]
    assert back.artifacts == {"previews/overlay.png": b"\x89PNG-bytes"}


def test_write_refuses_to_replace_and_keeps_the_old_bundle(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", _bundle())
    with pytest.raises(FileExistsError):
        write_bundle(path, _bundle(metrics={"val_miou": 0.1}))
    with pytest.raises(BundleError, match="not a finite number"):
        write_bundle(path, _bundle(metrics={"val_miou": float("nan")}), overwrite=True)
    with pytest.raises(BundleError, match="relative path inside the bundle"):
        write_bundle(path, _bundle(artifacts={"../escape.png": b""}), overwrite=True)
    assert read_bundle(path).metrics["val_miou"] == 0.9
    assert [p.name for p in tmp_path.iterdir()] == ["b"]  # no half-written sibling left


def test_read_names_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no such bundle folder"):
        read_bundle(tmp_path / "absent")
    path = write_bundle(tmp_path / "b", _bundle())
    meta = json.loads((path / BUNDLE_JSON).read_text())

    (path / BUNDLE_JSON).write_text("{not json")
    with pytest.raises(BundleError, match=rf"{BUNDLE_JSON}: not valid JSON"):
        read_bundle(path)
    (path / BUNDLE_JSON).write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(BundleError, match="format 1, got 99"):
        read_bundle(path)
    (path / BUNDLE_JSON).write_text(json.dumps({**meta, "metrics": {"val_miou": "high"}}))
    with pytest.raises(BundleError, match="metric 'val_miou' is 'high'"):
        read_bundle(path)
    (path / BUNDLE_JSON).write_text(json.dumps({**meta, "artifacts": ["previews/gone.png"]}))
    with pytest.raises(BundleError, match="gone.png: listed in bundle.json but missing"):
        read_bundle(path)
    (path / BUNDLE_JSON).write_text(json.dumps(meta))
    (path / BUNDLE_WEIGHTS).write_bytes(pickle.dumps({"w": np.zeros(3)}))  # a pickle, not a state_dict
    with pytest.raises(UnsafeWeightsError, match=BUNDLE_WEIGHTS):
        read_bundle(path)
    (path / BUNDLE_WEIGHTS).unlink()
    with pytest.raises(BundleError, match="holds no weights"):
        read_bundle(path)
    (path / BUNDLE_JSON).unlink()
    with pytest.raises(BundleError, match="missing \\(not a training bundle\\)"):
        read_bundle(path)


def test_register_bundle_is_a_new_version_with_its_history(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    bundle = read_bundle(write_bundle(tmp_path / "b", _bundle()))
    first = register_bundle(bundle, tracking_uri=uri, artifact_location=(tmp_path / "art").as_uri(), source="gpu-box")
    second = register_bundle(bundle, tracking_uri=uri, alias="candidate")
    assert (first.version, second.version, first.alias, second.alias) == (1, 2, "champion", "candidate")
    state_dict, config, info = load_by_alias(tracking_uri=uri, model_name="locsnet")
    assert info.version == 1 and config == {"kind": "locsnet"}
    assert torch.equal(state_dict["layer.weight"], bundle.state_dict["layer.weight"])
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(first.run_id)
    assert run.data.params["bundle_source"] == "gpu-box" and run.data.params["n_chips"] == "10"
    assert [m.value for m in client.get_metric_history(first.run_id, "loss")] == [1.5, 0.5]
    assert [a.path for a in client.list_artifacts(first.run_id, "previews")] == ["previews/overlay.png"]


def test_cli_register_and_promote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from lftiming_ml.reid.config import registry_config, reid_profile
    from lftiming_ml.reid.model import ReidNet

    monkeypatch.setenv("LFTIMING_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("LFTIMING_HOME", str(Path(__file__).resolve().parents[2]))
    tiny = reid_profile("cpu", channels=(4,), embedding_dim=4)  # a real (tiny) re-ID net: its weights fit its config
    reid = _bundle(model_name="reid_embedding", state_dict=ReidNet(tiny).state_dict(), config=registry_config(tiny))
    path = write_bundle(tmp_path / "r", reid)
    assert main(["register", str(path), "--alias", "candidate"]) == 0
    assert "reid_embedding version 1 registered (alias candidate)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="is not one of"):
        main(["register", str(write_bundle(tmp_path / "c", _bundle(model_name="mystery_model")))])
    with pytest.raises(SystemExit, match="the weights do not fit the model its config describes"):
        main(["register", str(write_bundle(tmp_path / "b", _bundle()))])  # locsnet named, a 2x3 matrix inside
    assert main(["promote", "reid_embedding", "1"]) == 0
    assert "reid_embedding: alias champion -> version 1" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"no version 7 .*\(versions: \[1\]\)"):
        main(["promote", "reid_embedding", "7"])
    (path / BUNDLE_WEIGHTS).unlink()
    with pytest.raises(SystemExit, match=f"{path / BUNDLE_WEIGHTS}: missing"):
        main(["register", str(path)])


def test_offline_training_needs_neither_mlflow_nor_dagster() -> None:
    blocker = ("import sys\n"
               "class Block:\n"
               "    def find_spec(self, name, path, target=None):\n"
               "        if name.split('.')[0] in ('mlflow', 'dagster', 'duckdb', 'lftiming_assets'):\n"
               "            raise ImportError('blocked ' + name)\n"
               "sys.meta_path.insert(0, Block())\n"
               "import lftiming_ml.segmentation.offline, lftiming_ml.models.bundle\n"
               "print('imported')\n")
    out = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "imported" in out.stdout, out.stderr


def test_time_schedule_needs_a_budget_and_decays_with_the_clock() -> None:
    with pytest.raises(ValueError, match="needs time_budget_min"):
        train_config("cpu", lr_schedule="time")
    assert warmup_cosine(100, total=10_000, warmup=10, final_fraction=0.05, progress=1.0) == pytest.approx(0.05)
    assert warmup_cosine(100, total=10_000, warmup=10, final_fraction=0.05, progress=0.5) == pytest.approx(0.525)
    assert warmup_cosine(5, total=10_000, warmup=10, final_fraction=0.05, progress=0.9) == pytest.approx(0.6)


def test_offline_bundle_registers_the_model_it_trained(tmp_path: Path) -> None:
    corpus = SEGMENTATION_CORPUS.replace(presets=("standard",), n_chips=2, n_frames=2)
    light = segmenter_profile("cpu").model_copy(update={"max_detections": 4})
    bundle = train_bundle(kind="locsnet", corpus=corpus, sampling=CorpusSampling(keep_empty=0.0),
                          corpus_root=tmp_path / "corpus", workers=2, overrides={
        "profile": light, "epochs": 50, "batch_size": 4, "warmup_steps": 0, "time_budget_min": 0.03,
        "lr_schedule": "time", "loader_workers": 1, "eval_batch_size": 16})
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["seg-standard-s20000", "seg-standard-s20001"]
    assert bundle.params["train_device"].startswith("cpu") and bundle.params["n_train_chips"] == 1
    assert bundle.history[-1]["stopped_early"] == 1.0 and len(bundle.history) < 50  # the clock ended it
    assert OVERLAY_ARTIFACT in bundle.artifacts
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    register_bundle(read_bundle(write_bundle(tmp_path / "bundle", bundle)), tracking_uri=uri)
    state_dict, config, _ = load_by_alias(tracking_uri=uri, model_name="locsnet")
    assert state_dict.keys() == bundle.state_dict.keys()
    assert all(torch.equal(state_dict[k], bundle.state_dict[k]) for k in state_dict)
    model, profile = segmenter_from_registry(state_dict, config)  # the architecture the bundle describes
    crop = np.random.default_rng(0).integers(1000, 4000, (96, 96)).astype(np.uint16)
    assert len(segment_crops(model, [crop], profile=profile, device="cpu")) == 1
