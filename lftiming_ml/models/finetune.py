"""The fine-tuning options every training entry point shares: where the weights start
(``--init``) and which curated labels join the simulated corpus (``--annotations``).

``add_arguments`` puts them on an ``argparse`` parser (the offline trainers of a GPU
machine); ``from_args`` turns the parsed values into an ``InitWeights`` (``models.init``),
an ``AnnotationCorpus`` (``corpus``) and the ``DataLayout`` whose annotations store and
well movies hold the selected chips. The ``lftiming train`` command and the model assets'
``TrainModelConfig`` take the same options.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lftiming_ml.corpus import AnnotationCorpus
from lftiming_ml.models.init import InitWeights, resolve_init

if TYPE_CHECKING:  # the store (and its duckdb) loads only when a run selects annotations
    from lftiming_ml.store.layout import DataLayout


@dataclass(frozen=True)
class FineTune:
    """What a run starts from and adds: ``init`` (None: from scratch), ``annotations``
    (None: the simulated corpus only) and the ``layout`` holding the annotated chips."""

    init: InitWeights | None = None
    annotations: AnnotationCorpus | None = None
    layout: DataLayout | None = None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--init``, ``--tracking-uri``, ``--data``, ``--annotations``, ``--validate-annotations``,
    ``--provenance``, ``--annotation-share``."""
    g = p.add_argument_group("fine-tuning")
    g.add_argument("--init", default=None, metavar="BUNDLE|VERSION|ALIAS",
                   help="start from these weights: a bundle folder, or (with --tracking-uri) a registered version "
                        "(3, v3) or alias (champion); same architecture or refused")
    g.add_argument("--tracking-uri", default=None, help="MLflow tracking URI for a registered --init")
    g.add_argument("--data", type=Path, default=None, help="data folder holding the annotated chips (annotations/, zarr/)")
    g.add_argument("--annotations", nargs="+", default=[], metavar="CHIP[@VERSION]",
                   help="curated labels to train on (the chip's current version, or the one named)")
    g.add_argument("--validate-annotations", nargs="+", default=[], metavar="CHIP[@VERSION]",
                   help="curated labels to validate on (scored apart as val_annotations_*)")
    g.add_argument("--provenance", nargs="+", default=[], metavar="P",
                   help="only labels of these provenances: human, human:<name>, fluorescence, model, simulator")
    g.add_argument("--annotation-share", type=float, default=None,
                   help="share of the training samples drawn from the annotations (default: all samples once)")


def from_args(args: argparse.Namespace, *, model_name: str) -> FineTune:
    """The parsed options as a ``FineTune`` (ValueError naming a bad option)."""
    init = resolve_init(args.init, model_name=model_name, tracking_uri=args.tracking_uri) if args.init else None
    annotations = None
    if args.annotations or args.validate_annotations:
        if args.data is None:
            raise ValueError("--annotations / --validate-annotations need --data (the folder holding annotations/)")
        annotations = AnnotationCorpus.from_specs(args.annotations, args.validate_annotations,
                                                  provenances=args.provenance, share=args.annotation_share)
    elif args.annotation_share is not None or args.provenance:
        raise ValueError("--annotation-share and --provenance apply to --annotations")
    if args.data is None:
        return FineTune(init, annotations, None)
    from lftiming_ml.store.layout import DataLayout

    return FineTune(init, annotations, DataLayout(args.data))


__all__ = ["FineTune", "add_arguments", "from_args"]
