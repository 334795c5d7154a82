"""The registered classifiers at inference: load-by-alias, and chip inference that turns a
chip's tracks into the ``cell_types`` and ``cell_deaths`` tables (training and registering
a version is ``training``).

Inference reads, per cropped well of the chip's Zarr store, ONLY the phase channel of the
movie, the tracker's track masks (``tracks/masks``) and the chip's ``cell_tracks`` rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lftiming_ml.classification.config import ClassifierProfile, ClassifierTask
from lftiming_ml.classification.engine import TrackPrediction, classifier_from_registry, predict_tracks
from lftiming_ml.classification.model import CellSequenceClassifier
from lftiming_ml.classification.postprocess import lineage_cell_types
from lftiming_ml.classification.sequences import TrackSequence, well_track_sequences
from lftiming_ml.models.registry import ModelVersionInfo, load_by_alias
from lftiming_ml.models.training import pick_device
from lftiming_ml.store.movies import list_well_movies, open_well_phase
from lftiming_ml.store.tracks import open_well_track_masks
from lftiming_ml.models.sources import ModelSource, as_source
from lftiming_ml.progress import progress
from lftiming_ml.store.units import unit_rows
from lftiming_ml.workers import WorkerPool, run_field_units

MODEL_NAMES: dict[tuple[str, str], str] = {
    ("celltype", "cnn_lstm"): "celltype_classifier", ("apoptosis", "cnn_lstm"): "apoptosis_classifier",
    ("celltype", "frame_cnn"): "celltype_frame_cnn", ("apoptosis", "frame_cnn"): "apoptosis_frame_cnn",
}
PredictFn = Callable[[Sequence[TrackSequence]], list[TrackPrediction]]
"""Tracks -> one ``TrackPrediction`` per track."""


@dataclass(frozen=True)
class Classifier:
    """A classifier ready for inference: its ``task``, the ``profile`` that says how to cut
    patches (patch_size, phase_gain, frame_step) and ``predict``."""

    task: ClassifierTask
    profile: ClassifierProfile
    predict: PredictFn


CELL_TYPE_COLUMNS: dict[str, str] = {
    "chip_id": "object", "field_id": "object", "row": "int64", "col": "int64", "track_id": "int64",
    "cell_type": "object", "p_effector": "float64", "n_frames": "int64", "model_version": "int64",
    "p_effector_track": "float64", "lineage_id": "int64",
}
"""``cell_types``: one row per track; cell_type 'effector' | 'target', decided per LINEAGE
(a mother, its daughters by mitosis and its fragments: ``postprocess.lineage_cell_types``),
so every member of a lineage has the same type; p_effector the lineage's probability (the
frame-weighted mean log-odds of its tracks' p_effector_track; for a frame-level CNN, its
pooled effector vote share); p_effector_track the classifier's probability from the track
alone; lineage_id the smallest track_id of the lineage (the track's own id when it has no
relative); n_frames the frames the track exists."""

CELL_DEATH_COLUMNS: dict[str, str] = {
    "chip_id": "object", "field_id": "object", "row": "int64", "col": "int64", "track_id": "int64",
    "frame": "int64", "p_apoptotic": "float64", "apoptotic": "bool", "death_frame": "Int64", "model_version": "int64",
}
"""``cell_deaths``: one row per track per frame it exists; p_apoptotic the monotone
probability; apoptotic = frame >= death_frame; death_frame <NA> when the track never dies."""


# --- inference ------------------------------------------------------------------------------

def as_classifier(model: CellSequenceClassifier, *, task: ClassifierTask, threshold: float = 0.5,
                  device: str | torch.device | None = "auto", batch_frames: int = 1024) -> Classifier:
    """Wrap a built model (moved once to ``device``) as a ``Classifier``."""
    dev = pick_device(device)
    model.to(dev).eval()

    def predict(tracks: Sequence[TrackSequence]) -> list[TrackPrediction]:
        return predict_tracks(model, tracks, task=task, threshold=threshold, batch_frames=batch_frames)

    return Classifier(task=task, profile=model.profile, predict=predict)


def load_classifier(*, tracking_uri: str, model_name: str, alias: str = "champion"
                    ) -> tuple[Classifier, ModelVersionInfo]:
    """The classifier ``alias`` points at (weights read with ``weights_only=True``), built once."""
    state_dict, config, info = load_by_alias(tracking_uri=tracking_uri, model_name=model_name, alias=alias)
    return build_classifier_fn(state_dict, config), info


def build_classifier_fn(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, object]) -> Classifier:
    """A registered classifier's weights and config -> its ``Classifier`` (the ``build`` of a
    ``models.sources.RegisteredModel``)."""
    model = classifier_from_registry(state_dict, config)
    return as_classifier(model, task=config["task"], threshold=float(config["death_threshold"]))  # type: ignore[arg-type]


def chip_track_sequences(store_path: Path | str, tracks: pd.DataFrame, *, profile: ClassifierProfile
                         ) -> list[TrackSequence]:
    """Sequences of every track of ``tracks`` (the chip's ``cell_tracks`` table), from the
    phase channel of each cropped well movie and its track masks, cut as ``profile`` says."""
    out: list[TrackSequence] = []
    by_well = dict(iter(tracks.groupby(["field_id", "row", "col"], sort=True)))
    cropped = [i for f in sorted(set(tracks["field_id"])) for i in list_well_movies(store_path, f) if i.cropped]
    for info in progress(cropped, desc="track patches", unit="well"):
        rows = by_well.get((info.field_id, info.row, info.col))
        if rows is None or rows.empty:
            continue
        phase, _ = open_well_phase(store_path, info.field_id, info.row, info.col)
        masks = open_well_track_masks(store_path, info.field_id, info.row, info.col)
        out.extend(well_track_sequences(
            phase, masks, rows, profile=profile, um_per_px=info.um_per_px,
            frame_interval_min=info.frame_interval_min,
            meta={"chip_id": info.chip_id, "field_id": info.field_id, "row": info.row, "col": info.col}))
    return out


_KEYS = ("chip_id", "field_id", "row", "col", "track_id")


def _keys(t: TrackSequence) -> dict[str, object]:
    return {k: t.meta[k] for k in _KEYS}


def cell_types_table(tracks: Sequence[TrackSequence], preds: Sequence[TrackPrediction], *, model_version: int,
                     threshold: float = 0.5) -> pd.DataFrame:
    """``CELL_TYPE_COLUMNS`` rows, one per track, typed per lineage (``meta['parent']``, -1
    when absent). What is pooled is each track's own decision score: the CNN-LSTM's
    p_track (log-odds, effector at ``threshold``), or the frame CNN's vote share (linear:
    the majority vote over the lineage's frames)."""
    votes = [p.vote_share for p in preds]
    if any(v is None for v in votes) and any(v is not None for v in votes):
        raise ValueError("cell_types_table: predictions mix frame-CNN votes and track probabilities")
    by_vote = bool(votes) and votes[0] is not None
    table = pd.DataFrame([{**_keys(t), "parent": int(t.meta.get("parent", -1)), "p_effector_track": p.p_track,
                           "score": p.vote_share if by_vote else p.p_track, "n_frames": len(t),
                           "model_version": model_version} for t, p in zip(tracks, preds, strict=True)],
                         columns=[*_KEYS, "parent", "p_effector_track", "score", "n_frames", "model_version"])
    lineage = lineage_cell_types(table, score="score", pooling="linear" if by_vote else "logit",
                                 threshold=0.5 if by_vote else threshold)
    table["cell_type"] = np.where(lineage["effector"].to_numpy(bool), "effector", "target")
    table["p_effector"], table["lineage_id"] = lineage["p_lineage"], lineage["lineage_id"]
    return table[list(CELL_TYPE_COLUMNS)].astype(CELL_TYPE_COLUMNS)


def cell_deaths_table(tracks: Sequence[TrackSequence], preds: Sequence[TrackPrediction], *, model_version: int
                      ) -> pd.DataFrame:
    """``CELL_DEATH_COLUMNS`` rows, one per track per frame."""
    parts = []
    for t, p in zip(tracks, preds, strict=True):
        dies = p.death_frame
        parts.append(pd.DataFrame({**_keys(t), "frame": t.frames, "p_apoptotic": p.p_monotone,
                                   "apoptotic": t.frames >= dies if dies is not None else np.zeros(len(t), bool),
                                   "death_frame": pd.array([dies] * len(t), dtype="Int64"),
                                   "model_version": model_version}))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(CELL_DEATH_COLUMNS))
    return table[list(CELL_DEATH_COLUMNS)].astype(CELL_DEATH_COLUMNS)


