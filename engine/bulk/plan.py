"""Planning a bulk run: split a manifest into partitions by video key, once, into OUT/_plan/.

    OUT/_plan/plan.json          what the plan is of (manifest digest, partitions, model identity)
    OUT/_plan/part-00042.jsonl   one line per video of partition 42: key, video, prompts, ...
    OUT/part-00042.parquet       the partition's rows, written whole once every pair is scored

Planning streams the manifest (bounded memory: at most FLUSH_ROWS rows buffered) and never reads
a video's bytes: a video's partition is sha256 of its key (manifest.partition_of). A rerun of the
same command reuses the plan and skips the partitions whose Parquet file exists, so every
(video, prompt) ends up in exactly one committed file however often a run is killed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cleverward.engine.manifest import ManifestError, manifest_format, partition_of, read_manifest

PLAN_DIR = "_plan"
PLAN_VERSION = 1
FLUSH_ROWS = 50_000
ROWS_PER_PARTITION = 2_000  # --partitions 0: about this many (video, prompt) pairs each


class PlanError(ValueError):
    """An output folder that holds another plan, or a manifest that cannot be planned."""


@dataclass(frozen=True)
class Plan:
    folder: str  # OUT
    partitions: int
    pairs: dict[int, int]  # partition -> (video, prompt) pairs planned
    identity: dict  # model identity the rows depend on

    def plan_file(self, k: int) -> Path:
        return Path(self.folder) / PLAN_DIR / f"part-{k:05d}.jsonl"

    def output_file(self, k: int) -> Path:
        return Path(self.folder) / f"part-{k:05d}.parquet"

    def finished(self) -> list[int]:
        return [k for k in self.pairs if self.output_file(k).is_file()]

    def unfinished(self) -> list[int]:
        return [k for k in sorted(self.pairs) if not self.output_file(k).is_file()]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def approximate_rows(manifest: Path) -> int:
    """Rows of a manifest for choosing the partition count, without parsing it: Parquet's
    metadata, else the number of lines (a header, blank or comment lines count too)."""
    if manifest_format(manifest) == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(manifest).metadata.num_rows
        except Exception:  # noqa: BLE001 - read_manifest names the problem in a moment
            return 0
    with open(manifest, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def make_plan(manifest: str | Path, out: str | Path, identity: dict, partitions: int = 0,
              root: str | Path | None = None, overwrite: bool = False) -> Plan:
    """The plan of `manifest` in `out`: the existing one when it is of the same manifest,
    partition count and model identity; else a new one (refused when `out` holds finished
    partitions of another plan, unless overwrite)."""
    manifest, out = Path(manifest), Path(out)
    manifest_format(manifest)
    if not manifest.is_file():
        raise PlanError(f"{manifest}: no such file" if not manifest.exists() else
                        f"{manifest}: not a regular file")
    if out.exists() and not out.is_dir():
        raise PlanError(f"{out}: --out of a bulk run is a folder (it gets one Parquet file per "
                        "partition)")
    digest = file_sha256(manifest)
    old = _load(out)
    if old is not None and not overwrite:
        same = (old["manifest_sha256"] == digest and old["identity"] == identity
                and partitions in (0, old["partitions"]))
        if same:
            return _as_plan(out, old)
        if any(out.glob("part-*.parquet")):
            raise PlanError(f"{out}: holds finished partitions of another plan ("
                            f"{_difference(old, digest, identity, partitions)}); use --overwrite "
                            "or another --out")
    _clear(out)
    count = partitions or max(1, -(-approximate_rows(manifest) // ROWS_PER_PARTITION))
    pairs = _split(manifest, out, count, root)
    record = {"version": PLAN_VERSION, "manifest": str(manifest.resolve()),
              "manifest_sha256": digest, "partitions": count, "identity": identity,
              "pairs": {str(k): n for k, n in sorted(pairs.items())}}
    _write_json(out / PLAN_DIR / "plan.json", record)
    return _as_plan(out, record)


def _difference(old: dict, digest: str, identity: dict, partitions: int) -> str:
    if old["manifest_sha256"] != digest:
        return "the manifest changed"
    if old["identity"] != identity:
        return "another model, its weights or --frames changed"
    return f"{old['partitions']} partitions, not {partitions}"


def _load(out: Path) -> dict | None:
    try:
        record = json.loads((out / PLAN_DIR / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(record, dict) and record.get("version") == PLAN_VERSION
    return record if ok else None


def _as_plan(out: Path, record: dict) -> Plan:
    return Plan(folder=str(out.resolve()), partitions=record["partitions"],
                pairs={int(k): n for k, n in record["pairs"].items()},
                identity=record["identity"])


def _clear(out: Path) -> None:
    plan_dir = out / PLAN_DIR
    plan_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*plan_dir.glob("*"), *out.glob("part-*.parquet"), *out.glob(".part-*")]:
        if stale.is_file():
            stale.unlink()


def _split(manifest: Path, out: Path, count: int, root) -> dict[int, int]:
    """Stream the manifest into per-partition files (appending in bounded chunks), then
    deduplicate each partition on its own: -> partition -> pairs."""
    buffers: dict[int, list[str]] = defaultdict(list)
    buffered = 0

    def flush() -> None:
        for k, lines in buffers.items():
            with open(out / PLAN_DIR / f"raw-{k:05d}.jsonl", "a", encoding="utf-8") as f:
                f.writelines(lines)
        buffers.clear()

    try:
        for row in read_manifest(manifest, root):
            line = json.dumps([row.key, row.source, row.video, row.prompt, row.generator],
                              ensure_ascii=False)
            buffers[partition_of(row.key, count)].append(line + "\n")
            buffered += 1
            if buffered % FLUSH_ROWS == 0:
                flush()
    except ManifestError as exc:
        raise PlanError(str(exc)) from None
    flush()
    return {k: _dedupe(out, k) for k in range(count)}


@dataclass
class PlannedVideo:
    partition: int
    key: str
    source: str
    video: str
    generator: str | None
    prompts: list[str]


def _dedupe(out: Path, k: int) -> int:
    """raw-K (one line per manifest row) -> part-K (one line per video, its prompts in manifest
    order, each once). A video listed with two generators keeps the first."""
    raw = out / PLAN_DIR / f"raw-{k:05d}.jsonl"
    videos: dict[str, PlannedVideo] = {}
    if raw.is_file():
        with open(raw, encoding="utf-8") as f:
            for line in f:
                key, source, video, prompt, generator = json.loads(line)
                entry = videos.setdefault(key, PlannedVideo(k, key, source, video, generator,
                                                            []))
                if prompt not in entry.prompts:
                    entry.prompts.append(prompt)
        raw.unlink()
    target = out / PLAN_DIR / f"part-{k:05d}.jsonl"
    _write_text(target, "".join(json.dumps(vars(v), ensure_ascii=False) + "\n"
                                for v in videos.values()))
    return sum(len(v.prompts) for v in videos.values())


def read_partition(plan: Plan, k: int) -> list[PlannedVideo]:
    with open(plan.plan_file(k), encoding="utf-8") as f:
        return [PlannedVideo(**json.loads(line)) for line in f]


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_json(path: Path, record: dict) -> None:
    _write_text(path, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
