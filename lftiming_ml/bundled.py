"""The trained models that ship in the repository's ``models/`` folder.

One bundle per pipeline model (``models.bundle``: weights stored as float16, the config that
rebuilds the architecture, params, history, metrics) with its card (``models.card``: the
exact command and git commit that trained it, hardware, corpus, held-out scores, sha256 of
every file). ``RECIPES`` says how each one is trained; training runs without MLflow::

    .venv/bin/python -m lftiming_ml.bundled train locsnet          # -> models/locsnet/

``register_bundled`` (what ``make demo`` runs on a fresh clone) checks each card's
checksums, rebuilds the model from its config and loads the weights into it (a bundle
whose weights do not fit its config is refused), and registers it in MLflow with the
alias ``champion``, the tag ``source=bundled`` and the card as params and artifacts.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

from lftiming_ml.models.bundle import BundleError, TrainingBundle, read_bundle, write_bundle
from lftiming_ml.models.card import CARD_JSON, CARD_MD, verify_card, write_card

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO / "models"
PIPELINE_MODELS = ("well_detector", "locsnet", "reid_embedding", "celltype_classifier", "apoptosis_classifier")
"""The models the chip pipeline needs, in the order the demo registers them."""


@dataclass(frozen=True)
class Recipe:
    """How a bundled model is trained: ``train(corpus_dir, log) -> TrainingBundle`` with the
    settings in ``settings`` (shown on the card); ``corpus_dir`` is the cache folder under the
    training root, the same one the model's Dagster asset uses."""

    model_name: str
    corpus_dir: str
    settings: Mapping[str, object]
    train: Callable[[Path, Callable[[str], None]], TrainingBundle] = field(repr=False)


def _well_detector(settings: Mapping[str, object]) -> Callable[[Path, Callable[[str], None]], TrainingBundle]:
    def run(root: Path, log: Callable[[str], None]) -> TrainingBundle:
        from lftiming_ml.wells.detector_config import WELL_DETECTOR_CORPUS, train_config
        from lftiming_ml.wells.offline import train_bundle

        return train_bundle(train=train_config(str(settings["profile"]), **dict(settings["overrides"])),
                            data=WELL_DETECTOR_CORPUS.replace(n_chips=int(settings["n_chips"])), cache_dir=root,
                            workers=int(settings["workers"]),
                            log_fn=lambda e, row: log(f"epoch {e}: loss {row.get('loss', float('nan')):.4f}"))
    return run


def _segmenter(settings: Mapping[str, object]) -> Callable[[Path, Callable[[str], None]], TrainingBundle]:
    def run(root: Path, log: Callable[[str], None]) -> TrainingBundle:
        from lftiming_ml.segmentation.config import SEGMENTATION_CORPUS, CorpusSampling
        from lftiming_ml.segmentation.offline import train_bundle

        corpus = SEGMENTATION_CORPUS.replace(chip_id=str(settings["chip_id"]), n_chips=int(settings["n_chips"]),
                                             n_frames=int(settings["n_frames"]))
        return train_bundle(kind="locsnet", corpus=corpus, sampling=CorpusSampling(frame_step=int(settings["frame_step"])),
                            corpus_root=root, profile=str(settings["profile"]), overrides=dict(settings["overrides"]),
                            workers=int(settings["workers"]),
                            log_fn=lambda e, row: log(f"epoch {e}: loss {row.get('loss', float('nan')):.4f}, "
                                                      f"val mIoU {row.get('val_miou', float('nan')):.4f}"))
    return run


def _reid(settings: Mapping[str, object]) -> Callable[[Path, Callable[[str], None]], TrainingBundle]:
    def run(root: Path, log: Callable[[str], None]) -> TrainingBundle:
        from lftiming_ml.classification.config import CLASSIFICATION_CORPUS
        from lftiming_ml.reid.offline import segment_masks_from_bundle, train_bundle

        by = settings.get("segmented_by")
        segment, segmenter = segment_masks_from_bundle(MODELS_DIR / str(by)) if by else (None, None)
        return train_bundle(corpus=CLASSIFICATION_CORPUS.replace(n_chips=int(settings["n_chips"])), corpus_root=root,
                            profile=str(settings["profile"]), overrides=dict(settings["overrides"]),
                            workers=int(settings["workers"]), segment=segment, segmenter=segmenter,
                            log_fn=lambda s, row: log(f"step {s}: loss {row['loss']:.3f}") if s % 500 == 0 else None)
    return run


