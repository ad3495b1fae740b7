"""`cleverward index build DIR` and `cleverward search TEXT`: bulk scoring by FAISS search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.choices import Decoder, IndexKind, SearchKind
from cleverward.cli.common import DEVICE_HELP, choice_option, config_error, err, fail, progress_bar

INDEX_OPTIONS = {"videos_dir": "DIR", "cache_dir": "--cache"}

index_app = typer.Typer(
    help="FAISS indexes of a folder's videos, for `cleverward search`.", no_args_is_help=True
)


def format_build(report) -> str:
    lines = [f"indexed {report.count} videos of {report.videos_dir}: {report.decoded} decoded, "
             f"{report.cache_hits} from cache, {len(report.failed)} failed "
             f"({report.seconds:.1f}s)",
             f"kind: {report.kind} ({report.reason})"]
    if report.params:
        lines.append("params: " + ", ".join(f"{k}={v}" for k, v in report.params.items()))
    if report.recall is not None:
        lines.append(f"recall@10 vs exact search: {report.recall:.3f} (sampled queries)")
    lines += [f"  failed: {video}: {error}" for video, error in report.failed.items()]
    lines.append(f"-> {report.location}")
    return "\n".join(lines)


@index_app.command("build")
def build(
    videos_dir: Annotated[Path, typer.Argument(help="Folder of videos (files or frame folders).")],
    model: Annotated[str, typer.Option("--model", help="Named model or checkpoint folder.")] = (
        "default"),
    cache: Annotated[Path | None, typer.Option(
        "--cache", help="Cache folder (embeddings and indexes).")] = None,
    kind: Annotated[IndexKind, choice_option(
        IndexKind, "--kind", help="FAISS index kind (auto: by the folder's size).")] = "auto",
    frames: Annotated[int, typer.Option(
        "--frames", help="Frames sampled per video (as score-dir).")] = 8,
    decoder: Annotated[Decoder, choice_option(Decoder, "--decoder", help="Video decoder.")] = (
        "auto"),
    workers: Annotated[int, typer.Option("--workers", help="Decode threads.")] = 2,
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP)] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Embed every video in DIR (through the cache) and build its search index."""
    from cleverward.engine.video_index import IndexConfig, build_video_index

    if not videos_dir.is_dir():
        fail(f"{videos_dir}: not a folder")
    try:
        cfg = IndexConfig(videos_dir=str(videos_dir), model=model, kind=kind, frames=frames,
                          decoder=decoder, workers=workers, device=device,
                          cache_dir=str(cache) if cache else None)
        with progress_bar(None, "embedding", quiet) as update:
            report = build_video_index(cfg, progress=update)
    except (FileNotFoundError, ValueError) as exc:
        fail(config_error(exc, INDEX_OPTIONS, IndexConfig))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        typer.echo(format_build(report))


def search(
    text: Annotated[str, typer.Argument(help="The prompt.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many videos to return.")] = 10,
    videos_dir: Annotated[Path | None, typer.Option(
        "--dir", help="Indexed folder (default: the index built last for --model).")] = None,
    model: Annotated[str, typer.Option("--model", help="Named model or checkpoint folder.")] = (
        "default"),
    cache: Annotated[Path | None, typer.Option(
        "--cache", help="Cache folder (embeddings and indexes).")] = None,
    kind: Annotated[SearchKind | None, choice_option(
        SearchKind, "--kind", help="Which built index (default: the one built last).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The videos of an indexed folder that best match TEXT, with their rewards."""
    from cleverward.engine.video_index import SearchConfig, search_videos

    try:
        cfg = SearchConfig(text=text, top_k=top_k, model=model,
                           videos_dir=str(videos_dir) if videos_dir else None,
                           cache_dir=str(cache) if cache else None, kind=kind)
        hits, meta = search_videos(cfg)
    except (FileNotFoundError, ValueError) as exc:
        fail(config_error(exc, {**INDEX_OPTIONS, "videos_dir": "--dir"}, SearchConfig))
    if as_json:
        typer.echo(json.dumps({
            "query": text, "model": model, "videos_dir": meta["videos_dir"],
            "kind": meta["kind"], "device": meta["device"],
            "results": [{"rank": h.rank, "video": h.video, "path": h.path,
                         "score": round(h.score, 6), "stale": h.stale} for h in hits]},
            indent=2))
    else:
        err(f"{meta['videos_dir']}: {meta['count']} videos, {meta['kind']} index, "
            f"{meta['device']}")
        from cleverward.cli.tables import print_table

        print_table(["rank", "reward", "video", "note"],
                    [(f"{h.rank}.", f"{h.score:+.4f}", h.video,
                      f"stale: {h.stale}" if h.stale else "") for h in hits], right=(0, 1))
    stale = sum(h.stale is not None for h in hits)
    if stale:
        err(f"warning: {stale} of these videos changed or vanished since the index was built; "
            f"rebuild it with `cleverward index build {meta['videos_dir']}`")


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
    app.command("search")(search)