def _check_task(classifier: Classifier, task: ClassifierTask) -> None:
    if classifier.task != task:
        raise ValueError(f"a {classifier.task} classifier cannot make the {task} table")


def classify_field(store_path: str, field_id: str, tracks: pd.DataFrame, source: ModelSource, task: ClassifierTask,
                   model_version: int) -> tuple[dict, pd.DataFrame]:
    """The work unit of ``chip_cell_types`` / ``chip_cell_deaths``: the tracks of one field."""
    classifier = source()
    _check_task(classifier, task)
    seqs = chip_track_sequences(store_path, tracks, profile=classifier.profile)
    table = (cell_types_table if task == "celltype" else cell_deaths_table)(
        seqs, classifier.predict(seqs), model_version=model_version)
    return {"tracks": len(seqs)}, table


STAGES: dict[str, str] = {"celltype": "cell_types", "apoptosis": "cell_deaths"}


def _chip_classify(store_path: Path | str, tracks: pd.DataFrame, classifier: Classifier | ModelSource,
                   task: ClassifierTask, model_version: int, pool: WorkerPool | None) -> pd.DataFrame:
    store_path = Path(store_path)
    source = as_source(classifier, f"{task} classifier")
    if isinstance(classifier, Classifier):
        _check_task(classifier, task)
    by_field = {f: rows for f, rows in tracks.groupby("field_id", sort=True)}
    outputs = run_field_units(store_path, STAGES[task], sorted(by_field), classify_field,
                              lambda f: (str(store_path), f, by_field[f], source, task, model_version),
                              {"task": task, "model_version": model_version}, models=[source],
                              pool=pool, input_groups=("", "tracks"))
    return unit_rows(outputs, CELL_TYPE_COLUMNS if task == "celltype" else CELL_DEATH_COLUMNS)


