"""Cell re-identification: an appearance embedding for the Eq. 7 link cost.

Why: two effectors of one well are alike in size and run further per 5-min frame than they
are apart, so position, velocity and area cannot keep their identities (the paper names
re-identification cues as the fix, section 3). Each cell of the simulator has its own inner
texture (nucleus, granules) and outline; a small CNN learns to map a phase patch of a cell
to a unit vector that stays close for the same cell across frames and apart for the other
cells of its well (supervised contrastive loss, labels = true cell ids of simulated chips).

The tracker (``linking.state_costs``) adds ``w_appearance * (1 - e_track . e_det)``, where
e_track is the normalised mean embedding of the track's last detections.

Input per detection: the phase patch (``classification.data.normalise_phase``, the
classifiers' normalisation) centred on the centroid, cut out at the detection's mask
dilated by ``mask_dilation_px`` (so a touching neighbour stays out), and the mask, as two
channels of ``patch_size`` px. Training uses the classifiers' corpus (truth tracks with
amodal masks; views shifted and masks grown or shrunk by a pixel, as a segmenter's are);
inference uses the segmenter's masks.

What it buys, measured (README "Benchmarks"): the cpu profile (300 s on 2 cores) verifies
an effector against the other effector of its well 0.89 of the time, and took MOTA on
LOCSNET v2 detections of held-out chips from 0.926 to 0.942. The texture that tells two cells
apart is near the pixel scale at 0.65 um/px; the ``paper`` profile trained on a GPU
(``python -m lftiming_ml.tracking.reid``, 270 s on an H200) verifies 0.96 and is the champion
the README's tracking numbers use.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from scipy.ndimage import binary_dilation, binary_erosion
from torch import nn

from lftiming_ml.classification.config import ClassificationCorpusConfig, classifier_profile
from lftiming_ml.classification.data import (TrackSequence, extract_patches, load_chip_tracks, normalise_phase,
                                             simulate_corpus, split_chips)
from lftiming_ml.models.bundle import TrainingBundle, write_bundle
from lftiming_ml.models.training import device_description, pick_device
from lftiming_ml.tracking.types import WellFrameDetections

if TYPE_CHECKING:  # the registry imports MLflow, which training on a GPU machine need not have
    from lftiming_ml.models.registry import ModelVersionInfo

MODEL_NAME = "reid_embedding"


class ReidProfile(BaseModel):
    """Architecture and training recipe of the re-identification embedding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    patch_size: int = Field(32, ge=8, description="Side of the square phase + mask window (crop px) centred on the cell.")
    phase_gain: float = Field(4.0, gt=0, description="As the classifiers: (intensity / frame median - 1) x gain.")
    channels: tuple[int, ...] = Field((32, 64, 96), description="Conv widths; each stage conv-BN-ReLU-maxpool.")
    embedding_dim: int = Field(32, ge=2)
    mask_weight: float = Field(1.0, ge=0, description="Scale of the mask channel (0: phase only).")
    outside_weight: float = Field(0.0, ge=0, le=1, description="Phase outside the cell's mask dilated by mask_dilation_px is multiplied by this (1: whole window; 0: the cell alone, so a touching neighbour does not enter its embedding).")
    mask_dilation_px: int = Field(2, ge=0, description="Dilation of the mask that bounds the kept phase (the halo).")
    train_seconds: float = Field(300.0, gt=0, description="Wall-clock training budget (the loop stops after it).")
    max_steps: int = Field(4000, ge=1)
    wells_per_batch: int = Field(24, ge=1, description="Wells drawn per batch; every cell of a drawn well is a class.")
    views_per_cell: int = Field(4, ge=2, description="Frames drawn per cell per batch (positives of each other).")
    frame_window: int = Field(6, ge=0, description="Views of a cell are drawn within +- this many frames of one frame.")
    jitter_px: int = Field(2, ge=0, description="Training views are shifted by up to this many px (the segmenter's centroids are not the truth's).")
    mask_jitter: bool = Field(True, description="Training masks are randomly grown or shrunk by one px (the segmenter's masks are not the truth's).")
    negatives: Literal["batch", "well"] = Field("batch", description="Which other cells a view is contrasted with: every cell of the batch, or only the cells of its own well (the tracker's choice among look-alikes). Measured (cpu, 300 s): 'well' verified effector pairs of a held-out corpus chip as well as 'batch' (0.910 vs 0.907) and tracked LOCSNET detections of tuning chips 43/44 no better (MOTA 0.937 vs 0.941).")
    temperature: float = Field(0.1, gt=0)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    seed: int = 0


