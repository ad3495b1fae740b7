"""`cleverward build-pairs`: scored datasets -> the VideoCross pairs file, and its summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.common import config_error, fail, progress_bar

PAIRS_OPTIONS = {"datasets": "--dataset", "margin_frac": "--margin", "keep_ties": "--drop-ties",
                 "negatives_per_video": "--negatives", "taxonomy_file": "--taxonomy",
                 "negatives": "--mine-negatives", "duplicate_threshold": "--near-dup-threshold"}


def build_pairs_command(
    dataset: Annotated[list[str], typer.Option(
        "--dataset", help="FORMAT:PATH (t2vqa, videofeedback, genai-bench, "
        "videogen-rewardbench, jsonl); repeat for more.")],
    out: Annotated[Path, typer.Option("--out", help="pairs.jsonl or pairs.parquet")],
    videos_root: Annotated[Path | None, typer.Option(
        "--videos-root", help="Folder the annotation files' video paths are relative to.")] = None,
    margin: Annotated[float, typer.Option(
        "--margin", help="Score gaps below this fraction of the dataset's scale are ties.")] = 0.05,
    drop_ties: Annotated[bool, typer.Option("--drop-ties", help="Leave tie pairs out.")] = False,
    negatives: Annotated[int, typer.Option(
        "--negatives", help="Mismatched-prompt negatives per video (textual_alignment).")] = 1,
    hard_negatives: Annotated[bool, typer.Option(
        "--hard-negatives", help="Negatives from the nearest prompts in text space.")] = False,
    mine_negatives: Annotated[int, typer.Option(
        "--mine-negatives", min=0, help="Per video, K more negatives mined from embeddings "
        "(nearest prompts and look-alike videos; decodes the videos, through the cache).")] = 0,
    dedup: Annotated[bool, typer.Option(
        "--dedup/--no-dedup", help="Merge exact duplicate files (content hash); with "
        "--near-dup also re-encoded copies across datasets.")] = True,
    near_dup: Annotated[bool, typer.Option(
        "--near-dup", help="Link near-duplicate videos across datasets by embedding "
        "similarity and merge their labels (decodes the videos).")] = False,
    near_dup_threshold: Annotated[float, typer.Option(
        "--near-dup-threshold", help="Video-embedding cosine at or above which two are one "
        "clip.")] = 0.95,
    taxonomy: Annotated[Path | None, typer.Option(
        "--taxonomy", help="JSON file extending the dimension-name table.")] = None,
    model: Annotated[str, typer.Option(
        "--model", help="Encoders for hard negatives and mining.")] = "default",
    cache: Annotated[Path | None, typer.Option("--cache", help="Embedding cache folder.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    summary_json: Annotated[Path | None, typer.Option(
        "--summary-json", help="Write the summary as JSON here.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the summary as JSON instead of text.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar; print only the pairs file's path.")] = False,
) -> None:
    """Convert scored datasets into chosen/rejected pairs (one pair a row)."""
    from cleverward.train.datasets import AnnotationError
    from cleverward.train.pairs import PairsConfig, build_pairs
    from cleverward.train.pairs_io import write_pairs
    from cleverward.train.taxonomy import TaxonomyError

    try:
        cfg = PairsConfig(
            datasets=tuple(dataset), videos_root=str(videos_root) if videos_root else None,
            margin_frac=margin, keep_ties=not drop_ties, negatives_per_video=negatives,
            hard_negatives=hard_negatives, dedup=dedup, seed=seed,
            taxonomy_file=str(taxonomy) if taxonomy else None)
        text_model = _load_model(model) if hard_negatives else None
        rows, summary = build_pairs(cfg, text_model.encode_texts if text_model else None)
        mined = {}
        if mine_negatives or near_dup:
            rows, mined = _mine(rows, cfg, model, cache, mine_negatives, near_dup,
                                near_dup_threshold, quiet)
            rows = sorted(rows, key=_row_order)
        write_pairs(rows, out)
    except (AnnotationError, TaxonomyError, FileNotFoundError, ValueError) as exc:
        fail(config_error(exc, PAIRS_OPTIONS, PairsConfig))
    report = summary.to_dict() | ({"mining": mined} if mined else {})
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    elif quiet:
        typer.echo(str(out))  # the result's path, as train -q
    else:
        typer.echo(summary.to_text())
        if mined:
            typer.echo("mining: " + ", ".join(f"{k} {v}" for k, v in mined.items()))
        typer.echo(f"{len(rows)} pairs -> {out}")
    if summary_json:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(json.dumps(report, indent=2) + "\n")


def _row_order(row: dict) -> tuple:
    return (str(row["dataset"]), str(row["dimension"]), str(row["prompt"]), str(row["chosen"]),
            str(row["rejected"]))


def _load_model(name: str):
    from cleverward.engine.model import RewardModel

    return RewardModel.from_pretrained(name)


def _mine(rows, cfg, model_name, cache_dir, k, near_dup, threshold, quiet):
    from types import SimpleNamespace

    from cleverward.engine.embedding_cache import open_cache
    from cleverward.train.mine import MineConfig, mine_pairs

    model = _load_model(model_name)
    mcfg = MineConfig(negatives=k, dedup=near_dup, duplicate_threshold=threshold,
                      videos_root=cfg.videos_root)
    cache = open_cache(SimpleNamespace(cache_dir=str(cache_dir) if cache_dir else None,
                                       use_cache=True, frames=None, decoder="auto"), model)
    try:
        with progress_bar(None, "embedding", quiet) as update:
            return mine_pairs(rows, mcfg, model, cache, progress=update)
    finally:
        cache.close()


def register(app: typer.Typer) -> None:
    app.command("build-pairs")(build_pairs_command)
