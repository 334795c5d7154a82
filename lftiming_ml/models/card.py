"""Model cards of bundled models: how a bundle was made, how it scores, and its checksums.

A card sits in the bundle folder (``models.bundle``) as ``card.json`` (read by code) and
``CARD.md`` (the same, for people)::

    model_name, weights_dtype
    trained: command (exact), git_commit (+ whether the tree had uncommitted changes),
             date, hardware, train_seconds, recipe (profile and overrides), corpus
    validation: the training run's validation metrics (its own held-back chips)
    held_out: per benchmark section, the command that scored the bundle on held-out chips,
              its date and the scores with 95% CIs (written by that command)
    files: sha256 of every file of the bundle except the card itself

``verify_card`` recomputes every checksum and refuses a bundle whose files differ from
what the card lists (a tampered, truncated or partly copied bundle), naming the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from lftiming_ml.io import atomic_file
from lftiming_ml.models.bundle import BundleError

CARD_JSON = "card.json"
CARD_MD = "CARD.md"
CARD_FILES = (CARD_JSON, CARD_MD)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_checksums(bundle_dir: Path | str) -> dict[str, str]:
    """sha256 of every file of the bundle folder but the card, by relative POSIX path."""
    root = Path(bundle_dir)
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).as_posix() not in CARD_FILES}


def _render(card: Mapping[str, object]) -> str:
    trained = dict(card.get("trained", {}))  # type: ignore[arg-type]
    lines = [f"# {card['model_name']} (bundled model)", "",
             f"Weights stored as {card.get('weights_dtype', 'float32')}; loaded as float32 with "
             "`torch.load(weights_only=True)`.", "", "## How it was made", "",
             f"- command: `{trained.get('command', '?')}`",
             f"- git commit: {trained.get('git_commit', '?')}"
             + (" (with uncommitted changes)" if trained.get("git_dirty") else ""),
             f"- date: {trained.get('date', '?')}", f"- hardware: {trained.get('hardware', '?')}",
             f"- training time: {float(trained.get('train_seconds', float('nan'))):.0f} s (data simulation excluded)",
             f"- recipe: `{json.dumps(trained.get('recipe', {}), sort_keys=True)}`",
             f"- corpus: `{json.dumps(trained.get('corpus', {}), sort_keys=True)}`", "",
             "## Validation (the training run's own validation chips)", ""]
    lines += [f"- {k}: {v:.4f}" for k, v in sorted(dict(card.get("validation", {})).items())]  # type: ignore[arg-type]
    changes = list(card.get("changes", []))  # type: ignore[arg-type]
    if changes:
        lines += ["", "## Changed after training", ""]
        lines += [f"- {c['date']}: {c['what']} (evidence: `{c['command']}`)" for c in changes]
    lines += ["", "## Held-out scores", ""]
    held = dict(card.get("held_out", {}))  # type: ignore[arg-type]
    if not held:
        lines.append("Not scored yet.")
    for section, entry in sorted(held.items()):
        lines += [f"### {section}", "", f"- command: `{entry['command']}`", f"- date: {entry['date']}", "",
                  "```json", json.dumps(entry["scores"], indent=1, sort_keys=True), "```", ""]
    lines += ["## Files (sha256)", ""] + [f"- `{name}`: {digest}" for name, digest in
                                          sorted(dict(card["files"]).items())]  # type: ignore[arg-type]
    return "\n".join(lines) + "\n"


def write_card(bundle_dir: Path | str, card: Mapping[str, object]) -> dict:
    """Write ``card`` (without ``files``: they are computed here) as ``card.json`` and
    ``CARD.md`` into the bundle folder, atomically. Returns the card written."""
    root = Path(bundle_dir)
    full = {**dict(card), "files": bundle_checksums(root)}
    with atomic_file(root / CARD_JSON) as tmp:
        tmp.write_text(json.dumps(full, indent=1, sort_keys=True) + "\n")
    with atomic_file(root / CARD_MD) as tmp:
        tmp.write_text(_render(full))
    return full


def read_card(bundle_dir: Path | str) -> dict:
    """The bundle's ``card.json``; ``BundleError`` naming the file when missing or malformed."""
    path = Path(bundle_dir) / CARD_JSON
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{path}: missing (a bundled model needs its card)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(card, dict) or not isinstance(card.get("files"), dict) or "model_name" not in card:
        raise BundleError(f"{path}: not a model card (needs model_name and files)")
    return card


def verify_card(bundle_dir: Path | str) -> dict:
    """The card, after checking that the bundle holds exactly the files it lists with the
    same sha256; ``BundleError`` naming the first file that is missing, extra or changed."""
    root = Path(bundle_dir)
    card = read_card(root)
    found = bundle_checksums(root)
    for name, digest in sorted(card["files"].items()):
        if name not in found:
            raise BundleError(f"{root / name}: listed in {CARD_JSON} but missing")
        if found[name] != digest:
            raise BundleError(f"{root / name}: checksum mismatch (card {digest[:12]}..., file {found[name][:12]}...): "
                              "the bundle was changed or truncated after its card was written")
    extra = sorted(set(found) - set(card["files"]))
    if extra:
        raise BundleError(f"{root / extra[0]}: not listed in {CARD_JSON} (a bundle holds only its carded files)")
    return card


def record_held_out(bundle_dir: Path | str, section: str, scores: Mapping[str, object], command: str) -> dict:
    """Put the held-out ``scores`` of benchmark ``section`` and the ``command`` that produced
    them into the card (checksums unchanged: the card is not one of its own files)."""
    card = verify_card(bundle_dir)
    held = dict(card.get("held_out", {}))
    held[section] = {"command": command, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "scores": dict(scores)}
    card["held_out"] = held
    card.pop("files")
    return write_card(bundle_dir, card)


__all__ = ["CARD_FILES", "CARD_JSON", "CARD_MD", "bundle_checksums", "read_card", "record_held_out", "sha256_file",
           "verify_card", "write_card"]
