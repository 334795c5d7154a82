"""Training recipe of the re-identification embedding (``train_reid``) and its score
(``verification_accuracy``), on truth tracks of simulated chips.

Training views are drawn per well: every cell of a drawn well is a class, ``views_per_cell``
frames of it (within ``frame_window``) its positives, shifted by up to ``jitter_px`` and with
masks grown or shrunk by a pixel, as a segmenter's are, in one of the 8 symmetries of the square.
A track that carries a segmenter's masks too (``segmented``) gives each view either mask
(``segmented_mask_share`` of them the segmenter's).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.ndimage import binary_dilation, binary_erosion

from lftiming_ml.classification.sequences import TrackSequence
from lftiming_ml.models.init import InitWeights, apply_init
from lftiming_ml.models.training import pick_device
from lftiming_ml.reid.config import MODEL_NAME, ReidProfile, registry_config
from lftiming_ml.reid.losses import supervised_contrastive_loss
from lftiming_ml.reid.model import ReidNet, embed_inputs, stack_inputs
from lftiming_ml.reid.segmented import SEGMENTED_MASK

LogFn = Callable[[int, dict[str, float]], None]
"""``log_fn(step, row)``, called with every history row."""


def _wells(tracks: Sequence[TrackSequence], min_len: int) -> list[list[TrackSequence]]:
    """Tracks of at least ``min_len`` frames grouped by well; wells with two or more of them."""
    by: dict[tuple, list[TrackSequence]] = defaultdict(list)
    for t in tracks:
        if len(t) >= min_len:
            by[(t.meta["chip_id"], t.meta["field_id"], t.meta["row"], t.meta["col"])].append(t)
    return [v for v in by.values() if len(v) >= 2]


def wells_of(tracks: Sequence[TrackSequence]) -> list[list[TrackSequence]]:
    """The wells training draws from: tracks of two or more frames grouped by well, wells
    with two or more of them."""
    return _wells(tracks, 2)


def _check_patches(tracks: Sequence[TrackSequence], profile: ReidProfile) -> None:
    sizes = {t.phase.shape[-1] for t in tracks}
    if sizes - {profile.patch_size}:
        raise ValueError(f"re-identification profile {profile.name!r} wants {profile.patch_size} px patches, "
                         f"the tracks have {sorted(sizes)} px (cut them with the same patch_size)")


INIT_INPUT_FIELDS = ("patch_size", "phase_gain", "mask_weight", "outside_weight", "mask_dilation_px")
"""Profile fields a fine-tuning init must share with the run (``models.init.apply_init``)."""


def well_draw_probabilities(wells: list[list[TrackSequence]], annotation_share: float | None) -> np.ndarray | None:
    """Per well the probability of being drawn into a batch: None (uniform) without a share;
    else the wells whose tracks come from annotations (``meta['source']``) share
    ``annotation_share`` equally, the simulated ones the rest. ValueError when a share asks
    for a kind of well that is missing."""
    if annotation_share is None:
        return None
    annotated = np.array([w[0].meta.get("source") == "annotations" for w in wells])
    n_ann, n_sim = int(annotated.sum()), int((~annotated).sum())
    if (annotation_share > 0 and n_ann == 0) or (annotation_share < 1 and n_sim == 0):
        raise ValueError(f"annotation share {annotation_share}: {n_ann} annotated and {n_sim} simulated wells "
                         "with two or more tracks")
    return np.where(annotated, annotation_share / max(n_ann, 1), (1 - annotation_share) / max(n_sim, 1))


def _batch(wells: list[list[TrackSequence]], profile: ReidProfile, rng: np.random.Generator,
           p: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Views (float[V, 2, P, P]), their cell labels and their well (group) index in the batch."""
    xs, ys, gs, label = [], [], [], 0
    draws = rng.choice(len(wells), size=profile.wells_per_batch) if p is None else \
        rng.choice(len(wells), size=profile.wells_per_batch, p=p)
    for g, wi in enumerate(draws):
        for t in wells[wi]:
            centre = int(rng.integers(len(t)))
            idx = np.clip(centre + rng.integers(-profile.frame_window, profile.frame_window + 1,
                                                profile.views_per_cell), 0, len(t) - 1)
            phase, masks = t.phase[idx], t.mask[idx]
            second = t.meta.get(SEGMENTED_MASK)
            if second is not None and profile.segmented_mask_share > 0:  # views on either mask are positives
                use = rng.random(len(idx)) < profile.segmented_mask_share
                masks = np.where(use[:, None, None], second[idx], masks)
            if profile.jitter_px:
                dy, dx = rng.integers(-profile.jitter_px, profile.jitter_px + 1, 2)
                phase, masks = np.roll(phase, (dy, dx), axis=(1, 2)), np.roll(masks, (dy, dx), axis=(1, 2))
            if profile.mask_jitter:
                change = rng.integers(-1, 2)
                if change:
                    grow = binary_dilation if change > 0 else binary_erosion
                    masks = grow(masks, structure=np.ones((1, 3, 3), bool))
            x = stack_inputs(phase, masks, profile)
            for v in x:  # the 8 symmetries of the square: a cell's identity does not depend on pose
                v = np.rot90(v, int(rng.integers(4)), axes=(1, 2))
                xs.append(v[:, :, ::-1] if rng.random() < 0.5 else v)
                ys.append(label)
                gs.append(g)
            label += 1
    return torch.from_numpy(np.ascontiguousarray(np.stack(xs))), torch.tensor(ys), torch.tensor(gs)


