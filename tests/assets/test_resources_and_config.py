"""ChipTables (one view refresh per write), ModelRegistry (alias resolution), the params
configs built from the library's models, and TrainModelConfig (one config for every model
asset, overrides validated by the model's own recipe), including the CLI's run configs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pydantic
import pytest
from dagster._config.pythonic_config import infer_schema_from_config_class

from lftiming_assets.cli import DEMO_MODELS, train_run_config
from lftiming_assets.config import params_config
from lftiming_assets.definitions import defs
from lftiming_assets.interactions.assets import InteractionsConfig
from lftiming_assets.jobs import MODEL_ASSETS
from lftiming_assets.models.config import TrainModelConfig
from lftiming_assets.resources import build_resources
from lftiming_assets.segmentation.assets import locsnet
from lftiming_assets.tracking.assets import TrackerConfig
from lftiming_assets.wells.assets import WellGridConfig
from lftiming_ml.classification.config import classifier_profile
from lftiming_ml.classification.config import train_config as classifier_recipe
from lftiming_ml.interactions.config import SEGMENTED_MASK_TOLERANCE_UM, ContactParams, KineticsParams
from lftiming_ml.models.registry import ModelNotRegisteredError
from lftiming_ml.segmentation.config import train_config as segmenter_recipe
from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.reid.config import reid_profile
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.detector_config import train_config as detector_recipe
from tests.assets.fakes import CountingChipTables


def test_chip_tables_write_many_tables_then_refresh_views_once(tmp_path: Path) -> None:
    resources = build_resources(str(tmp_path))
    tables = CountingChipTables(tables_dir=resources["tables"].tables_dir, duckdb=resources["duckdb"])
    CountingChipTables.refreshes.clear()
    frames = {name: pd.DataFrame({"chip_id": ["c1"] * n, "v": range(n)}) for name, n in (("a", 2), ("b", 3), ("c", 1))}
    assert tables.write("c1", frames) == ["a", "b", "c"]
    assert CountingChipTables.refreshes == [["a", "b", "c"]]  # three tables, one refresh
    tables.write("c2", {"a": pd.DataFrame({"chip_id": ["c2"], "v": [9]})})
    assert CountingChipTables.refreshes == [["a", "b", "c"], ["a"]]
    pd.testing.assert_frame_equal(tables.read("b", "c1"), frames["b"])
    with duckdb.connect(resources["duckdb"].database, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM a").fetchone()[0] == 3  # both chips' rows, once each
    with pytest.raises(ValueError, match="every row needs chip_id == 'c3'"):
        tables.write("c3", {"a": frames["a"]})
    with pytest.raises(FileNotFoundError):
        tables.read("a", "c9")


def test_model_registry_resolves_the_alias_or_says_none_is_registered(tmp_path: Path) -> None:
    registry = build_resources(str(tmp_path))["registry"]
    assert registry.alias == "champion"
    with pytest.raises(ModelNotRegisteredError):
        registry.resolve("locsnet")


@pytest.mark.parametrize(("config", "model"), [(TrackerConfig, TrackerParams), (WellGridConfig, WellGridParams)])
def test_params_configs_repeat_every_field_default_and_description(config, model) -> None:
    fields = infer_schema_from_config_class(config).config_type.fields
    assert set(fields) == set(model.model_fields)
    for name, info in model.model_fields.items():
        assert fields[name].description == info.description, name
        assert fields[name].default_value == info.default, name
    assert config().to_params() == model()


def test_interactions_config_defaults_are_the_pipeline_s() -> None:
    config = InteractionsConfig()
    assert config.contact.to_params() == ContactParams(tolerance_um=SEGMENTED_MASK_TOLERANCE_UM)
    assert config.kinetics.to_params() == KineticsParams()
    fields = infer_schema_from_config_class(InteractionsConfig).config_type.fields
    assert fields["contact"].default_value["tolerance_um"] == SEGMENTED_MASK_TOLERANCE_UM
    with pytest.raises(ValueError, match=r"ContactParams has no field \['tolerance'\]"):
        params_config(ContactParams, defaults={"tolerance": 1.0})


def test_recipe_applies_fields_and_overrides_validated_by_the_model_s_recipe() -> None:
    config = TrainModelConfig(profile="paper", epochs=2, overrides={"lr": 1e-4, "profile": {"backbone": "resnet34"}})
    recipe, changed = config.recipe(classifier_recipe("paper", task="celltype"), cross_validates=True)
    assert (recipe.epochs, recipe.lr, recipe.batch_size) == (2, 1e-4, 32)  # paper's batch size kept
    assert recipe.profile == classifier_profile("paper").model_copy(update={"backbone": "resnet34"})
    assert set(changed) == {"epochs", "lr", "profile"}
    assert classifier_recipe("paper", task="celltype", **changed) == recipe  # what train_and_register rebuilds

    recipe, changed = TrainModelConfig().recipe(segmenter_recipe("cpu", kind="locsnet"))
    assert changed == {} and recipe == segmenter_recipe("cpu", kind="locsnet")  # defaults: today's recipe
    recipe, changed = TrainModelConfig(time_budget_min=2.5).recipe(
        reid_profile("cpu"), epochs_field=None, budget_field="train_seconds", budget_per_min=60.0)
    assert changed == {"train_seconds": 150.0}


@pytest.mark.parametrize("base", [segmenter_recipe("cpu"), classifier_recipe("cpu", task="apoptosis"),
                                  detector_recipe("cpu"), reid_profile("cpu")], ids=lambda b: type(b).__name__)
def test_a_bad_override_fails_with_the_library_s_message_naming_the_field(base) -> None:
    with pytest.raises(pydantic.ValidationError, match=r"lrate\n\s+Extra inputs are not permitted"):
        TrainModelConfig(overrides={"lrate": 0.1}).recipe(base)
    nested = r"profile\.bogus\n" if "profile" in type(base).model_fields else r"profile\n"  # ReidProfile: flat
    with pytest.raises(pydantic.ValidationError, match=nested + r"\s+Extra inputs are not permitted"):
        TrainModelConfig(overrides={"profile": {"bogus": 1}}).recipe(base)


def test_settings_that_do_not_apply_or_are_given_twice_fail() -> None:
    with pytest.raises(ValueError, match="epochs does not apply to this model"):
        TrainModelConfig(epochs=3).recipe(reid_profile("cpu"), epochs_field=None, budget_field="train_seconds")
    with pytest.raises(ValueError, match="time_budget_min does not apply to this model"):
        TrainModelConfig(time_budget_min=3).recipe(detector_recipe("cpu"), budget_field=None)
    with pytest.raises(ValueError, match="cv_folds applies to the classifiers only"):
        TrainModelConfig(cv_folds=3).recipe(detector_recipe("cpu"))
    with pytest.raises(ValueError, match=r"\['epochs'\] set both as a config field and in overrides"):
        TrainModelConfig(epochs=3, overrides={"epochs": 4}).recipe(segmenter_recipe("cpu"))


def test_a_bad_override_fails_the_model_asset_before_training(tmp_path: Path) -> None:
    run_config = {"ops": {"locsnet": {"config": {"overrides": {"profile": {"fpn_channel": 32}}}}}}
    with pytest.raises(pydantic.ValidationError, match=r"profile\.fpn_channel\n\s+Extra inputs are not permitted"):
        dg.materialize([locsnet], resources=build_resources(str(tmp_path)), run_config=run_config)
    assert not (tmp_path / "training").exists()  # refused before simulating a corpus


def test_every_model_asset_takes_train_model_config_and_the_cli_s_run_configs() -> None:
    job = defs.resolve_job_def("train_models")
    runs = [train_run_config(m, **config) for m, config, _ in DEMO_MODELS]
    runs += [train_run_config(a.key.to_user_string(), profile="paper", n_chips=3, time_budget_min=1.5)
             for a in MODEL_ASSETS]
    for run in runs:
        assert dg.validate_run_config(job, run), run
    with pytest.raises(dg.DagsterInvalidConfigError, match='unexpected config entry "backbone"'):
        dg.validate_run_config(job, {"ops": {"celltype_classifier": {"config": {"backbone": "resnet34"}}}})
