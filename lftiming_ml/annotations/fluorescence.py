"""Free segmentation labels from the dye channels: per-cell instance masks, each with a
quality score; doubtful cells are left out, not guessed (paper 2.4's labels from
fluorescence, here for the segmenter as ``classification.labels`` does for the classifiers).

A membrane dye (PKH67 on effectors, PKH26 on targets) makes a labelled cell a bright,
blurred, filled region in its channel. Per frame and dye channel (``dye_cells``):

1. background level and noise: median and robust sd (1.4826 MAD) of the crop, in the raw
   channel and after a Gaussian blur of ``smooth_px``;
2. candidates: blurred pixels ``candidate_z`` robust sds above the background, holes filled,
   specks under ``min_area_um2`` / 4 dropped;
3. touching cells of one dye are split by a watershed on the distance transform of the
   candidate region, seeded by the phase model's instances where given (each instance's
   core inside the region), else by the distance maxima at least ``split_min_distance_um``
   apart;
4. each basin's boundary is put where the dye falls to ``edge_fraction`` of the cell's own
   level above the background (half maximum of a blurred filled disc is its edge), holes
   filled, the largest piece kept, clipped to the well interior.

Quality, per cell in [0, 1], the minimum of: contrast (level in robust sds of the raw
channel, 0 at ``low_z``, 1 at ``high_z``: a dye drop-out cell scores 0), shape (solidity, 0
at ``min_solidity``, 1 at ``good_solidity``: two cells left in one region score low),
split (1 for a region holding one cell; for a split one the IoU with the phase instance
that seeded it, 0 at ``min_seed_iou``, 1 at ``good_seed_iou``; ``unseeded_split_quality``
when split without a phase seed); times 0 when the area is outside ``[min_area_um2,
max_effector_area_um2]`` (effector dye) or ``[min_area_um2, max_target_area_um2]`` (target
dye; a clump of cells left unsplit is larger) or the cell touches the crop border. Cells at or above ``min_quality`` are
kept.

A kept frame must be complete (``whole_frames``): a cell missing from a labelled frame
would teach the segmenter that it is background, so a frame with any doubtful cell, or with
a phase instance that no kept cell covers (``phase_cover``: e.g. a cell without dye), is
left out whole. Kept cells are linked over frames per dye by the Hungarian method on
centroid distance (``max_link_um``, gaps of up to ``max_gap_frames``); identities are a
best effort, the masks and types are the labels. Pure numpy/scipy/scikit-image on one well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from skimage.feature import peak_local_max
from skimage.measure import regionprops
from skimage.segmentation import watershed

DYES = ("effector_dye", "target_dye")
"""Channel roles that label cells, in the order of ``CELL_TYPE_OF_DYE``."""
CELL_TYPE_OF_DYE = {"effector_dye": "effector", "target_dye": "target"}


class FluorescenceLabelParams(BaseModel):
    """How dye channels become instance masks and when a cell is doubtful (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    smooth_px: float = Field(1.0, ge=0, description="Gaussian blur (crop px) before finding candidates.")
    candidate_z: float = Field(5.0, gt=0, description="Candidate pixels: blurred dye this many robust sds above the background.")
    level_percentile: float = Field(90.0, gt=0, le=100, description="A cell's dye level: this percentile of its region (its plateau, not the blurred rim).")
    edge_fraction: float = Field(0.5, gt=0, lt=1, description="Cell edge at this fraction of the cell's level above the background.")
    split_min_distance_um: float = Field(4.0, gt=0, description="Distance maxima seeding a split without phase seeds are at least this far apart (um).")
    low_z: float = Field(10.0, description="Contrast quality 0 at this level (robust sds of the raw channel).")
    high_z: float = Field(30.0, description="Contrast quality 1 from this level on.")
    min_solidity: float = Field(0.85, gt=0, le=1, description="Shape quality 0 at this solidity (area / convex area).")
    good_solidity: float = Field(0.93, gt=0, le=1, description="Shape quality 1 from this solidity on.")
    min_seed_iou: float = Field(0.5, ge=0, le=1, description="Split quality 0 at this IoU with the seeding phase instance.")
    good_seed_iou: float = Field(0.8, ge=0, le=1, description="Split quality 1 from this IoU on.")
    unseeded_split_quality: float = Field(0.3, ge=0, le=1, description="Quality of a cell split from others without a phase seed.")
    min_area_um2: float = Field(12.0, gt=0, description="Smallest plausible cell (um^2; a 4 um disc).")
    max_effector_area_um2: float = Field(110.0, gt=0, description="Largest plausible effector (um^2; a 12 um disc): a larger effector-dye region is cells left together.")
    max_target_area_um2: float = Field(260.0, gt=0, description="Largest plausible target (um^2; an 18 um disc).")
    min_quality: float = Field(0.5, ge=0, le=1, description="Cells below this quality are doubtful and left out.")
    whole_frames: bool = Field(True, description="Leave a frame out whole when any of its cells is doubtful or a phase instance is not covered.")
    phase_cover: float = Field(0.5, gt=0, le=1, description="A phase instance counts as covered when a kept cell holds this share of it.")
    max_link_um: float = Field(40.0, gt=0, description="Largest centroid step (um) a track may take between its frames.")
    max_gap_frames: int = Field(3, ge=0, description="Frames a track may miss (left out or doubtful) and still be continued.")


@dataclass(frozen=True)
class DyeCell:
    """One cell found in a dye channel at one frame: ``mask (bool[S, S])``, its quality and
    the measurements behind it (``contrast_z`` robust sds, ``area_um2``, ``solidity``,
    ``split``: shared a region with another cell, ``seed_iou``: IoU with the phase instance
    that seeded it, NaN if none)."""

    mask: np.ndarray
    quality: float
    contrast_z: float
    area_um2: float
    solidity: float
    split: bool
    seed_iou: float

    def kept(self, params: FluorescenceLabelParams) -> bool:
        return self.quality >= params.min_quality


def robust_background(image: np.ndarray) -> tuple[float, float]:
    """``(median, 1.4826 MAD)`` of ``image (float[S, S])``, the sd at least 1e-6."""
    bg = float(np.median(image))
    return bg, max(1.4826 * float(np.median(np.abs(image - bg))), 1e-6)


def _ramp(value: float, lo: float, hi: float) -> float:
    return float(np.clip((value - lo) / max(hi - lo, 1e-12), 0.0, 1.0))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _markers(region: np.ndarray, distance: np.ndarray, seeds: np.ndarray, min_distance_px: int
             ) -> tuple[np.ndarray, dict[int, int]]:
    """Watershed markers (int32[S, S]) and marker -> seed index (phase instance) for seeded ones."""
    markers = np.zeros(region.shape, np.int32)
    seed_of: dict[int, int] = {}
    labels, n = ndimage.label(region)
    nxt = 1
    for comp in range(1, n + 1):
        inside = labels == comp
        used = False
        for s in range(len(seeds)):
            core = ndimage.binary_erosion(seeds[s], iterations=1) & inside & (markers == 0)
            if core.sum() >= 4 and (seeds[s] & inside).sum() >= 0.5 * seeds[s].sum():
                markers[core] = nxt
                seed_of[nxt] = s
                nxt, used = nxt + 1, True
        if used:
            continue
        peaks = peak_local_max(np.where(inside, distance, 0), min_distance=min_distance_px, exclude_border=False,
                               labels=inside.astype(np.int32))
        if len(peaks) == 0:
            peaks = np.argwhere(inside)[:1]
        for y, x in peaks:
            markers[y, x] = nxt
            nxt += 1
    return markers, seed_of


def dye_cells(image: np.ndarray, *, um_per_px: float, seeds: np.ndarray | None = None,
              well_box: tuple[float, float, float, float] | None = None, dye: str = "target_dye",
              params: FluorescenceLabelParams = FluorescenceLabelParams()) -> list[DyeCell]:
    """The cells of one dye channel at one frame, doubtful ones included (``DyeCell.kept``).

    image (uint16|float[S, S]): the dye channel's well crop (of role ``dye``, which sets the
    largest plausible cell); um_per_px: its pixel size;
    seeds (bool[N, S, S] | None): the phase model's instances at this frame, same crop px;
    well_box: ``(y0, x0, y1, x1)`` interior in crop px (edge positions), masks are clipped to it.
    """
    img = np.asarray(image, np.float64)
    seeds = np.zeros((0, *img.shape), bool) if seeds is None else np.asarray(seeds, bool)
    bg, sd = robust_background(img)
    smooth = ndimage.gaussian_filter(img, params.smooth_px) if params.smooth_px else img
    bg_s, sd_s = robust_background(smooth)
    px_area = um_per_px ** 2
    max_area = params.max_effector_area_um2 if dye == "effector_dye" else params.max_target_area_um2
    region = ndimage.binary_fill_holes(smooth > bg_s + params.candidate_z * sd_s)
    labels, n = ndimage.label(region)
    if n == 0:
        return []
    sizes = ndimage.sum(region, labels, range(1, n + 1))
    region = np.isin(labels, 1 + np.flatnonzero(sizes * px_area >= params.min_area_um2 / 4))
    if not region.any():
        return []
    inside_well = np.ones(img.shape, bool)
    if well_box is not None:
        y0, x0, y1, x1 = well_box
        cy, cx = np.arange(img.shape[0]) + 0.5, np.arange(img.shape[1]) + 0.5
        inside_well = ((cy >= y0) & (cy <= y1))[:, None] & ((cx >= x0) & (cx <= x1))[None, :]
    distance = ndimage.distance_transform_edt(region)
    markers, seed_of = _markers(region, distance, seeds,
                                max(1, int(round(params.split_min_distance_um / um_per_px))))
    basins = watershed(-distance, markers, mask=region)
    components, _ = ndimage.label(region)
    cells_in_component = {c: len(np.unique(basins[components == c])) for c in np.unique(components[region])}
    out = []
    for label in range(1, int(basins.max()) + 1):
        basin = basins == label
        if not basin.any():
            continue
        level = float(np.percentile(img[basin], params.level_percentile))
        mask = basin & (img > bg + params.edge_fraction * (level - bg))
        mask = ndimage.binary_fill_holes(mask) & inside_well
        pieces, k = ndimage.label(mask)
        if k == 0:
            continue
        if k > 1:
            mask = pieces == 1 + int(np.argmax(ndimage.sum(mask, pieces, range(1, k + 1))))
        contrast_z = (level - bg) / sd
        area_um2 = float(mask.sum() * px_area)
        solidity = float(regionprops(mask.astype(np.uint8))[0].solidity)
        split = cells_in_component[int(components[basin][0])] > 1
        seed_iou = _iou(mask, seeds[seed_of[label]]) if label in seed_of else float("nan")
        if not split:
            split_q = 1.0
        elif label in seed_of:
            split_q = _ramp(seed_iou, params.min_seed_iou, params.good_seed_iou)
        else:
            split_q = params.unseeded_split_quality
        on_border = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        plausible = params.min_area_um2 <= area_um2 <= max_area and not on_border
        quality = min(_ramp(contrast_z, params.low_z, params.high_z),
                      _ramp(solidity, params.min_solidity, params.good_solidity), split_q) * float(plausible)
        out.append(DyeCell(mask, quality, float(contrast_z), area_um2, solidity, bool(split), seed_iou))
    return out


def frame_complete(cells: list[DyeCell], seeds: np.ndarray | None,
                   params: FluorescenceLabelParams = FluorescenceLabelParams()) -> bool:
    """Every cell of the frame (both dyes) is kept and every phase instance in ``seeds
    (bool[N, S, S] | None)`` is covered (``phase_cover``) by one kept cell."""
    if any(not c.kept(params) for c in cells):
        return False
    if seeds is None:
        return True
    for seed in np.asarray(seeds, bool):
        area = seed.sum()
        if area and not any((seed & c.mask).sum() >= params.phase_cover * area for c in cells):
            return False
    return True


def link_cells(frames: list[list[np.ndarray]], *, um_per_px: float,
               params: FluorescenceLabelParams = FluorescenceLabelParams()) -> list[list[int]]:
    """Track ids for the masks of one dye over frames: ``frames[t]`` the kept masks
    (bool[S, S]) of frame t; returns ``ids[t][i]`` (0.. in order of appearance). Hungarian on
    centroid distance to each track's last position, at most ``max_link_um`` away and
    ``max_gap_frames`` frames back."""
    last: list[tuple[int, np.ndarray]] = []  # per track: (frame last seen, centroid (y, x) um)
    ids: list[list[int]] = []
    for t, masks in enumerate(frames):
        cents = np.array([np.argwhere(m).mean(0) * um_per_px for m in masks]).reshape(-1, 2)
        open_ = [k for k, (f, _) in enumerate(last) if t - f <= params.max_gap_frames + 1]
        frame_ids = [-1] * len(masks)
        if open_ and len(masks):
            cost = np.linalg.norm(cents[:, None] - np.array([last[k][1] for k in open_])[None], axis=2)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] <= params.max_link_um:
                    frame_ids[r] = open_[c]
        for i, k in enumerate(frame_ids):
            if k < 0:
                frame_ids[i] = k = len(last)
                last.append((t, cents[i]))
            last[k] = (t, cents[i])
        ids.append(frame_ids)
    return ids