def train_reid(profile: ReidProfile, train_tracks: Sequence[TrackSequence], *,
               device: str | torch.device | None = "auto", log_fn: LogFn | None = None,
               init: InitWeights | None = None, annotation_share: float | None = None,
               ) -> tuple[ReidNet, list[dict[str, float]]]:
    """Train from scratch (or from ``init``'s weights: the same architecture or
    ``models.init.InitMismatchError``) for ``profile.train_seconds`` (or ``max_steps``) on
    truth tracks (``classification.data.load_chip_tracks`` cut with ``patch_size``) and
    curated ones (``classification.annotated``), drawing wells as
    ``well_draw_probabilities(annotation_share)`` says. History: one row per 50 steps and
    one at the end (step, loss, seconds, the learning rate after the step)."""
    _check_patches(train_tracks, profile)
    wells = wells_of(train_tracks)
    if not wells:
        raise ValueError("re-identification training needs wells with at least two cells; the corpus has none")
    p = well_draw_probabilities(wells, annotation_share)
    torch.manual_seed(profile.seed)
    rng = np.random.default_rng(profile.seed)
    dev = pick_device(device)
    net = ReidNet(profile)
    if init is not None:
        apply_init(net, init, config=registry_config(profile), input_fields=INIT_INPUT_FIELDS, what=MODEL_NAME)
    net = net.to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=profile.lr, weight_decay=profile.weight_decay)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=profile.max_steps)
             if profile.lr_schedule == "cosine" else None)
    history: list[dict[str, float]] = []
    start, losses = time.perf_counter(), []
    for step in range(1, profile.max_steps + 1):
        net.train()
        x, y, g = _batch(wells, profile, rng, p)
        loss = supervised_contrastive_loss(net(x.to(dev)), y.to(dev), profile.temperature,
                                           g.to(dev) if profile.negatives == "well" else None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(float(loss.detach()))
        elapsed = time.perf_counter() - start
        if step % 50 == 0 or elapsed >= profile.train_seconds or step == profile.max_steps:
            row = {"step": float(step), "loss": float(np.mean(losses)), "seconds": elapsed,
                   "lr": float(opt.param_groups[0]["lr"])}
            history.append(row)
            losses = []
            if log_fn:
                log_fn(step, row)
        if elapsed >= profile.train_seconds:
            break
    return net.eval(), history


def embed_tracks(net: ReidNet, tracks: Sequence[TrackSequence], *,
                 device: str | torch.device | None = "auto") -> dict[int, np.ndarray]:
    """id(track) -> ``float32[len(track), D]`` embeddings of its patches."""
    dev = pick_device(device)
    net.to(dev).eval()
    return {id(t): embed_inputs(net, stack_inputs(t.phase, t.mask, net.profile), dev) for t in tracks}


def verification_accuracy(net: ReidNet, tracks: Sequence[TrackSequence], *, anchor_frames: int = 4,
                          same_type_only: bool = True, device: str | torch.device | None = "auto") -> dict[str, float]:
    """How often a cell's next frame is closer to its own recent appearance than another
    cell of its well (of the same true type) at that frame is: the choice the tracker faces.

    Per ordered pair (a, b) of cells of a well and frame f where a has the ``anchor_frames``
    frames before f: anchor = mean embedding of a over those frames; correct when
    |anchor - e_a(f)| < |anchor - e_b(f)|. The same test with the mask area (|log A| to the
    anchor's median area) is returned alongside as the baseline cue.
    """
    embeds = embed_tracks(net, tracks, device=device)
    ok = ok_area = n = 0
    for well in _wells(tracks, anchor_frames + 1):
        for a in well:
            fa = {int(f): i for i, f in enumerate(a.frames)}
            for b in well:
                if a is b or (same_type_only and a.true_type != b.true_type):
                    continue
                fb = {int(f): i for i, f in enumerate(b.frames)}
                for f in a.frames[anchor_frames:]:
                    f = int(f)
                    past = [fa.get(f - k) for k in range(1, anchor_frames + 1)]
                    if f not in fb or any(p is None for p in past):
                        continue
                    anchor = embeds[id(a)][past].mean(0)
                    ea, eb = embeds[id(a)][fa[f]], embeds[id(b)][fb[f]]
                    ok += np.linalg.norm(anchor - ea) < np.linalg.norm(anchor - eb)
                    ref = np.median([a.mask[p].sum() for p in past])
                    da = abs(np.log(max(a.mask[fa[f]].sum(), 1) / max(ref, 1)))
                    db = abs(np.log(max(b.mask[fb[f]].sum(), 1) / max(ref, 1)))
                    ok_area += da < db
                    n += 1
    return {"verification": ok / n if n else float("nan"), "verification_area": ok_area / n if n else float("nan"),
            "verification_pairs": float(n)}
