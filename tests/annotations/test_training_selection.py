"""Curated labels as training data: a selection is fixed to one stored version (a version
the chip never had is refused, naming it), filtered by provenance, and turned into
segmentation samples and classifier tracks that hold exactly the records' labels."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lftiming_ml.annotations.schema import LabelSource, TrackLabel
from lftiming_ml.annotations.selection import resolve_selection, select_labels
from lftiming_ml.annotations.store import read_well, write_wells
from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.classification.annotated import annotated_tracks
from lftiming_ml.classification.config import ClassifierProfile
from lftiming_ml.classification.labels import EFFECTOR, TARGET, UNLABELLED
from lftiming_ml.corpus import AnnotationCorpus, AnnotationSelection, mix_parts
from lftiming_ml.segmentation.annotated import annotated_samples
from lftiming_ml.segmentation.config import CorpusSampling
from lftiming_ml.store.layout import ChipStore, DataLayout
from lftiming_ml.store.movies import open_well_phase
from lftiming_ml.truth.annotations import simulator_records
from tests.annotations.conftest import CHIP_ID


@pytest.fixture
def annotated(chip: ChipStore) -> tuple[ChipStore, str]:
    """The chip with its truth as records (provenance simulator); one track of one well
    relabelled by a person, so the versions hold two provenances."""
    records = simulator_records(chip)
    first = records[0]
    human = LabelSource.now("human:ann")
    sources = (*first.sources, human)
    mask_source = first.mask_source.copy()
    mask_source[first.mask_source[:, 0] >= 0, 0] = len(first.sources)
    tracks = (TrackLabel(0, "target" if first.tracks[0].cell_type == "effector" else "effector", human,
                         3, human, first.tracks[0].parent), *first.tracks[1:])
    records[0] = replace(first, sources=sources, mask_source=mask_source, tracks=tracks)
    return chip, write_wells(chip, records).version


def test_selections_parse_and_a_bad_one_is_refused() -> None:
    s = AnnotationSelection.parse("chip-7@0123abcd", provenances=("human", "fluorescence"))
    assert (s.chip_id, s.version, s.split) == ("chip-7", "0123abcd", "train")
    assert s.matches("human:alice") and s.matches("fluorescence") and not s.matches("model:locsnet@3")
    with pytest.raises(ValueError, match="is not CHIP or CHIP@VERSION"):
        AnnotationSelection.parse("chip-7@xyz")
    with pytest.raises(ValueError, match="must start with one of"):
        AnnotationSelection(chip_id="c", provenances=("robot",))
    with pytest.raises(ValueError, match="selected twice"):
        AnnotationCorpus.from_specs(["c", "c@0123abcd"])


def test_mixing_draws_the_stated_share() -> None:
    mixed, counts = mix_parts(list(range(90)), ["a", "b", "c"], 0.25, seed=1)
    assert len(mixed) == 93 and sum(isinstance(x, str) for x in mixed) == counts["annotated_drawn"] == 23
    assert set(x for x in mixed if isinstance(x, str)) == {"a", "b", "c"}  # each annotated sample drawn, repeated
    assert counts["share_drawn"] == pytest.approx(23 / 93)
    assert mix_parts([1, 2], ["a"], None)[0] == [1, 2, "a"]
    with pytest.raises(ValueError, match="give no sample"):
        mix_parts([1, 2], [], 0.5)


def test_a_version_the_chip_never_had_is_refused_naming_it(annotated: tuple[ChipStore, str],
                                                            data_root) -> None:
    chip, version = annotated
    layout = DataLayout(data_root)
    resolved = resolve_selection(layout, AnnotationSelection(chip_id=CHIP_ID))
    assert resolved.version == version and resolved.selection.version == version  # current, recorded
    assert resolve_selection(layout, AnnotationSelection.parse(f"{CHIP_ID}@{version[:10]}")).version == version
    with pytest.raises(AnnotationError, match=f"{CHIP_ID}@deadbeef00: deadbeef00 is not one of the chip's "
                                              f"annotations versions \\({version[:12]}\\)"):
        resolve_selection(layout, AnnotationSelection.parse(f"{CHIP_ID}@deadbeef00"))
    with pytest.raises(AnnotationError, match="the chip has no annotations"):
        resolve_selection(layout, AnnotationSelection(chip_id="other-chip"))


def test_provenance_filter_keeps_only_its_labels_and_marks_incomplete_frames(annotated: tuple[ChipStore, str],
                                                                             data_root) -> None:
    chip, _ = annotated
    resolved = resolve_selection(DataLayout(data_root), AnnotationSelection(chip_id=CHIP_ID, provenances=("human",)))
    described = resolved.describe()
    assert set(described["labels"]) == {"human:ann"} and described["labels"]["human:ann"]["cell_type"] == 1
    assert described["records"] == resolved.manifest.wells
    record = read_well(chip, sorted(resolved.manifest.wells)[0])
    filtered, complete = select_labels(record, resolved.selection)
    assert filtered.masks[:, 0].any() and not filtered.masks[:, 1:].any()
    other_cells = record.masks[:, 1:].any(axis=(1, 2, 3))
    np.testing.assert_array_equal(complete, ~other_cells)  # frames showing a simulator-labelled cell are not complete
    assert filtered.tracks[0].cell_type is not None and all(t.cell_type is None for t in filtered.tracks[1:])


def test_annotated_samples_are_the_records_on_the_well_movies(annotated: tuple[ChipStore, str], data_root) -> None:
    chip, version = annotated
    resolved = resolve_selection(DataLayout(data_root), AnnotationSelection(chip_id=CHIP_ID))
    samples = annotated_samples(resolved, sampling=CorpusSampling(crop_size=96))
    n_expected = sum(int(read_well(chip, w).masks.any(axis=(2, 3)).any(axis=1).sum()) for w in resolved.manifest.wells)
    assert len(samples) == n_expected > 0
    s = samples[len(samples) // 2]
    record = read_well(chip, f"{s.meta['field_id']}/r{s.meta['row']}c{s.meta['col']}")
    phase, _ = open_well_phase(chip.zarr_path, s.meta["field_id"], s.meta["row"], s.meta["col"])
    np.testing.assert_array_equal(s.image, phase[s.meta["frame"]])
    present = record.masks[s.meta["frame"]].any(axis=(1, 2))
    np.testing.assert_array_equal(s.masks, record.masks[s.meta["frame"]][present])
    assert s.meta["source"] == "annotations" and s.meta["annotations_version"] == version
    padded = annotated_samples(resolved, sampling=CorpusSampling(crop_size=112))[len(samples) // 2]
    assert padded.image.shape == (112, 112) and padded.masks.sum() == s.masks.sum()


def test_annotated_tracks_carry_the_records_types_and_deaths(annotated: tuple[ChipStore, str], data_root) -> None:
    chip, _ = annotated
    resolved = resolve_selection(DataLayout(data_root), AnnotationSelection(chip_id=CHIP_ID))
    tracks = annotated_tracks(resolved, profile=ClassifierProfile(patch_size=24))
    records = {w: read_well(chip, w) for w in resolved.manifest.wells}
    assert len(tracks) == sum(r.n_tracks for r in records.values())
    for t in tracks:
        label = records[f"{t.meta['field_id']}/r{t.meta['row']}c{t.meta['col']}"].tracks[t.meta["track_id"]]
        assert t.cell_type == {"effector": EFFECTOR, "target": TARGET, None: UNLABELLED}[label.cell_type]
        later = t.frames[t.frames >= label.death_frame] if label.death_frame is not None else []
        assert t.label_death_frame == (int(later[0]) if len(later) else None)
    assert any(t.label_death_frame is not None for t in tracks) and t.phase.shape[-1] == 24
    # the simulator's labels only: the person's track (masks, type, death) is not there at all
    sim_only = resolve_selection(DataLayout(data_root),
                                 AnnotationSelection(chip_id=CHIP_ID, provenances=("simulator",)))
    well = sorted(resolved.manifest.wells)[0]
    kept = {t.meta["track_id"] for t in annotated_tracks(sim_only, profile=ClassifierProfile(patch_size=24))
            if f"{t.meta['field_id']}/r{t.meta['row']}c{t.meta['col']}" == well}
    assert kept == set(range(1, records[well].n_tracks))
