"""The corpus manifest of a training run: exactly what made a model version.

Every training bundle (hence every MLflow run and registered version) carries it twice: as
the ``corpus_manifest`` params (flattened with dots, so the MLflow UI compares runs by it)
and as the ``MANIFEST_ARTIFACT`` JSON file (the full record, with the content hash of every
annotated well's record). It names:

- ``model`` and ``init``: what the run started from (``scratch``, or the registered model,
  version, alias and run id, or the bundle folder and the sha256 of its weights);
- ``simulated``: the simulated corpus (its ``CorpusConfig``) and its chips on each side;
- ``annotations``: per selected chip its annotations version (sha256 of the chip's
  manifest, which names every record's hash), provenance filter, side, record hashes,
  labels by provenance and the samples they gave;
- ``mixing``: the share asked for and the counts drawn (``corpus.mix_parts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lftiming_ml.corpus import CorpusConfig, corpus_chips, split_by_chip
from lftiming_ml.models.init import InitWeights

MANIFEST_ARTIFACT = "corpus_manifest.json"
"""Run artifact (and bundle artifact) holding the full manifest."""


def corpus_manifest(*, model_name: str, simulated: CorpusConfig, init: InitWeights | None = None,
                    annotations: Sequence[Mapping[str, object]] = (),
                    mixing: Mapping[str, object] | None = None) -> dict:
    """The manifest (module docstring). ``annotations``: one ``ResolvedSelection.describe()``
    per selection, with the ``samples`` (or tracks) it gave added by the model's recipe."""
    train, val = split_by_chip(corpus_chips(simulated))
    return {
        "model": model_name,
        "init": "scratch" if init is None else dict(init.source),
        "simulated": {"corpus": simulated.model_dump(mode="json"), "train_chips": [c.chip_id for c in train],
                      "validation_chips": [c.chip_id for c in val]},
        "annotations": [dict(a) for a in annotations],
        "mixing": dict(mixing or {}),
    }


def manifest_params(manifest: Mapping[str, object]) -> dict:
    """The manifest's short form for MLflow params (nested dicts; ``models.registry``
    flattens them with dots): init, the simulated chips' count and ids, per annotated chip
    its version, filter, side, wells, labels by provenance and samples, and the mixing
    counts. Record hashes stay in the JSON artifact (they are named by the version)."""
    sim = manifest["simulated"]
    init = manifest["init"]
    return {
        "init": init if isinstance(init, str) else {k: v for k, v in init.items() if v is not None},
        "simulated_chips": len(sim["train_chips"]) + len(sim["validation_chips"]),
        "simulated_train_chips": ",".join(sim["train_chips"]),
        "annotations": {f"{a['chip_id']}.{a['split']}": {
            "version": a["version"], "provenances": a["provenances"] if isinstance(a["provenances"], str)
            else ",".join(a["provenances"]), "wells": a["n_wells"], "samples": a.get("samples"),
            "labels": {p: ",".join(f"{k}={v}" for k, v in c.items()) for p, c in a["labels"].items()}}
            for a in manifest["annotations"]} or "none",
        "mixing": dict(manifest["mixing"]),
    }


__all__ = ["MANIFEST_ARTIFACT", "corpus_manifest", "manifest_params"]
