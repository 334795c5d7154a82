"""Training tracks of the re-identification embedding on a segmenter's masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from lftiming_ml.chip.manifest import ChannelRole
from lftiming_ml.classification.config import CLASSIFICATION_CORPUS, ClassifierProfile
from lftiming_ml.classification.data import iter_truth_well_crops, load_chip_tracks
from lftiming_ml.models.manifest import MANIFEST_ARTIFACT
from lftiming_ml.reid.offline import train_bundle
from lftiming_ml.reid.config import reid_profile
from lftiming_ml.reid.engine import _batch, wells_of
from lftiming_ml.reid.segmented import SEGMENTED_MASK, attach_segmented_masks, match_instances, segmented_view
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.corpus import simulate_corpus
from tests.conftest import small_sim_config

PATCH = 24


def disc(shape: tuple[int, int], centre: tuple[float, float], r: float) -> np.ndarray:
    yy, xx = np.indices(shape)
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= r * r


def test_instances_are_matched_one_to_one_above_the_iou_floor() -> None:
    truth = np.stack([disc((40, 40), (10, 10), 5), disc((40, 40), (30, 30), 5)])
    found = np.stack([disc((40, 40), (30, 31), 5),  # cell 1, shifted a pixel
                      disc((40, 40), (10, 10), 5),  # cell 0 exactly
                      disc((40, 40), (12, 13), 5)])  # a worse second candidate for cell 0
    assert sorted(match_instances(truth, found, 0.5)) == [(0, 1), (1, 0)]
    half = disc((40, 40), (10, 10), 5) & (np.indices((40, 40))[1] < 10)
    assert match_instances(truth[:1], half[None], 0.5) == []  # IoU 0.43: left out, not guessed
    assert match_instances(truth, np.zeros((0, 40, 40), bool), 0.5) == []


class ErodedTruth:
    """A stand-in segmenter for some chips: a well's true amodal masks eroded by a pixel (the
    well recognised by its phase crops), with, in each chip's first well holding cells at
    frame 0, the first of them missed in frame 0 (``missed``: (field, row, col, cell id))."""

    def __init__(self, *chips: Path) -> None:
        self.wells: dict[bytes, tuple[np.ndarray, bool]] = {}
        self.missed: set[tuple[str, int, int, int]] = set()
        for chip in chips:
            done = False
            for w in iter_truth_well_crops(chip, (ChannelRole.phase,)):
                present = np.flatnonzero(w.amodal[0].reshape(w.amodal.shape[1], -1).any(1))
                first = not done and present.size > 0
                if first:
                    self.missed.add((w.field_id, w.row, w.col, w.cell_ids[present[0]]))
                    done = True
                self.wells[self.key(w.crops[ChannelRole.phase])] = (w.amodal, first)
        self.calls = 0

    @staticmethod
    def key(crops: np.ndarray) -> bytes:
        return np.clip(crops, 0, 65535).astype(np.uint16).tobytes()

    def __call__(self, crops: np.ndarray) -> list[np.ndarray]:
        amodal, first = self.wells[self.key(crops)]
        out = []
        for t in range(len(amodal)):
            present = amodal[t].reshape(amodal.shape[1], -1).any(1)
            masks = binary_erosion(amodal[t][present], structure=np.ones((1, 3, 3), bool))
            out.append(masks[1:] if first and t == 0 else masks)
        self.calls += 1
        return out


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reid-seg") / "chip"
    simulate_chip(path, small_sim_config(seed=24, n_frames=6))
    return path


def test_every_view_gets_the_segmenter_s_mask_where_it_matched_the_cell(chip: Path) -> None:
    profile = ClassifierProfile(patch_size=PATCH, frame_step=1)
    tracks = load_chip_tracks(chip, profile=profile)
    seg = ErodedTruth(chip)
    matched, total = attach_segmented_masks(chip, tracks, seg)
    assert seg.calls == len(seg.wells) and len(seg.missed) == 1
    assert total == sum(len(t) for t in tracks) and matched == total - 1  # one cell missed in one frame
    for t in tracks:
        key = (t.meta["field_id"], t.meta["row"], t.meta["col"], t.meta["track_id"])
        second = t.meta[SEGMENTED_MASK]
        assert second.shape == t.mask.shape
        area, area2 = t.mask.sum(axis=(1, 2)), second.sum(axis=(1, 2))
        if key in seg.missed:  # frame 0 keeps the true mask (not guessed), the rest are eroded
            assert area2[0] == area[0] and (area2[1:] < area[1:]).all()
        else:
            assert (area2 < area).all()
        view = segmented_view(t)
        assert view.mask is second and view.frames is t.frames and t.mask is not second
    other = load_chip_tracks(chip, profile=profile)
    other[0].meta["chip_id"] = chip.name
    other[0].meta["row"] = 99  # a track of no truth well
    with pytest.raises(ValueError, match="no truth well to segment"):
        attach_segmented_masks(chip, other[:1], seg)


def test_training_views_take_the_second_mask_for_the_stated_share(chip: Path) -> None:
    profile = ClassifierProfile(patch_size=PATCH, frame_step=1)
    tracks = load_chip_tracks(chip, profile=profile)
    for t in tracks:
        t.meta[SEGMENTED_MASK] = np.zeros_like(t.mask)  # empty second masks: a view that took one has no mask channel
    wells = wells_of(tracks)

    def empty_share(share: float) -> float:
        prof = reid_profile("cpu", patch_size=PATCH, wells_per_batch=8, segmented_mask_share=share, jitter_px=0,
                            mask_jitter=False, mask_weight=1.0)
        x, _, _ = _batch(wells, prof, np.random.default_rng(0))
        return float((x[:, 1].flatten(1).sum(1) == 0).float().mean())

    assert empty_share(0.0) == 0.0 and empty_share(1.0) == 1.0
    assert 0.3 < empty_share(0.5) < 0.7


def test_a_bundle_trained_on_segmented_masks_says_so_and_is_scored_on_them(tmp_path: Path) -> None:
    corpus = CLASSIFICATION_CORPUS.replace(presets=("standard",), n_chips=2, n_frames=6)
    light = {"channels": (8, 16), "embedding_dim": 8, "wells_per_batch": 4, "max_steps": 4, "patch_size": PATCH}

    chips = simulate_corpus(corpus, tmp_path / "corpus")  # what train_bundle reads (simulated once, reused)
    bundle = train_bundle(corpus=corpus, corpus_root=tmp_path / "corpus", overrides=light, device="cpu",
                          segment=ErodedTruth(*chips), segmenter={"model": "eroded-truth"})
    manifest = json.loads(bundle.artifacts[MANIFEST_ARTIFACT])
    assert bundle.params["segmented_frames_matched"] > 0
    assert 0.0 <= bundle.metrics["val_segmented_verification"] <= 1.0
    assert bundle.run_name.endswith("+segmented")
    assert manifest["mixing"]["segmented_by"] == {"model": "eroded-truth"}
    matched, total = manifest["mixing"]["segmented_frames_matched"]
    assert 0 < matched < total and manifest["mixing"]["segmented_view_share"] == 0.5