def _classifier(task: str, settings: Mapping[str, object]
                ) -> Callable[[Path, Callable[[str], None]], TrainingBundle]:
    def run(root: Path, log: Callable[[str], None]) -> TrainingBundle:
        from lftiming_ml.classification.config import CLASSIFICATION_CORPUS
        from lftiming_ml.classification.offline import train_bundle

        return train_bundle(task=task, corpus=CLASSIFICATION_CORPUS.replace(n_chips=int(settings["n_chips"])),  # type: ignore[arg-type]
                            corpus_root=root, profile=str(settings["profile"]), overrides=dict(settings["overrides"]),
                            workers=int(settings["workers"]),
                            log_fn=lambda e, row: log(f"epoch {e}: loss {row.get('loss', float('nan')):.4f}, "
                                                      f"val AUROC {row.get('val_auroc', float('nan')):.4f}"))
    return run


def _recipes() -> dict[str, Recipe]:
    detector = {"profile": "cpu", "n_chips": 10, "overrides": {}, "workers": 2}
    # whole 72-frame movies, every 6th frame: trained on the first 12 frames only, the LOCSNET of 2026-12-05 scored
    # held-out mIoU 0.953 on frames 0-11 but 0.918 on frames 12-71 (>4-cell wells 0.945 / 0.862)
    locsnet = {"profile": "cpu", "chip_id": "seg-{preset}-s{seed}-t{n_frames}", "n_chips": 32, "n_frames": 72,
               "frame_step": 6, "workers": 2, "overrides": {"epochs": 2}}
    # views on the shipped LOCSNET's masks as well as the true ones (lftiming_ml.reid.segmented), and no mask channel
    # (the phase cut out at the dilated mask only): embeddings of true masks moved with LOCSNET's mask errors by as much
    # as two look-alike cells differ. On LOCSNET masks of tuning chips 43/44 + true masks of 11/12, ID switches: 598 +
    # 174 before; both kinds of masks 579 + 177 (ad hoc); this recipe 566 + 170 (README, Re-identification)
    # 16 chips and 6000 steps with a cosine learning rate (2026-12-07) instead of 8 chips and 1500 constant-rate steps:
    # ID switches on the tuning chips' true masks (11/12) 170 -> 107, on their LOCSNET masks (43/44) 573 -> 491
    reid = {"profile": "cpu", "n_chips": 16, "workers": 2, "segmented_by": "locsnet",
            "overrides": {"max_steps": 6000, "train_seconds": 7200.0, "mask_weight": 0.0, "lr_schedule": "cosine"}}
    classifier = {"profile": "cpu", "n_chips": 8, "workers": 2, "overrides": {"epochs": 8}}
    return {
        "well_detector": Recipe("well_detector", "wells", detector, _well_detector(detector)),
        "locsnet": Recipe("locsnet", "segmentation/chips", locsnet, _segmenter(locsnet)),
        "reid_embedding": Recipe("reid_embedding", "classification/chips", reid, _reid(reid)),
        "celltype_classifier": Recipe("celltype_classifier", "classification/chips", classifier,
                                      _classifier("celltype", classifier)),
        "apoptosis_classifier": Recipe("apoptosis_classifier", "classification/chips", classifier,
                                       _classifier("apoptosis", classifier)),
    }


RECIPES = _recipes()
"""The recipe of every bundled model: 2-core CPU runs (a GPU is not needed to reproduce them).
Budgets are in epochs or steps, not wall time, so a run on a busy machine makes the same model."""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def train_shipped(model_name: str, *, out: Path, corpus_root: Path, command: str,
                  log: Callable[[str], None] = print) -> dict:
    """Train ``model_name`` by its recipe, write the bundle (float16 weights) to ``out`` and
    its card; returns the card. ``command`` is recorded as the command that trained it."""
    recipe = RECIPES[model_name]
    commit, dirty = _git("rev-parse", "HEAD"), bool(_git("status", "--porcelain", "--untracked-files=no"))
    started = time.perf_counter()
    bundle = recipe.train(corpus_root / recipe.corpus_dir, log)
    log(f"{model_name}: trained in {time.perf_counter() - started:.0f} s (simulation included)")
    write_bundle(out, bundle, weights_dtype="float16", overwrite=True)
    params = bundle.params
    return write_card(out, {
        "model_name": model_name, "weights_dtype": "float16",
        "trained": {"command": command, "git_commit": commit or "unknown", "git_dirty": dirty,
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "hardware": params.get("train_device", "unknown"),
                    "train_seconds": float(bundle.metrics.get("train_seconds", float("nan"))),
                    "recipe": dict(recipe.settings),
                    "corpus": params.get("corpus", params.get("data", {}))},
        "validation": {k: v for k, v in bundle.metrics.items() if k.startswith("val_")},
        "held_out": {},
    })


