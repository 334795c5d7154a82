"""Label-free cell type and apoptosis on held-out simulated chips: CNN-LSTM vs frame-level CNN,
and the backbone comparison (issue 6; paper Tables 2-4).

    flock /tmp/lftiming_train.lock .venv/bin/python benchmarks/classification.py \
        [--train-chips 4] [--epochs 6] [--test standard:611 hard:612] [--backbones resnet18 resnet34 resnet50]
        [--backbone-minutes 2] [--folds 5] [--kinds cnn_lstm frame_cnn] [--run cpu]
    # score the registered champions instead of training (no corpus, no training):
    .venv/bin/python benchmarks/classification.py --registered [--tracking-uri URI] [--alias champion]

Training chips are the classifier corpus (seeds from 40 000, ``data/training/classification/chips``,
simulated when missing, labels FROM FLUORESCENCE); test chips are other seeds, simulated
into ``--cache``. Tracks are the truth's (truth tracks + amodal masks + phase), so this
scores the classifiers alone; the pipeline's own tracks are scored by ``lftiming evaluate``.
Scores are against the simulator's truth, per E:T stratum and contact-rich wells, with 95%
bootstrap CIs over tracks. Cell type is scored twice: per track (the classifier alone) and
per lineage (``postprocess.lineage_cell_types`` over the truth's mitosis links, exactly the
``cell_types`` table the pipeline writes: the headline), for both kinds; the tracks the
lineage call gets wrong are listed with their meta. ``--folds k`` runs a k-fold CV grouped
by chip over the ``--train-chips`` corpus chips (needs at least k of them), scored against
the held-out chips' fluorescence labels and, per track and per lineage, against the truth.
Also reports the fluorescence label error rate against truth. ``--registered`` scores the
registered CNN-LSTMs (``celltype_classifier``, ``apoptosis_classifier`` at ``--alias`` in
``--tracking-uri``, loaded as the pipeline loads them) on the same test chips, the same way
(run ``registered`` unless ``--run`` says otherwise).
Writes run ``--run`` of ``benchmarks/results/classification.json`` (other runs kept; or
``--out``) and prints tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lftiming_ml.classification.config import CLASSIFICATION_CORPUS, train_config
from lftiming_ml.classification.data import label_error_rates, load_chip_tracks
from lftiming_ml.classification.sequences import TrackSequence
from lftiming_ml.classification.engine import chip_folds, cross_validate, predict_tracks, train_classifier
from lftiming_ml.evaluation.classification import CONTACT_GROUP, score_apoptosis, score_celltypes
from lftiming_ml.classification.serving import MODEL_NAMES, cell_types_table, load_classifier
from lftiming_ml.corpus import split_by_chip
from lftiming_ml.sim.corpus import simulate_corpus
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config
from lftiming_ml.truth.files import WELLS, has_truth

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"celltype_accuracy_every_stratum": 0.95, "apoptosis_frame_accuracy": 0.99, "apoptosis_auroc": 0.97,
           "death_within_4": 0.99}


def test_chips(specs: list[str], cache: Path) -> list[Path]:
    out = []
    for spec in specs:
        preset, seed = spec.split(":")
        path = cache / f"cls-bench-{preset}-s{seed}"
        if not has_truth(path, WELLS):
            simulate_chip(path, preset_config(preset, seed=int(seed), n_fields=1, n_frames=72), overwrite=True)
        out.append(path)
    return out


def celltype_table(tracks: list[TrackSequence], preds) -> pd.DataFrame:
    """One row per truth-typed track: true_effector; the lineage call the pipeline writes
    (pred_effector, p_effector, lineage_id: ``serving.cell_types_table``); the track's own
    call (pred_effector_track, p_effector_track); meta to list errors."""
    typed = cell_types_table(tracks, preds, model_version=-1)
    table = pd.DataFrame([{"true_effector": t.true_type == "effector", "pred_effector_track": bool(p.label),
                           "first_frame": int(t.frames[0]) if len(t) else -1, "parent": int(t.meta["parent"]),
                           "stratum": t.meta["stratum"], "contact_rich": t.meta["contact_rich"]}
                          for t, p in zip(tracks, preds)])
    table = pd.concat([typed[["chip_id", "field_id", "row", "col", "track_id", "lineage_id", "n_frames",
                              "p_effector_track", "p_effector"]], table], axis=1)
    table["pred_effector"] = typed["cell_type"] == "effector"
    return table[[t.true_type is not None for t in tracks]].reset_index(drop=True)


def score_celltype_views(table: pd.DataFrame) -> tuple[dict, dict]:
    """(lineage scores, per-track scores) of a ``celltype_table``."""
    per_track = table.assign(pred_effector=table["pred_effector_track"], p_effector=table["p_effector_track"])
    return score_celltypes(table), score_celltypes(per_track)


def wrong_tracks(table: pd.DataFrame) -> list[dict]:
    """Rows of a ``celltype_table`` that the lineage or the track call gets wrong."""
    truth = table["true_effector"]
    wrong = (table["pred_effector"] != truth) | (table["pred_effector_track"] != truth)
    return table[wrong].to_dict(orient="records")


def truth_celltype_scores(tracks: list[TrackSequence], preds) -> dict[str, float]:
    """Accuracy against the truth, overall and in the worst stratum, per track and per lineage."""
    lineage, per_track = score_celltype_views(celltype_table(tracks, preds))
    out = {}
    for name, scores in (("lineage", lineage), ("track", per_track)):
        strata = {g: s["accuracy"] for g, s in scores.items() if g not in ("overall", CONTACT_GROUP)}
        out[f"truth_accuracy_{name}"] = scores["overall"]["accuracy"]
        out[f"truth_min_stratum_accuracy_{name}"] = min(strata.values())
    return out


def apoptosis_tables(tracks: list[TrackSequence], preds) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames, per_track = [], []
    for i, (t, p) in enumerate(zip(tracks, preds)):
        dies = p.death_frame
        frames.append(pd.DataFrame({
            "track": i, "true_apoptotic": ~t.true_alive, "pred_apoptotic": t.frames >= (dies if dies is not None else 10**9),
            "p_apoptotic": p.p_monotone, "stratum": t.meta["stratum"], "contact_rich": t.meta["contact_rich"]}))
        per_track.append({"pred_death": dies, "true_death": t.true_death_frame, "stratum": t.meta["stratum"],
                          "contact_rich": t.meta["contact_rich"]})
    pt = pd.DataFrame(per_track)
    pt["pred_death"], pt["true_death"] = pt["pred_death"].astype("Int64"), pt["true_death"].astype("Int64")
    return pd.concat(frames, ignore_index=True), pt


def train(task: str, kind: str, train_tracks, val_tracks, **overrides):
    config = train_config("cpu", task=task, kind=kind, **overrides)
    start = time.perf_counter()
    model, history = train_classifier(config, train_tracks=train_tracks, val_tracks=val_tracks,
                                      log_fn=lambda e, r: print(f"  {task}/{kind} epoch {e}: loss {r['loss']:.3f} "
                                                                f"val AUROC {r.get('val_auroc', float('nan')):.3f} "
                                                                f"({r['epoch_s']:.0f} s)", flush=True))
    return model, history, time.perf_counter() - start


def summary_row(scores: dict, key: str = "accuracy") -> str:
    return "  ".join(f"{g}: {s[key]:.3f} [{s[key + '_ci'][0]:.3f}, {s[key + '_ci'][1]:.3f}] (n={int(s['n'])})"
                     for g, s in scores.items())


def save(path: Path, run: str, result: dict) -> None:
    """Write ``result`` as ``runs[run]`` of the results file, keeping the other runs."""
    runs = json.loads(path.read_text()).get("runs", {}) if path.is_file() else {}
    runs[run] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": runs}, indent=1, default=float))


def score_task(task: str, test_tracks: list[TrackSequence], preds) -> tuple[dict, dict]:
    """(scores per group, extra entries) of ``preds`` on ``test_tracks``: cell type per lineage
    (the headline) with the per-track view and the wrong tracks; apoptosis per frame with the
    death-frame scores."""
    if task != "celltype":
        return score_apoptosis(*apoptosis_tables(test_tracks, preds)), {}
    table = celltype_table(test_tracks, preds)
    scores, per_track = score_celltype_views(table)
    return scores, {"test_per_track": per_track, "test_overall_per_track": per_track["overall"],
                    "n_lineages_with_relatives": int(table.groupby(
                        ["chip_id", "field_id", "row", "col", "lineage_id"]).size().gt(1).sum()),
                    "wrong_tracks": wrong_tracks(table)}


def print_scores(task: str, label: str, scores: dict, extra: dict) -> None:
    if task == "celltype":
        print(f"{task}/{label} per track: accuracy {summary_row(extra['test_per_track'])}", flush=True)
        for row in extra["wrong_tracks"]:
            print(f"    wrong: {row}", flush=True)
    print(f"{task}/{label}: {'per lineage: ' if task == 'celltype' else ''}accuracy {summary_row(scores)}", flush=True)
    if task == "apoptosis":
        o = scores["overall"]
        print(f"    AUROC {o['auroc']:.3f} {o['auroc_ci']}, death within 4: {o['death']['within_tol']:.3f} "
              f"{o['death']['within_tol_ci']}", flush=True)


def registered_result(args: argparse.Namespace) -> dict:
    """The registered CNN-LSTMs (``--alias`` in ``--tracking-uri``) on the test chips, scored
    as the trained ones are; nothing is trained."""
    tests = test_chips(args.test, args.cache)
    classifiers = {task: load_classifier(tracking_uri=args.tracking_uri, model_name=MODEL_NAMES[(task, "cnn_lstm")],
                                         alias=args.alias) for task in ("celltype", "apoptosis")}
    tracks_by_profile: dict[str, list[TrackSequence]] = {}
    result: dict = {
        "command": "benchmarks/classification.py " + " ".join(f"{k}={v}" for k, v in vars(args).items()),
        "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
                   f"cuda={torch.cuda.is_available()}",
        "registered": {"tracking_uri": args.tracking_uri, "alias": args.alias},
        "test_chips": [d.name for d in tests], "targets": TARGETS, "models": {}}
    for task, (clf, info) in classifiers.items():
        key = clf.profile.model_dump_json()
        if key not in tracks_by_profile:
            tracks_by_profile[key] = [t for d in tests for t in load_chip_tracks(d, profile=clf.profile)]
        test_tracks = tracks_by_profile[key]
        start = time.perf_counter()
        preds = clf.predict(test_tracks)
        entry = {"model_name": info.name, "version": info.version, "run_id": info.run_id,
                 "profile": clf.profile.model_dump(mode="json"), "n_test_tracks": len(test_tracks),
                 "inference_seconds": time.perf_counter() - start}
        scores, extra = score_task(task, test_tracks, preds)
        entry.update({**extra, "test": scores, "test_overall": dict(scores["overall"])})
        result["models"][f"{task}/cnn_lstm"] = entry
        print_scores(task, f"cnn_lstm v{info.version}", scores, extra)
    result["label_error_vs_truth"] = {"test": label_error_rates(next(iter(tracks_by_profile.values())))}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-chips", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--test", nargs="+", default=["standard:611", "hard:612"])
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("LFTIMING_BENCH_CACHE", "/tmp/lftiming_bench_cache")))
    ap.add_argument("--backbones", nargs="*", default=["resnet18", "resnet34", "resnet50"])
    ap.add_argument("--backbone-minutes", type=float, default=2.0)
    ap.add_argument("--folds", type=int, default=0, help="k-fold CV grouped by chip over the training corpus (0: skip)")
    ap.add_argument("--kinds", nargs="+", default=["cnn_lstm", "frame_cnn"])
    ap.add_argument("--run", default=None, help="name of this run inside the results file (other runs are kept; "
                    "default cpu, or registered with --registered)")
    ap.add_argument("--out", type=Path, default=RESULTS / "classification.json")
    ap.add_argument("--registered", action="store_true",
                    help="score the registered CNN-LSTM classifiers instead of training new ones")
    ap.add_argument("--tracking-uri", default=os.environ.get(
        "MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'data' / 'mlflow' / 'mlflow.db'}"),
        help="MLflow store of --registered")
    ap.add_argument("--alias", default="champion", help="alias of the registered versions (--registered)")
    args = ap.parse_args()
    args.run = args.run or ("registered" if args.registered else "cpu")
    if args.folds and (args.folds < 2 or args.train_chips < args.folds):
        ap.error(f"--folds {args.folds}: a cross-validation grouped by chip holds out whole chips and needs at least 2 "
                 f"folds and at least as many corpus chips as folds; --train-chips is {args.train_chips}")
    torch.set_num_threads(2)
    if args.registered:
        save(args.out, args.run, registered_result(args))
        print(f"wrote {args.out}")
        return

    corpus = CLASSIFICATION_CORPUS.replace(n_chips=args.train_chips)
    chips = simulate_corpus(corpus, ROOT / "data" / "training" / "classification" / "chips")
    profile = train_config("cpu", task="celltype").profile
    train_dirs, val_dirs = split_by_chip(chips)
    train_tracks = [t for d in train_dirs for t in load_chip_tracks(d, profile=profile)]
    val_tracks = [t for d in val_dirs for t in load_chip_tracks(d, profile=profile)]
    tests = test_chips(args.test, args.cache)
    test_tracks = [t for d in tests for t in load_chip_tracks(d, profile=profile)]
    result: dict = {
        "command": "benchmarks/classification.py " + " ".join(f"{k}={v}" for k, v in vars(args).items()),
        "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
                   f"cuda={torch.cuda.is_available()}",
        "profile": profile.model_dump(mode="json"), "epochs": args.epochs,
        "train_chips": [d.name for d in train_dirs], "val_chips": [d.name for d in val_dirs],
        "test_chips": [d.name for d in tests],
        "n_tracks": {"train": len(train_tracks), "val": len(val_tracks), "test": len(test_tracks)},
        "label_error_vs_truth": {"corpus": label_error_rates([*train_tracks, *val_tracks]),
                                 "test": label_error_rates(test_tracks)},
        "targets": TARGETS, "models": {},
    }
    print("label error (corpus):", result["label_error_vs_truth"]["corpus"], flush=True)
    for task in ("celltype", "apoptosis"):
        for kind in args.kinds:
            model, history, seconds = train(task, kind, train_tracks, val_tracks, epochs=args.epochs)
            start = time.perf_counter()
            preds = predict_tracks(model, test_tracks, task=task)
            infer_s = time.perf_counter() - start
            entry = {"train_seconds": seconds, "inference_seconds": infer_s, "history": history}
            scores, extra = score_task(task, test_tracks, preds)
            entry.update({**extra, "test": scores})
            result["models"][f"{task}/{kind}"] = entry
            print_scores(task, f"{kind} ({seconds:.0f} s)", scores, extra)
            result["models"][f"{task}/{kind}"]["test_overall"] = {k: v for k, v in scores["overall"].items()}
            save(args.out, args.run, result)
    table = {}
    for backbone in args.backbones:
        prof = profile.model_copy(update={"backbone": backbone})
        model, history, seconds = train("celltype", "cnn_lstm", train_tracks, val_tracks, profile=prof,
                                        epochs=args.epochs, time_budget_min=args.backbone_minutes)
        preds = predict_tracks(model, test_tracks, task="celltype")
        scores, per_track = score_celltype_views(celltype_table(test_tracks, preds))
        table[backbone] = {"train_seconds": seconds, "epochs_run": len(history),
                           "val_auroc_per_epoch": [h.get("val_auroc") for h in history],
                           "val_accuracy_last": history[-1].get("val_accuracy"),
                           "test_accuracy": [scores["overall"]["accuracy"], *scores["overall"]["accuracy_ci"]],
                           "test_auroc": [scores["overall"]["auroc"], *scores["overall"]["auroc_ci"]],
                           "test_accuracy_per_track": [per_track["overall"]["accuracy"],
                                                       *per_track["overall"]["accuracy_ci"]],
                           "test_auroc_per_track": [per_track["overall"]["auroc"], *per_track["overall"]["auroc_ci"]],
                           "test_min_stratum_accuracy": min(s["accuracy"] for g, s in scores.items()
                                                            if g not in ("overall", CONTACT_GROUP))}
        print(f"backbone {backbone}: {table[backbone]}", flush=True)
        result["backbones"] = table
        save(args.out, args.run, result)
    if args.folds:
        config = train_config("cpu", task="celltype", epochs=args.epochs)
        folds = cross_validate(config, [*train_tracks, *val_tracks], n_folds=args.folds,
                               log_fn=lambda k, r: print(f"  fold {k}: {r}", flush=True),
                               extra_scores=lambda m, v: truth_celltype_scores(v, predict_tracks(m, v,
                                                                                                 task="celltype")))
        cv = {"task": "celltype", "kind": "cnn_lstm", "backbone": profile.backbone, "folds": folds,
              "held_out_chips": chip_folds([t.meta["chip_id"] for t in [*train_tracks, *val_tracks]], args.folds),
              "scored_against": "val_*: fluorescence labels of the held-out chips, per track; truth_*: the "
                                "simulator's truth, per track and per lineage (min over E:T strata)"}
        for key in ("val_accuracy", "val_auroc", "truth_accuracy_track", "truth_accuracy_lineage",
                    "truth_min_stratum_accuracy_track", "truth_min_stratum_accuracy_lineage"):
            values = np.array([f[key] for f in folds], float)
            cv[f"{key}_mean"], cv[f"{key}_sd"] = float(np.nanmean(values)), float(np.nanstd(values))
            print(f"{args.folds}-fold CV {key} {cv[f'{key}_mean']:.3f} +/- {cv[f'{key}_sd']:.3f}", flush=True)
        result["cross_validation"] = cv
        save(args.out, args.run, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