@dataclass(frozen=True)
class WellDyeLabels:
    """One well's labels: ``masks (bool[T, K, S, S])`` (slot k = track k, kept frames only),
    ``cell_types`` per track ('effector' | 'target'), and ``cells``: one row per cell found
    (frame, dye, quality and its measurements, kept, frame_kept) for reports."""

    masks: np.ndarray
    cell_types: list[str]
    cells: list[dict]


def well_dye_labels(channels: dict[str, np.ndarray], *, um_per_px: float,
                    seeds: np.ndarray | None = None, well_box: tuple[float, float, float, float] | None = None,
                    params: FluorescenceLabelParams = FluorescenceLabelParams()) -> WellDyeLabels:
    """Labels of one well from its dye channels (``channels``: role -> ``float[T, S, S]``,
    any of ``DYES``) and optionally the phase model's instances per frame (``seeds``:
    ``bool[T, N, S, S]``, empty slots allowed)."""
    roles = [r for r in DYES if r in channels]
    if not roles:
        raise ValueError(f"no dye channel among {sorted(channels)}; expected one of {list(DYES)}")
    n_frames, size = channels[roles[0]].shape[0], channels[roles[0]].shape[-1]
    kept: dict[str, list[list[np.ndarray]]] = {r: [] for r in roles}
    rows: list[dict] = []
    for t in range(n_frames):
        frame_seeds = None
        if seeds is not None:
            frame_seeds = seeds[t][np.asarray(seeds[t]).reshape(len(seeds[t]), -1).any(1)]
        found = {r: dye_cells(channels[r][t], um_per_px=um_per_px, seeds=frame_seeds, well_box=well_box, dye=r,
                              params=params) for r in roles}
        all_cells = [c for r in roles for c in found[r]]
        complete = frame_complete(all_cells, frame_seeds, params) if params.whole_frames else True
        for r in roles:
            kept[r].append([c.mask for c in found[r] if complete and c.kept(params)])
            rows += [{"frame": t, "dye": r, "quality": c.quality, "contrast_z": c.contrast_z, "area_um2": c.area_um2,
                      "solidity": c.solidity, "split": c.split, "seed_iou": c.seed_iou, "kept": c.kept(params),
                      "frame_kept": complete} for c in found[r]]
    slots: list[np.ndarray] = []
    types: list[str] = []
    for r in roles:
        ids = link_cells(kept[r], um_per_px=um_per_px, params=params)
        n_tracks = 1 + max((k for frame in ids for k in frame), default=-1)
        block = np.zeros((n_frames, n_tracks, size, size), bool)
        for t, frame in enumerate(ids):
            for i, k in enumerate(frame):
                block[t, k] = kept[r][t][i]
        slots += [block[:, k] for k in range(n_tracks)]
        types += [CELL_TYPE_OF_DYE[r]] * n_tracks
    masks = np.stack(slots, axis=1) if slots else np.zeros((n_frames, 0, size, size), bool)
    return WellDyeLabels(masks, types, rows)


__all__ = ["CELL_TYPE_OF_DYE", "DYES", "DyeCell", "FluorescenceLabelParams", "WellDyeLabels", "dye_cells",
           "frame_complete", "link_cells", "robust_background", "well_dye_labels"]