def _builder(model_name: str) -> Callable[[Mapping[str, torch.Tensor], Mapping[str, object]], object]:
    if model_name == "well_detector":
        from lftiming_ml.wells.detector import detector_from_registry
        return detector_from_registry
    if model_name in ("locsnet", "mask_rcnn_baseline"):
        from lftiming_ml.segmentation.model import segmenter_from_registry
        return segmenter_from_registry
    if model_name == "reid_embedding":
        from lftiming_ml.reid.model import reid_from_registry
        return reid_from_registry
    from lftiming_ml.classification.engine import classifier_from_registry
    return classifier_from_registry


def check_bundle_builds(bundle: TrainingBundle, where: Path | str) -> None:
    """Rebuild the model from the bundle's config and load its weights (strictly): a bundle
    whose weights do not fit its config raises ``BundleError`` naming the folder."""
    try:
        _builder(bundle.model_name)(bundle.state_dict, bundle.config)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        raise BundleError(f"{where}: the weights do not fit the model its config describes "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:300]})") from e


def load_shipped(bundle_dir: Path | str) -> tuple[TrainingBundle, dict]:
    """A bundled model and its card, after the checksum and build checks."""
    card = verify_card(bundle_dir)
    bundle = read_bundle(bundle_dir)
    if bundle.model_name != card["model_name"]:
        raise BundleError(f"{Path(bundle_dir) / CARD_JSON}: card is for {card['model_name']!r}, "
                          f"the bundle holds {bundle.model_name!r}")
    check_bundle_builds(bundle, bundle_dir)
    return bundle, card


def card_params(card: Mapping[str, object]) -> dict[str, object]:
    """The card fields logged as MLflow params of the registered version (``card.*``)."""
    trained = dict(card.get("trained", {}))  # type: ignore[arg-type]
    return {"card": {"git_commit": trained.get("git_commit"), "command": trained.get("command"),
                     "hardware": trained.get("hardware"), "date": trained.get("date"),
                     "weights_dtype": card.get("weights_dtype")}}


def register_shipped(bundle_dir: Path | str, *, tracking_uri: str, artifact_location: str | None,
                     alias: str = "champion"):
    """Register one bundled model (checked by ``load_shipped``) as a new MLflow version with
    ``alias``, tag ``source=bundled``, the card's fields as params and the card files as
    artifacts. Returns its ``ModelVersionInfo``."""
    from lftiming_ml.models.registry import register_bundle

    bundle_dir = Path(bundle_dir)
    bundle, card = load_shipped(bundle_dir)
    bundle.artifacts = {**bundle.artifacts, **{f"card/{name}": (bundle_dir / name).read_bytes()
                                               for name in (CARD_JSON, CARD_MD)}}
    return register_bundle(bundle, tracking_uri=tracking_uri, alias=alias, artifact_location=artifact_location,
                           source=str(bundle_dir), tags={"source": "bundled"}, extra_params=card_params(card))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lftiming_ml.bundled", description="Train a bundled model by its recipe.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model by its recipe into models/<model> (bundle + card)")
    t.add_argument("model", choices=sorted(RECIPES))
    t.add_argument("--out", type=Path, default=None, help="bundle folder (default: models/<model>)")
    t.add_argument("--corpus-root", type=Path, default=REPO / "data" / "training",
                   help="where the simulated corpora are cached (default: data/training)")
    args = p.parse_args(argv)
    out = args.out or MODELS_DIR / args.model
    command = shlex.join(["python", "-m", "lftiming_ml.bundled", *(argv if argv is not None else sys.argv[1:])])
    torch.set_num_threads(int(os.environ.get("LFTIMING_TRAIN_THREADS", torch.get_num_threads())))
    card = train_shipped(args.model, out=out, corpus_root=args.corpus_root, command=command,
                         log=lambda line: print(line, flush=True))
    print(f"wrote {out}: {len(card['files'])} files, validation {card['validation']}", flush=True)
    return 0


__all__ = ["MODELS_DIR", "PIPELINE_MODELS", "RECIPES", "Recipe", "card_params", "check_bundle_builds", "load_shipped",
           "register_shipped", "train_shipped"]


if __name__ == "__main__":
    raise SystemExit(main())