PROFILES = {
    "cpu": ReidProfile(name="cpu"),
    "paper": ReidProfile(name="paper", patch_size=48, channels=(64, 128, 192, 256), embedding_dim=64,
                         train_seconds=1800.0, max_steps=40000, wells_per_batch=48),
}


def reid_profile(name: str, **overrides: object) -> ReidProfile:
    """The named profile ('cpu' for 2 cores, 'paper' for a GPU) with ``overrides``."""
    if name not in PROFILES:
        raise ValueError(f"unknown re-identification profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name].model_copy(update=overrides)


class ReidNet(nn.Module):
    """Small CNN: 2-channel patch -> L2-normalised embedding."""

    def __init__(self, profile: ReidProfile) -> None:
        super().__init__()
        self.profile = profile
        widths = [2, *profile.channels]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], profile.embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.features(x).mean((2, 3))), dim=1)


def stack_inputs(phase: np.ndarray, masks: np.ndarray, profile: ReidProfile) -> np.ndarray:
    """``float32[n, 2, P, P]`` network input from phase and mask patches ``[n, P, P]``: the
    phase (outside the dilated mask scaled by ``outside_weight``) and the mask channel."""
    phase = np.asarray(phase, np.float32)
    masks = np.asarray(masks, bool)
    if profile.outside_weight < 1:
        keep = masks
        if profile.mask_dilation_px:
            keep = binary_dilation(masks, structure=np.ones((1, 3, 3), bool), iterations=profile.mask_dilation_px)
        phase = np.where(keep, phase, phase * np.float32(profile.outside_weight))
    return np.stack([phase, masks.astype(np.float32) * profile.mask_weight], axis=1)


def supervised_contrastive_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float,
                                 groups: torch.Tensor | None = None) -> torch.Tensor:
    """Khosla et al. (2020): mean log-probability of each view's positives (same label) among
    all other views of the batch (with ``groups``: only those of the same group); ``z`` unit rows."""
    sim = z @ z.T / temperature
    eye = torch.eye(len(labels), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, -1e9)
    if groups is not None:
        sim = sim.masked_fill(groups[:, None] != groups[None, :], -1e9)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    log_p = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    return -((log_p * pos).sum(1) / pos.sum(1).clamp(min=1)).mean()


def _wells(tracks: Sequence[TrackSequence], min_len: int) -> list[list[TrackSequence]]:
    by: dict[tuple, list[TrackSequence]] = defaultdict(list)
    for t in tracks:
        if len(t) >= min_len:
            by[(t.meta["chip_id"], t.meta["field_id"], t.meta["row"], t.meta["col"])].append(t)
    return [v for v in by.values() if len(v) >= 2]


def _check_patches(tracks: Sequence[TrackSequence], profile: ReidProfile) -> None:
    sizes = {t.phase.shape[-1] for t in tracks}
    if sizes - {profile.patch_size}:
        raise ValueError(f"re-identification profile {profile.name!r} wants {profile.patch_size} px patches, "
                         f"the tracks have {sorted(sizes)} px (cut them with the same patch_size)")