def chip_cell_types(store_path: Path | str, tracks: pd.DataFrame, classifier: Classifier | ModelSource, *,
                    model_version: int, pool: WorkerPool | None = None) -> pd.DataFrame:
    """The ``cell_types`` table of a chip (``tracks``: its ``cell_tracks`` rows, with
    start_reason and parent for the lineages), typed per lineage; one work unit per field
    run by ``pool`` (default: this process). ``classifier``: a ``Classifier`` (this process
    only) or a source of one (``models.sources``, built by ``build_classifier_fn``)."""
    return _chip_classify(store_path, tracks, classifier, "celltype", model_version, pool)


def chip_cell_deaths(store_path: Path | str, tracks: pd.DataFrame, classifier: Classifier | ModelSource, *,
                     model_version: int, pool: WorkerPool | None = None) -> pd.DataFrame:
    """The ``cell_deaths`` table of a chip (``tracks``: its ``cell_tracks`` rows); one work
    unit per field, as ``chip_cell_types``."""
    return _chip_classify(store_path, tracks, classifier, "apoptosis", model_version, pool)


__all__ = ["CELL_DEATH_COLUMNS", "CELL_TYPE_COLUMNS", "MODEL_NAMES", "Classifier", "PredictFn", "as_classifier",
           "build_classifier_fn", "cell_deaths_table", "cell_types_table", "chip_cell_deaths", "chip_cell_types",
           "chip_track_sequences", "classify_field", "load_classifier"]
