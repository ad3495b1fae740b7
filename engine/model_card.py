"""The model card (README.md) written into every saved checkpoint, from its config.

Hugging Face shows a repository's README.md as its model card; the YAML block at the top is the
card's metadata (library_name, tags). The rest says what a user needs before loading it: the
encoders, the training data files and pair counts, the validation figures when there are any,
and provenance (cleverward version, date, command). Everything comes from config.json, so the
card never says what the checkpoint does not hold.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

CARD = "README.md"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cleverward")
    except PackageNotFoundError:
        return "unknown"


def _metrics(figures: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in sorted(figures.items())) or "none recorded"


def model_card(cfg) -> str:
    """The card's text for a CheckpointConfig."""
    p = cfg.provenance
    pairs = p.get("pairs") or {}
    lines = ["---", "library_name: cleverward", "tags:", "- video-reward-model",
             "- text-to-video", "---", "", "# cleverward reward model", "",
             "Load it with `cleverward score-dir DIR --prompts P.jsonl --model <this folder>` or "
             "`RewardModel.from_pretrained(\"<this folder>\")`.", "",
             "## Encoders", "", f"- video: `{cfg.video_encoder}`",
             f"- text: `{cfg.text_encoder}`", f"- frames sampled per video: {cfg.frames}",
             f"- head: {json.dumps(cfg.head, sort_keys=True)}", "", "## Training", ""]
    if p.get("trained"):
        lines += [f"- started from: `{p.get('init')}`",
                  f"- objective: {p.get('objective')}, mode: {p.get('mode')}",
                  f"- pairs file: `{p.get('pairs_file')}`",
                  f"- datasets (pairs): {json.dumps(p.get('datasets', {}), sort_keys=True)}",
                  f"- pairs: {pairs.get('train', '?')} train, {pairs.get('val', '?')} validation",
                  f"- epochs {p.get('epochs')}, steps {p.get('steps')}, best epoch "
                  f"{p.get('best_epoch')}; trainer {p.get('trainer')}",
                  f"- validation before: {_metrics(p.get('val_before') or {})}",
                  f"- validation best: {_metrics(p.get('val_best') or {})}"]
    else:
        lines.append(f"- not trained: {p.get('init', 'no provenance recorded')}")
    lines += ["", "## Provenance", "", f"- saved by cleverward {_version()} on "
              f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
              f"- created: {p.get('created', 'not recorded')}",
              f"- command: `{p['command']}`" if p.get("command") else "- command: not recorded",
              ""]
    return "\n".join(lines)


def write_model_card(folder: str | os.PathLike, cfg) -> Path:
    path = Path(folder) / CARD
    tmp = path.with_name(CARD + ".tmp")
    tmp.write_text(model_card(cfg), encoding="utf-8")
    os.replace(tmp, path)
    return path
