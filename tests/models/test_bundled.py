"""Bundled models (``models/``): float16 weights, cards with checksums, checks on registration.

Uses a tiny re-identification net as the bundled model (real config, real builder), so the
tests train nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from lftiming_ml.bundled import PIPELINE_MODELS, RECIPES, load_shipped, register_shipped
from lftiming_ml.models.bundle import BUNDLE_WEIGHTS, BundleError, TrainingBundle, read_bundle, write_bundle
from lftiming_ml.models.card import CARD_JSON, CARD_MD, read_card, record_held_out, verify_card, write_card
from lftiming_ml.models.registry import load_by_alias
from lftiming_ml.reid.config import MODEL_NAME, registry_config, reid_profile
from lftiming_ml.reid.model import ReidNet

TINY = reid_profile("cpu", channels=(4,), embedding_dim=4)


def _bundle(profile=TINY) -> TrainingBundle:
    torch.manual_seed(0)
    net = ReidNet(profile)
    return TrainingBundle(model_name=MODEL_NAME, state_dict=net.state_dict(), config=registry_config(profile),
                          params={"train_device": "cpu: test"}, metrics={"val_effector_verification": 0.9},
                          history=[{"step": 1.0, "loss": 2.0}], run_name="reid-tiny")


def _shipped(tmp_path: Path, bundle: TrainingBundle | None = None) -> Path:
    out = write_bundle(tmp_path / "reid_embedding", bundle or _bundle(), weights_dtype="float16")
    write_card(out, {"model_name": MODEL_NAME, "weights_dtype": "float16",
                     "trained": {"command": "python -m lftiming_ml.bundled train reid_embedding", "git_commit": "abc",
                                 "git_dirty": False, "date": "2026-12-05", "hardware": "cpu: test",
                                 "train_seconds": 1.0, "recipe": {}, "corpus": {}},
                     "validation": {"val_effector_verification": 0.9}, "held_out": {}})
    return out


def test_every_pipeline_model_has_a_recipe() -> None:
    assert set(PIPELINE_MODELS) == set(RECIPES)


def test_float16_bundle_halves_the_weights_and_loads_as_float32(tmp_path: Path) -> None:
    big = reid_profile("cpu")
    full = write_bundle(tmp_path / "fp32", _bundle(big))
    half = write_bundle(tmp_path / "fp16", _bundle(big), weights_dtype="float16")
    size = lambda p: (p / BUNDLE_WEIGHTS).stat().st_size  # noqa: E731
    assert size(half) < 0.55 * size(full)
    back, original = read_bundle(half).state_dict, _bundle(big).state_dict
    for k, v in original.items():
        assert back[k].dtype == v.dtype  # floating tensors come back as float32
        if v.is_floating_point():
            assert torch.allclose(back[k], v, rtol=1e-3, atol=1e-4)
        else:
            assert torch.equal(back[k], v)


def test_card_lists_every_file_and_is_verified(tmp_path: Path) -> None:
    out = _shipped(tmp_path)
    card = verify_card(out)
    assert set(card["files"]) == {"bundle.json", BUNDLE_WEIGHTS} and (out / CARD_MD).is_file()
    assert "python -m lftiming_ml.bundled train reid_embedding" in (out / CARD_MD).read_text()
    bundle, same = load_shipped(out)
    assert bundle.model_name == MODEL_NAME and same == card
    record_held_out(out, "tracking", {"mota": 0.97}, "benchmarks/reproduce.py")
    assert read_card(out)["held_out"]["tracking"]["scores"] == {"mota": 0.97}
    verify_card(out)  # the card's own update changes no checksum


@pytest.mark.parametrize("damage", ["truncate", "flip", "extra", "missing"])
def test_tampered_bundle_is_refused_naming_the_file(tmp_path: Path, damage: str) -> None:
    out = _shipped(tmp_path)
    weights = out / BUNDLE_WEIGHTS
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "flip":
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "extra":
        (out / "notes.txt").write_text("added later")
    else:
        weights.unlink()
    with pytest.raises(BundleError) as err:
        load_shipped(out)
    named = "notes.txt" if damage == "extra" else BUNDLE_WEIGHTS
    assert named in str(err.value)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path: Path) -> None:
    other = reid_profile("cpu", channels=(8,), embedding_dim=4)
    bundle = _bundle()
    bundle.config = registry_config(other)  # weights of a 4-channel net, config of an 8-channel one
    out = _shipped(tmp_path, bundle)
    with pytest.raises(BundleError, match="do not fit the model its config describes"):
        load_shipped(out)


def test_a_card_for_another_model_is_refused(tmp_path: Path) -> None:
    out = _shipped(tmp_path)
    card = json.loads((out / CARD_JSON).read_text())
    card["model_name"] = "locsnet"
    card.pop("files")
    write_card(out, card)
    with pytest.raises(BundleError, match="card is for 'locsnet'"):
        load_shipped(out)


def test_register_shipped_tags_the_version_and_keeps_the_card(tmp_path: Path) -> None:
    out = _shipped(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    info = register_shipped(out, tracking_uri=uri, artifact_location=(tmp_path / "artifacts").as_uri())
    assert (info.name, info.version, info.alias) == (MODEL_NAME, 1, "champion")
    client = MlflowClient(uri)
    version = client.get_model_version(MODEL_NAME, "1")
    assert version.tags["source"] == "bundled"
    run = client.get_run(info.run_id)
    assert run.data.tags["source"] == "bundled" and run.data.params["card.git_commit"] == "abc"
    names = {a.path for a in client.list_artifacts(info.run_id, "card")}
    assert names == {"card/card.json", "card/CARD.md"}
    state_dict, config, _ = load_by_alias(tracking_uri=uri, model_name=MODEL_NAME)
    assert config == registry_config(TINY) and all(v.dtype == torch.float32 for v in state_dict.values()
                                                    if v.is_floating_point())
    shutil.rmtree(out)
