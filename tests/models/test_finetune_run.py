"""A fine-tuning run end to end: LOCSNET from the registered champion on simulated chips
mixed half and half with a chip's curated labels; the MLflow run records the corpus manifest
(chips, label sources and counts, the annotations version and record hashes, the init
version), and a selection of a version the chip never had is refused before anything is
simulated. The Dagster side: the config fields, the CLI's run config and the lineage."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from mlflow import MlflowClient

from lftiming_assets import cli
from lftiming_assets.definitions import defs
from lftiming_assets.models.config import TrainModelConfig
from lftiming_ml.annotations.store import read_manifest, write_wells
from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.corpus import AnnotationCorpus
from lftiming_ml.models.manifest import MANIFEST_ARTIFACT
from lftiming_ml.models.registry import log_and_register
from lftiming_ml.segmentation.config import SEGMENTATION_CORPUS, CorpusSampling, segmenter_profile, train_config
from lftiming_ml.segmentation.model import build_segmenter, registry_config
from lftiming_ml.segmentation.training import train_and_register
from lftiming_ml.store.layout import ChipStore, DataLayout
from lftiming_ml.truth.annotations import simulator_records
from tests.annotations.conftest import CHIP_ID, built_chip_root, chip, data_root  # noqa: F401 (fixtures)

LIGHT = segmenter_profile("cpu").model_copy(update={"max_detections": 4})
OVERRIDES = {"profile": LIGHT, "epochs": 1, "batch_size": 4, "warmup_steps": 0, "time_budget_min": 0.02,
             "eval_batch_size": 16}
CORPUS = SEGMENTATION_CORPUS.replace(presets=("standard",), n_chips=2, n_frames=2)


@pytest.mark.slow
def test_locsnet_fine_tuned_on_annotations_records_its_corpus_manifest(chip: ChipStore, data_root: Path,
                                                                       tmp_path: Path) -> None:
    version = write_wells(chip, simulator_records(chip)).version
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    artifacts = (tmp_path / "artifacts").as_uri()
    log_and_register(tracking_uri=uri, experiment="locsnet", model_name="locsnet", artifact_location=artifacts,
                     state_dict=build_segmenter(kind="locsnet", profile=LIGHT).state_dict(),
                     config=registry_config(train_config("cpu", kind="locsnet", profile=LIGHT)), params={}, metrics={})
    bad = AnnotationCorpus.from_specs([f"{CHIP_ID}@{'0' * 12}"])
    with pytest.raises(AnnotationError, match=f"{CHIP_ID}@000000000000: 000000000000 is not one of the chip's "
                                              f"annotations versions \\({version[:12]}\\)"):
        train_and_register(kind="locsnet", corpus=CORPUS, corpus_root=tmp_path / "corpus", tracking_uri=uri,
                           artifact_location=artifacts, overrides=OVERRIDES, init="champion", annotations=bad,
                           layout=DataLayout(data_root))
    assert not (tmp_path / "corpus").exists()  # refused before simulating

    labels = AnnotationCorpus.from_specs([CHIP_ID], provenances=["simulator"], share=0.5)
    info, history, _ = train_and_register(
        kind="locsnet", corpus=CORPUS, sampling=CorpusSampling(keep_empty=0.0), corpus_root=tmp_path / "corpus",
        tracking_uri=uri, artifact_location=artifacts, overrides=OVERRIDES, init="champion", annotations=labels,
        layout=DataLayout(data_root), alias="candidate")
    assert (info.version, info.alias) == (2, "candidate")
    client = MlflowClient(tracking_uri=uri)
    params = client.get_run(info.run_id).data.params
    assert params["init"] == "locsnet version 1 (champion)"
    assert params["corpus_manifest.init.version"] == "1"
    assert params[f"corpus_manifest.annotations.{CHIP_ID}.train.version"] == version
    assert params[f"corpus_manifest.annotations.{CHIP_ID}.train.provenances"] == "simulator"
    assert params["corpus_manifest.mixing.share_requested"] == "0.5"
    assert float(params["corpus_manifest.mixing.share_drawn"]) == pytest.approx(0.5, abs=0.01)
    assert params["corpus_manifest.simulated_train_chips"] == "seg-standard-s20000"
    local = client.download_artifacts(info.run_id, MANIFEST_ARTIFACT, str(tmp_path / "dl"))
    manifest = json.loads(Path(local).read_text())
    assert manifest["init"]["version"] == 1 and manifest["init"]["run_id"]
    [entry] = manifest["annotations"]
    assert entry["version"] == version and entry["records"] == read_manifest(chip).wells  # every record's hash
    assert entry["labels"]["simulator"]["masks"] > 0 and entry["samples"] > 0
    assert manifest["simulated"]["validation_chips"] == ["seg-standard-s20001"]
    assert manifest["mixing"]["annotated_drawn"] == manifest["mixing"]["simulated_drawn"] > 0


def test_train_model_config_takes_the_fine_tuning_fields_and_validates_them() -> None:
    config = TrainModelConfig(init="champion", annotations=["chip-a", "chip-b@0123abcd"], annotation_share=0.3,
                              annotation_provenances=["human", "fluorescence"], validate_annotations=["chip-c"])
    corpus = config.annotation_corpus()
    assert [(s.chip_id, s.version, s.split) for s in corpus.selections] == [
        ("chip-a", None, "train"), ("chip-b", "0123abcd", "train"), ("chip-c", None, "validation")]
    assert corpus.share == 0.3 and corpus.selections[0].provenances == ("human", "fluorescence")
    assert config.finetune_metadata(corpus)["annotations"].startswith("chip-a@current (train)")
    with pytest.raises(ValueError, match="is not CHIP or CHIP@VERSION"):
        TrainModelConfig(annotations=["chip-a@latest"]).annotation_corpus()
    with pytest.raises(ValueError, match="apply to annotations"):
        TrainModelConfig(annotation_share=0.5).annotation_corpus()


def test_the_cli_passes_fine_tuning_to_the_run_config_and_the_graph_shows_annotations_to_models(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = {}
    monkeypatch.setattr(cli, "_dagster_env", lambda home: None)
    monkeypatch.setattr(cli, "materialize_models", lambda selection, run_config, verbose=False: seen.update(run_config) or True)
    assert cli.main(["train", "locsnet", "--init", "champion", "--annotations", "chip-a@0123abcd", "chip-b",
                     "--provenance", "human", "--annotation-share", "0.4", "--alias", "candidate"]) == 0
    config = seen["ops"]["locsnet"]["config"]
    assert config == {"profile": "cpu", "init": "champion", "alias": "candidate",
                      "annotations": ["chip-a@0123abcd", "chip-b"], "annotation_provenances": ["human"],
                      "annotation_share": 0.4}
    assert dg.validate_run_config(defs.resolve_job_def("train_models"), seen)
    graph = defs.resolve_asset_graph()
    for model in ("well_detector", "locsnet", "mask_rcnn_baseline", "reid_embedding", "celltype_classifier",
                  "apoptosis_classifier"):
        assert dg.AssetKey("annotations") in graph.get(dg.AssetKey(model)).parent_keys
