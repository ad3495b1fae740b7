"""Where a bulk run's rows land: appended per partition to OUT/_staging/, and committed to
OUT/part-K.parquet (temporary file, then one rename) the moment partition K holds every pair its
plan lists. A kill loses only staging files, which the next run discards: a committed partition
is never written again, so each (video, prompt) is in exactly one file.

The driver runs the sink: rows are ~200 bytes, so even 64 GPUs' worth (thousands of rows a
second) is a trickle for one process, and one writer means no two processes ever write a file.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from cleverward.engine.bulk.plan import Plan
from cleverward.engine.bulk.stages import ROW_COLUMNS

STAGING = "_staging"
OUTPUT_COLUMNS = tuple(c for c in ROW_COLUMNS if c != "partition")


class PartitionSink:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.staging = Path(plan.folder) / STAGING
        shutil.rmtree(self.staging, ignore_errors=True)  # a killed run's partial partitions
        self.staging.mkdir(parents=True)
        self.counts: dict[int, int] = {}
        self.committed: list[int] = []
        self.rows = 0
        self.failed = 0

    def add(self, batch: dict) -> None:
        """A batch of row columns (stages.ROW_COLUMNS) -> staged; full partitions committed."""
        by_part: dict[int, list[str]] = {}
        for i in range(len(batch["key"])):
            row = {c: _plain(batch[c][i], c) for c in OUTPUT_COLUMNS}
            by_part.setdefault(int(batch["partition"][i]), []).append(
                json.dumps(row, ensure_ascii=False) + "\n")
            self.failed += row["error"] is not None
        for k, lines in by_part.items():
            with open(self._staged(k), "a", encoding="utf-8") as f:
                f.writelines(lines)
            self.counts[k] = self.counts.get(k, 0) + len(lines)
            self.rows += len(lines)
            if self.counts[k] > self.plan.pairs[k]:
                raise RuntimeError(f"partition {k}: {self.counts[k]} rows for "
                                   f"{self.plan.pairs[k]} planned pairs (a stage repeated rows)")
            if self.counts[k] == self.plan.pairs[k]:
                self.commit(k)

    def commit(self, k: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        staged = self._staged(k)
        with open(staged, encoding="utf-8") if staged.exists() else _Empty() as f:
            records = [json.loads(line) for line in f]
        table = pa.Table.from_pylist(records, schema=_schema())
        target = self.plan.output_file(k)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        pq.write_table(table.replace_schema_metadata(
            {"cleverward": json.dumps({"partition": k, "identity": self.plan.identity})}), tmp)
        os.replace(tmp, target)
        staged.unlink(missing_ok=True)
        self.committed.append(k)

    def commit_empty(self) -> None:
        """Partitions with nothing planned (a small manifest, many partitions) get empty files,
        so `finished` counts them."""
        for k, n in self.plan.pairs.items():
            if n == 0 and not self.plan.output_file(k).exists():
                self.commit(k)

    def close(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def _staged(self, k: int) -> Path:
        return self.staging / f"part-{k:05d}.jsonl"


class _Empty:
    def __enter__(self):
        return iter(())

    def __exit__(self, *exc) -> None:
        pass


_TEXT_COLUMNS = frozenset({"key", "video", "prompt", "generator", "model", "error"})


def _plain(value, column: str):
    """A batch cell -> a JSON-able Python value. Missing values may arrive as None or as NaN
    (Ray's JSON and Arrow conversions turn a null in an object column into a float NaN)."""
    if hasattr(value, "item"):
        value = value.item()
    if column == "generator":  # stages write a missing generator as "" (one Arrow type)
        return value if isinstance(value, str) and value else None
    if column in _TEXT_COLUMNS:
        return value if isinstance(value, str) else None
    if value is None or value != value:  # NaN: no score (the row's error says why)
        return None
    return float(value)


def _schema():
    import pyarrow as pa

    fields = [pa.field(c, pa.string() if c in _TEXT_COLUMNS else pa.float64())
              for c in OUTPUT_COLUMNS]
    return pa.schema(fields)
