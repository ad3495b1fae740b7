"""`cleverward bulk MANIFEST --out DIR`: score a manifest on Ray Data (or in this process) into
a folder of Parquet partitions, resumable by partition.

A command of its own rather than `score-dir --ray`: its input is a manifest (paths or URLs, no
folder walk) and its output a partitioned dataset committed partition by partition, not one
appended file; score-dir keeps its folder + prompts file contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.choices import Backend, Decoder, Executor
from cleverward.cli.common import (
    DEVICE_HELP,
    choice_option,
    config_error,
    deprecated,
    fail,
    progress_bar,
)


def bulk(
    manifest: Annotated[Path, typer.Argument(
        help="Parquet, CSV or JSONL with columns video, prompt [, id, generator].")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (part-K.parquet files).")],
    model: Annotated[str, typer.Option("--model", help="Named model or checkpoint folder.")] = (
        "default"),
    videos_root: Annotated[Path | None, typer.Option(
        "--videos-root", help="Relative video paths resolve here (default: the manifest's "
        "folder).")] = None,
    root: Annotated[Path | None, typer.Option(
        "--root", hidden=True, help="Deprecated spelling of --videos-root.")] = None,
    partitions: Annotated[int, typer.Option(
        "--partitions", help="Partitions (0: about 2,000 pairs each).")] = 0,
    executor: Annotated[Executor, choice_option(
        Executor, "--executor", help="Ray Data, or this process.")] = "ray",
    address: Annotated[str | None, typer.Option(
        "--ray-address", help="An existing Ray cluster (default: start a local one).")] = None,
    num_cpus: Annotated[int | None, typer.Option(
        "--num-cpus", help="CPUs of the local cluster (default: all).")] = None,
    decode_workers: Annotated[int, typer.Option(
        "--decode-workers", help="Decode actors (0: the CPUs the encoders leave).")] = 0,
    decode_cpus: Annotated[float, typer.Option("--decode-cpus", help="CPUs per decoder.")] = 1.0,
    encode_actors: Annotated[int, typer.Option(
        "--encode-actors", help="Encoder actors (0: one per GPU, else one).")] = 0,
    encode_cpus: Annotated[float, typer.Option("--encode-cpus", help="CPUs per encoder.")] = 1.0,
    frames: Annotated[int, typer.Option("--frames", help="Frames sampled per video.")] = 8,
    decoder: Annotated[Decoder, choice_option(Decoder, "--decoder", help="Video decoder.")] = (
        "auto"),
    backend: Annotated[Backend, choice_option(
        Backend, "--backend", help="Where the reward head runs.")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Videos per batch.")] = 8,
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP)] = "auto",
    cache: Annotated[Path | None, typer.Option(
        "--cache", help="Embedding cache folder (each node's own, or a shared one).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use the cache.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Discard the partitions of another plan in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score every (video, prompt) of MANIFEST; rerun the same command to finish a killed run."""
    from cleverward.engine.backends import BackendUnavailable
    from cleverward.engine.bulk.plan import PlanError
    from cleverward.engine.bulk.run import BulkConfig, run_bulk
    from cleverward.engine.manifest import ManifestError

    if root is not None:
        deprecated("bulk --root", "--videos-root")
        videos_root = videos_root or root
    try:
        cfg = BulkConfig(manifest=str(manifest), out=str(out), model=model,
                         root=str(videos_root) if videos_root else None, partitions=partitions,
                         frames=frames, decoder=decoder, backend=backend,
                         cache_dir=str(cache) if cache else None, use_cache=not no_cache,
                         overwrite=overwrite, executor=executor, ray_address=address,
                         num_cpus=num_cpus, decode_workers=decode_workers,
                         decode_cpus=decode_cpus, encode_actors=encode_actors,
                         encode_cpus=encode_cpus, batch_size=batch_size, device=device)
        with progress_bar(None, "bulk", quiet, unit="pair") as update:
            summary = run_bulk(cfg, progress=update)
    except (ManifestError, PlanError, BackendUnavailable, FileNotFoundError, ValueError) as exc:
        fail(config_error(exc, {"ray_address": "--ray-address", "cache_dir": "--cache",
                                "use_cache": "--no-cache", "manifest": "MANIFEST",
                                "root": "--videos-root"}, BulkConfig))
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
        return
    typer.echo(f"{summary.rows} rows ({summary.failed} failed) in {summary.committed} "
               f"partitions committed, {summary.finished_before} of {summary.partitions} already "
               f"done, {summary.executor} executor, {summary.seconds:.1f}s -> {out}"
               if not quiet else str(out))


def register(app: typer.Typer) -> None:
    app.command("bulk")(bulk)
