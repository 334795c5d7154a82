"""Fine-tuning starts from the init's weights: a registered version, an alias or a bundle is
loaded strictly into the model before the first step (a run whose steps cannot move the
weights ends where the init was), and another architecture, input or model is refused."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lftiming_ml.classification.config import train_config as classifier_config
from lftiming_ml.classification.engine import registry_config as classifier_registry_config
from lftiming_ml.classification.engine import train_classifier
from lftiming_ml.classification.model import build_classifier
from lftiming_ml.models.bundle import TrainingBundle, write_bundle
from lftiming_ml.models.init import InitMismatchError, InitWeights, apply_init, input_changes, resolve_init
from lftiming_ml.models.registry import ModelNotRegisteredError, log_and_register
from lftiming_ml.reid.config import registry_config as reid_registry_config
from lftiming_ml.reid.config import reid_profile
from lftiming_ml.reid.engine import train_reid
from lftiming_ml.reid.model import ReidNet
from lftiming_ml.segmentation.config import INIT_INPUT_FIELDS, SegmenterTrainConfig
from lftiming_ml.segmentation.engine import train_segmenter
from lftiming_ml.segmentation.model import build_segmenter, registry_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "segmentation"))
from toy_cells import TINY_PROFILE, toy_set  # noqa: E402
from tests.classification.test_classification_model import TINY as TINY_CLASSIFIER, toy_track  # noqa: E402

FROZEN_LR = 1e-12  # a step that cannot move a weight measurably: training ends where it started


def _params(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.named_parameters()}


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-7) for k in a)


def _segmenter_config(**kw: object) -> SegmenterTrainConfig:
    return SegmenterTrainConfig(kind="locsnet", profile=TINY_PROFILE, epochs=1, batch_size=2, warmup_steps=0,
                                device="cpu", **kw)


def _register_segmenter(uri: str, model: torch.nn.Module, config: SegmenterTrainConfig) -> None:
    log_and_register(tracking_uri=uri, experiment="locsnet", model_name="locsnet", state_dict=model.state_dict(),
                     config=registry_config(config), params={}, metrics={})


def test_segmenter_fine_tuning_starts_from_the_registered_champion(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = _segmenter_config(lr=FROZEN_LR, seed=7)
    torch.manual_seed(123)
    champion = build_segmenter(kind="locsnet", profile=TINY_PROFILE)
    _register_segmenter(uri, champion, config)
    init = resolve_init("champion", model_name="locsnet", tracking_uri=uri)
    assert init.source == {"kind": "registry", "model": "locsnet", "version": 1, "alias": "champion",
                           "run_id": init.source["run_id"]}
    tuned, history = train_segmenter(config, train_samples=toy_set(), init=init)
    assert history[-1]["steps"] >= 1
    assert _same(_params(tuned), _params(champion))
    scratch, _ = train_segmenter(config, train_samples=toy_set())  # the same run without init: other weights
    assert not _same(_params(scratch), _params(champion))


def test_versions_aliases_and_bundles_resolve_and_a_missing_version_is_named(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = _segmenter_config()
    model = build_segmenter(kind="locsnet", profile=TINY_PROFILE)
    _register_segmenter(uri, model, config)
    _register_segmenter(uri, model, config)
    assert resolve_init("v1", model_name="locsnet", tracking_uri=uri).source["version"] == 1
    assert resolve_init("2", model_name="locsnet", tracking_uri=uri).source["alias"] is None
    with pytest.raises(ModelNotRegisteredError, match=r"no version 9 .*versions: \[1, 2\]"):
        resolve_init("v9", model_name="locsnet", tracking_uri=uri)
    with pytest.raises(ModelNotRegisteredError, match="alias 'nope'"):
        resolve_init("nope", model_name="locsnet", tracking_uri=uri)
    bundle = write_bundle(tmp_path / "bundle", TrainingBundle("locsnet", model.state_dict(), registry_config(config),
                                                              {}, {}))
    init = resolve_init(str(bundle), model_name="locsnet")
    assert init.source["kind"] == "bundle" and len(init.source["sha256"]) == 64
    with pytest.raises(InitMismatchError, match="holds 'locsnet', not 'reid_embedding'"):
        resolve_init(str(bundle), model_name="reid_embedding")
    with pytest.raises(ValueError, match="needs the MLflow tracking URI"):
        resolve_init("champion", model_name="locsnet")


def test_another_architecture_or_input_is_refused_before_any_weight_is_loaded() -> None:
    config = _segmenter_config()
    wide = TINY_PROFILE.model_copy(update={"fpn_channels": 48})
    other = build_segmenter(kind="locsnet", profile=wide)
    init = InitWeights(other.state_dict(), registry_config(_segmenter_config().model_copy(update={"profile": wide})),
                       {"kind": "registry", "model": "locsnet", "version": 4, "alias": "champion"})
    target = build_segmenter(kind="locsnet", profile=TINY_PROFILE)
    before = _params(target)
    with pytest.raises(InitMismatchError, match=r"locsnet version 4 \(champion\).*other shapes") as err:
        train_segmenter(config, train_samples=toy_set(), init=init)
    assert "--profile tiny" in str(err.value)
    with pytest.raises(InitMismatchError):
        apply_init(target, init, config=registry_config(config))
    assert _same(_params(target), before)  # nothing was loaded half-way
    scaled = TINY_PROFILE.model_copy(update={"input_scale": 2.0})  # same shapes, another input
    init = InitWeights(target.state_dict(), registry_config(config.model_copy(update={"profile": scaled})),
                       {"kind": "bundle", "model": "locsnet", "path": "/b"})
    with pytest.raises(InitMismatchError, match=r"profile.input_scale 2.0 vs 1.0"):
        train_segmenter(config, train_samples=toy_set(), init=init)
    baseline = InitWeights(target.state_dict(), {**registry_config(config), "kind": "mask_rcnn"},
                           {"kind": "bundle", "model": "locsnet", "path": "/b"})
    with pytest.raises(InitMismatchError, match="kind 'mask_rcnn' vs 'locsnet'"):
        apply_init(target, baseline, config=registry_config(config))


def test_a_changed_input_scale_loads_only_when_named_and_nothing_else_slips_through() -> None:
    config = _segmenter_config(lr=FROZEN_LR)
    torch.manual_seed(11)
    start = build_segmenter(kind="locsnet", profile=TINY_PROFILE)
    coarse = TINY_PROFILE.model_copy(update={"input_scale": 0.25})  # e.g. a simulator champion, real cells 4x larger
    init = InitWeights(start.state_dict(), registry_config(config.model_copy(update={"profile": coarse})),
                       {"kind": "bundle", "model": "locsnet", "path": "/b"})
    with pytest.raises(InitMismatchError, match=r"profile.input_scale 0.25 vs 1.0"):  # the default still refuses
        train_segmenter(config, train_samples=toy_set(), init=init)
    assert input_changes(init, config=registry_config(config), input_fields=INIT_INPUT_FIELDS) == {
        "input_scale": (0.25, 1.0)}
    tuned, _ = train_segmenter(config, train_samples=toy_set(), init=init, init_allow=("input_scale",))
    assert _same(_params(tuned), _params(start))
    target = build_segmenter(kind="locsnet", profile=TINY_PROFILE)
    assert apply_init(target, init, config=registry_config(config), input_fields=INIT_INPUT_FIELDS,
                      allow_changed=("input_scale",)) == {"input_scale": (0.25, 1.0)}
    clipped = coarse.model_copy(update={"intensity_clip": (0.0, 1.0)})  # a second, unnamed change is still refused
    init2 = InitWeights(start.state_dict(), registry_config(config.model_copy(update={"profile": clipped})),
                        {"kind": "bundle", "model": "locsnet", "path": "/b"})
    with pytest.raises(InitMismatchError, match=r"profile.intensity_clip") as err:
        apply_init(target, init2, config=registry_config(config), input_fields=INIT_INPUT_FIELDS,
                   allow_changed=("input_scale",))
    assert "input_scale" not in str(err.value)
    with pytest.raises(ValueError, match=r"only input fields .* not \['fpn_channels'\]"):  # never a shape field
        apply_init(target, init, config=registry_config(config), input_fields=INIT_INPUT_FIELDS,
                   allow_changed=("input_scale", "fpn_channels"))


def test_classifier_fine_tuning_starts_from_the_init_and_refuses_another_task() -> None:
    rng = np.random.default_rng(0)
    tracks = [toy_track(k % 2, 8, rng) for k in range(6)]
    config = classifier_config("cpu", task="celltype", profile=TINY_CLASSIFIER, epochs=1, batch_size=6,
                               lr=FROZEN_LR, warmup_steps=0, device="cpu")
    torch.manual_seed(5)
    start = build_classifier(profile=TINY_CLASSIFIER, kind="cnn_lstm")
    init = InitWeights(start.state_dict(), classifier_registry_config(config), {"kind": "bundle", "model": "x",
                                                                                "path": "/b"})
    model, _ = train_classifier(config, train_tracks=tracks, init=init)
    assert _same(_params(model), _params(start))
    apoptosis = config.model_copy(update={"task": "apoptosis"})
    with pytest.raises(InitMismatchError, match="task 'celltype' vs 'apoptosis'"):
        train_classifier(apoptosis, train_tracks=[toy_track(0, 8, rng, onset=3)], init=init)


def test_reid_fine_tuning_starts_from_the_init_and_refuses_another_profile() -> None:
    rng = np.random.default_rng(1)
    tracks = []
    for well in range(2):
        for k in range(2):
            t = toy_track(k, 8, rng)
            t.meta = {"chip_id": "c", "field_id": "f000", "row": well, "col": 0, "track_id": k}
            tracks.append(t)
    profile = reid_profile("cpu", patch_size=16, channels=(8, 16), embedding_dim=8, wells_per_batch=2, max_steps=2,
                           lr=FROZEN_LR, weight_decay=0.0)
    torch.manual_seed(3)
    start = ReidNet(profile)
    init = InitWeights(start.state_dict(), reid_registry_config(profile), {"kind": "bundle", "model": "reid_embedding",
                                                                          "path": "/b"})
    net, history = train_reid(profile, tracks, device="cpu", init=init)
    assert history[-1]["step"] == 2 and _same(_params(net), _params(start))
    with pytest.raises(InitMismatchError, match="profile.phase_gain 4.0 vs 2.0"):
        train_reid(profile.model_copy(update={"phase_gain": 2.0}), tracks, device="cpu", init=init)


def test_offline_fine_tuning_options_parse_and_refuse_what_does_not_fit(tmp_path: Path) -> None:
    import argparse

    from lftiming_ml.models import finetune

    p = argparse.ArgumentParser()
    finetune.add_arguments(p)
    tune = finetune.from_args(p.parse_args(["--data", str(tmp_path), "--annotations", "chip-a@0123abcd", "chip-b",
                                            "--provenance", "human", "--annotation-share", "0.5"]), model_name="locsnet")
    assert tune.init is None and tune.layout.root == tmp_path and tune.annotations.share == 0.5
    assert [s.chip_id for s in tune.annotations.selections] == ["chip-a", "chip-b"]
    with pytest.raises(ValueError, match="need --data"):
        finetune.from_args(p.parse_args(["--annotations", "chip-a"]), model_name="locsnet")
    with pytest.raises(ValueError, match="apply to --annotations"):
        finetune.from_args(p.parse_args(["--annotation-share", "0.5"]), model_name="locsnet")
    assert finetune.from_args(p.parse_args([]), model_name="locsnet") == finetune.FineTune()
