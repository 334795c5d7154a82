"""Fine-tuning the well detector from the bundled weights on grid-labelled fields of another
scope: the init is loaded (an old bundle's profile fills new fields with their defaults), a
different input scaling is refused, the time budget stops training, the bundle records the
corpus manifest with the labels' version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lftiming_ml.annotations.store import write_grids
from lftiming_ml.chip import read_manifest
from lftiming_ml.annotations.selection import resolve_selection
from lftiming_ml.corpus import AnnotationCorpus, AnnotationSelection
from lftiming_ml.models.init import InitMismatchError, resolve_init
from lftiming_ml.models.manifest import MANIFEST_ARTIFACT
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.store.layout import DataLayout
from lftiming_ml.truth.annotations import simulator_grid_labels
from lftiming_ml.wells.detector_config import WELL_DETECTOR_CORPUS, detector_profile, train_config
from lftiming_ml.wells.engine import train_detector
from lftiming_ml.wells.offline import annotated_samples, train_bundle
from tests.conftest import small_sim_config

BUNDLE = Path(__file__).resolve().parents[2] / "models" / "well_detector"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> DataLayout:
    """A data folder with one small other-scope chip whose field carries a grid label."""
    root = tmp_path_factory.mktemp("wl") / "data"
    raw = root / "raw" / "os-s5"
    simulate_chip(raw, small_sim_config("other-scope", seed=5, n_frames=6), overwrite=True, workers=1)
    layout = DataLayout(root)
    manifest = read_manifest(raw)
    write_grids(layout.chip(manifest.chip_id), simulator_grid_labels(raw, manifest), manifest)
    return layout


def test_fine_tuning_starts_from_the_bundle_and_stops_at_its_budget(labelled: DataLayout) -> None:
    config = train_config("cpu", epochs=50, time_budget_min=0.05, warmup_steps=1, batch_size=1)
    (chip_id,) = [p.name for p in (labelled.root / "raw").iterdir()]
    samples, entries = annotated_samples(AnnotationCorpus.from_specs([chip_id]), labelled, config)
    assert [s.frame for s in samples["train"]] == [0, 5] and entries[0]["fields"] == 1 and entries[0]["grids"]
    init = resolve_init(str(BUNDLE), model_name="well_detector")
    model, history = train_detector(config, train_samples=samples["train"], val_samples=samples["train"][:1],
                                    init=init)
    assert 1 <= len(history) < 50  # the 3 s budget ends it long before 50 epochs
    assert "val_recall" in history[-1]  # the last epoch run is validated
    other = train_config("cpu", profile=detector_profile("cpu").model_copy(update={"input_scale": 0.25}))
    with pytest.raises(InitMismatchError, match="input_scale"):
        train_detector(other, train_samples=samples["train"], val_samples=[], init=init)


def test_an_unlabelled_selection_is_refused_before_training(labelled: DataLayout, tmp_path: Path) -> None:
    (chip_id,) = [p.name for p in (labelled.root / "raw").iterdir()]
    with pytest.raises(ValueError, match="no field with a well-grid label of \\['human'\\]"):
        annotated_samples(AnnotationCorpus.from_specs([chip_id], provenances=["human"]), labelled, train_config("cpu"))


def test_the_bundle_names_the_init_and_the_grid_labels_it_learned_from(labelled: DataLayout, tmp_path: Path) -> None:
    (chip_id,) = [p.name for p in (labelled.root / "raw").iterdir()]
    version = resolve_selection(labelled, AnnotationSelection(chip_id=chip_id)).version
    corpus = WELL_DETECTOR_CORPUS.replace(n_chips=2, n_fields=1, n_frames=6)
    bundle = train_bundle(train=train_config("cpu", epochs=1, batch_size=2, warmup_steps=1), data=corpus,
                          cache_dir=tmp_path / "corpus", init=resolve_init(str(BUNDLE), model_name="well_detector"),
                          annotations=AnnotationCorpus.from_specs([chip_id], share=0.5), layout=labelled)
    manifest = json.loads(bundle.artifacts[MANIFEST_ARTIFACT])
    (entry,) = manifest["annotations"]
    assert entry["chip_id"] == chip_id and entry["version"] == version and set(entry["grids"]) == {"f000"}
    assert manifest["init"]["kind"] == "bundle" and manifest["init"]["path"] == str(BUNDLE.resolve())
    assert manifest["mixing"]["annotated_available"] == 2.0 and manifest["mixing"]["share_requested"] == 0.5
    assert bundle.params["corpus_manifest"]["annotations"][f"{chip_id}.train"]["version"] == version
    assert bundle.run_name == "well_detector-cpu-finetuned+annotations"