def _batch(wells: list[list[TrackSequence]], profile: ReidProfile, rng: np.random.Generator
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Views (float[V, 2, P, P]), their cell labels and their well (group) index in the batch."""
    xs, ys, gs, label = [], [], [], 0
    for g, wi in enumerate(rng.choice(len(wells), size=profile.wells_per_batch)):
        for t in wells[wi]:
            centre = int(rng.integers(len(t)))
            idx = np.clip(centre + rng.integers(-profile.frame_window, profile.frame_window + 1,
                                                profile.views_per_cell), 0, len(t) - 1)
            phase, masks = t.phase[idx], t.mask[idx]
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


def train_reid(profile: ReidProfile, train_tracks: Sequence[TrackSequence], *,
               device: str | torch.device | None = "auto",
               log_fn: Callable[[int, dict[str, float]], None] | None = None) -> tuple[ReidNet, list[dict[str, float]]]:
    """Train from scratch for ``profile.train_seconds`` (or ``max_steps``) on truth tracks
    (``classification.data.load_chip_tracks`` cut with ``patch_size``). History: one row per
    50 steps (step, loss, seconds)."""
    _check_patches(train_tracks, profile)
    wells = _wells(train_tracks, 2)
    if not wells:
        raise ValueError("re-identification training needs wells with at least two cells; the corpus has none")
    torch.manual_seed(profile.seed)
    rng = np.random.default_rng(profile.seed)
    dev = pick_device(device)
    net = ReidNet(profile).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=profile.lr, weight_decay=profile.weight_decay)
    history: list[dict[str, float]] = []
    start, losses = time.perf_counter(), []
    for step in range(1, profile.max_steps + 1):
        net.train()
        x, y, g = _batch(wells, profile, rng)
        loss = supervised_contrastive_loss(net(x.to(dev)), y.to(dev), profile.temperature,
                                           g.to(dev) if profile.negatives == "well" else None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        elapsed = time.perf_counter() - start
        if step % 50 == 0 or elapsed >= profile.train_seconds or step == profile.max_steps:
            row = {"step": float(step), "loss": float(np.mean(losses)), "seconds": elapsed}
            history.append(row)
            losses = []
            if log_fn:
                log_fn(step, row)
        if elapsed >= profile.train_seconds:
            break
    return net.eval(), history


@torch.no_grad()
def _embed(net: ReidNet, x: np.ndarray, device: torch.device, batch: int = 2048) -> np.ndarray:
    out = [net(torch.from_numpy(x[i:i + batch]).to(device)).cpu().numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0, net.profile.embedding_dim), np.float32)


def embed_tracks(net: ReidNet, tracks: Sequence[TrackSequence], *,
                 device: str | torch.device | None = "auto") -> dict[int, np.ndarray]:
    """id(track) -> ``float32[len(track), D]`` embeddings of its patches."""
    dev = pick_device(device)
    net.to(dev).eval()
    return {id(t): _embed(net, stack_inputs(t.phase, t.mask, net.profile), dev) for t in tracks}


def embed_detections(net: ReidNet, phase: np.ndarray, detections: Sequence[WellFrameDetections], *,
                     device: str | torch.device | None = "auto") -> list[WellFrameDetections]:
    """``detections`` of one well movie with ``embeddings`` (float32[n, D]) filled in.

    phase (uint16|float[T, S, S]): the movie's phase channel, in the crop the detections'
    centroids and masks are in. Detections without masks cannot be embedded (ValueError).
    """
    if len(detections) != len(phase):
        raise ValueError(f"{len(detections)} frames of detections for a {len(phase)}-frame movie")
    p = net.profile
    norm = normalise_phase(phase, p.phase_gain)
    dev = pick_device(device)
    net.to(dev).eval()
    patches, owners = [], []
    for t, d in enumerate(detections):
        if d.n == 0:
            continue
        if d.masks is None:
            raise ValueError(f"frame {t}: detections without masks cannot be embedded")
        img, msk = extract_patches(np.repeat(norm[t:t + 1], d.n, axis=0), np.asarray(d.masks, bool), d.centroids,
                                   p.patch_size)
        patches.append(stack_inputs(img, msk, p))
        owners.append((t, d.n))
    emb = _embed(net, np.concatenate(patches), dev) if patches else np.zeros((0, p.embedding_dim), np.float32)
    out, at = list(detections), 0
    for t, n in owners:
        d = detections[t]
        out[t] = WellFrameDetections(d.centroids, d.areas, d.masks, d.cell_types, embeddings=emb[at:at + n])
        at += n
    return out


def registry_config(profile: ReidProfile) -> dict[str, object]:
    """What ``reid_from_registry`` needs to rebuild the network."""
    return {"kind": MODEL_NAME, "profile": profile.model_dump(mode="json")}


def reid_from_registry(state_dict: dict[str, torch.Tensor], config: dict[str, object]) -> ReidNet:
    """Rebuild a logged ``ReidNet`` from its ``registry_config`` and weights."""
    if config.get("kind") != MODEL_NAME:
        raise ValueError(f"registered config is a {config.get('kind')!r}, not a {MODEL_NAME!r}")
    net = ReidNet(ReidProfile.model_validate(config["profile"]))
    net.load_state_dict(state_dict)
    return net.eval()


def train_bundle(
    *, corpus: ClassificationCorpusConfig, corpus_root: Path, profile: str = "cpu",
    overrides: Mapping[str, object] | None = None, log_fn: Callable[[int, dict[str, float]], None] | None = None,
    workers: int = 1, device: str | torch.device | None = "auto",
) -> TrainingBundle:
    """Train the embedding on the classifiers' simulated corpus (simulated once, cached under
    ``corpus_root``, ``workers`` chips at a time; truth tracks, split by chip), score
    ``verification_accuracy`` on the validation chips and return the run as a training
    bundle (``models.bundle``; needs no MLflow): the final history row and the metrics
    carry the validation scores, ``train_seconds`` excludes the data."""
    prof = reid_profile(profile, **dict(overrides or {}))
    cut = classifier_profile("cpu").model_copy(update={"frame_step": 1, "patch_size": prof.patch_size,
                                                       "phase_gain": prof.phase_gain})
    train_dirs, val_dirs = split_chips(simulate_corpus(corpus, corpus_root, workers=workers))
    train_tracks = [t for d in train_dirs for t in load_chip_tracks(d, profile=cut)]
    val_tracks = [t for d in val_dirs for t in load_chip_tracks(d, profile=cut)]
    start = time.perf_counter()
    net, history = train_reid(prof, train_tracks, device=device, log_fn=log_fn)
    seconds = time.perf_counter() - start
    dev = next(net.parameters()).device
    metrics = {f"val_{k}": v for k, v in verification_accuracy(net, val_tracks, device=dev).items()}
    metrics.update({f"val_effector_{k}": v for k, v in verification_accuracy(
        net, [t for t in val_tracks if t.true_type == "effector"], device=dev).items()})
    history[-1].update(metrics)  # the final row carries the validation scores, as the classifiers' epochs do
    metrics.update(train_seconds=seconds, train_steps=history[-1]["step"], final_loss=history[-1]["loss"])
    return TrainingBundle(
        model_name=MODEL_NAME, state_dict={k: v.detach().cpu() for k, v in net.state_dict().items()},
        config=registry_config(prof),
        params={"profile": prof.model_dump(mode="json"), "corpus": corpus.model_dump(mode="json"),
                "n_train_chips": len(train_dirs), "n_val_chips": len(val_dirs), "n_train_tracks": len(train_tracks),
                "n_val_tracks": len(val_tracks), "train_device": device_description(dev)},
        metrics=metrics, history=history, run_name=f"{MODEL_NAME}-{prof.name}-{corpus.n_chips}chips")


def train_and_register(
    *, corpus: ClassificationCorpusConfig, corpus_root: Path, tracking_uri: str, artifact_location: str | None,
    profile: str = "cpu", alias: str = "champion", overrides: Mapping[str, object] | None = None,
    log_fn: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """``train_bundle``, then log the run and register a version of ``MODEL_NAME`` under
    ``alias``. Returns the version, the history and the training time (s, data excluded)."""
    from lftiming_ml.models.registry import register_bundle

    bundle = train_bundle(corpus=corpus, corpus_root=corpus_root, profile=profile, overrides=overrides, log_fn=log_fn)
    info = register_bundle(bundle, tracking_uri=tracking_uri, alias=alias, artifact_location=artifact_location)
    return info, bundle.history, bundle.metrics["train_seconds"]


def load_reid(*, tracking_uri: str, alias: str = "champion") -> tuple[ReidNet, ModelVersionInfo]:
    """The embedding ``alias`` points at (weights read with ``weights_only=True``)."""
    from lftiming_ml.models.registry import load_by_alias

    state_dict, config, info = load_by_alias(tracking_uri=tracking_uri, model_name=MODEL_NAME, alias=alias)
    return reid_from_registry(state_dict, config), info


__all__ = ["MODEL_NAME", "PROFILES", "ReidNet", "ReidProfile", "embed_detections", "embed_tracks", "load_reid", "reid_from_registry",
           "reid_profile", "registry_config", "stack_inputs", "supervised_contrastive_loss", "train_and_register",
           "train_bundle", "train_reid", "verification_accuracy"]


def main(argv: list[str] | None = None) -> int:
    """``python -m lftiming_ml.tracking.reid``: train into a bundle folder, for a GPU machine
    without MLflow; register it where MLflow is with ``lftiming register <bundle>``."""
    p = argparse.ArgumentParser(prog="python -m lftiming_ml.tracking.reid", description=main.__doc__.splitlines()[0])
    p.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    p.add_argument("--n-chips", type=int, default=ClassificationCorpusConfig().n_chips,
                   help="simulated corpus chips (the last quarter validates)")
    p.add_argument("--train-seconds", type=float, default=None, help="override the profile's training budget")
    p.add_argument("--workers", type=int, default=1, help="chips simulated at a time")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--corpus-root", type=Path, required=True, help="where corpus chips are simulated (reused if there)")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write (must not exist)")
    args = p.parse_args(argv)
    if args.out.exists():
        sys.exit(f"{args.out}: exists; choose a new bundle folder")
    overrides = {} if args.train_seconds is None else {"train_seconds": args.train_seconds}

    def log(step: int, row: dict[str, float]) -> None:
        if step % 500 == 0:
            print(json.dumps({k: round(v, 4) for k, v in row.items()}), flush=True)

    bundle = train_bundle(corpus=ClassificationCorpusConfig(n_chips=args.n_chips), corpus_root=args.corpus_root,
                          profile=args.profile, overrides=overrides, log_fn=log, workers=args.workers,
                          device=args.device)
    write_bundle(args.out, bundle)
    m = bundle.metrics
    print(f"wrote {args.out} ({bundle.params['train_device']}, {m['train_seconds']:.0f} s, {m['train_steps']:.0f} steps, "
          f"val_effector_verification {m.get('val_effector_verification', float('nan')):.4f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
