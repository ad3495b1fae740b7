"""Score rows -> which generator made each clip -> a (metric, generator, prompt) score table.

Rows are read with the engine's own readers (engine/output.read_output: the last row of each
pair, as score-dir appends). The generator of a row is its "generator" field when present, else
the first path component of its video when the clip sits in a sub-folder
(videos/<generator>/<clip>); `generator_from` forces one of the two. Rows with an error (no
score) are counted and left out; a row whose generator cannot be told, or whose score is not a
number, is an error naming the file and line.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleverward.engine.dimensions import CANONICAL_DIMENSIONS, OVERALL
from cleverward.engine.output import OutputError, read_output

METRICS: tuple[str, ...] = (OVERALL, *CANONICAL_DIMENSIONS)
GENERATOR_FROM = ("auto", "field", "folder")


class CompareInputError(ValueError):
    """A score file or row that cannot be compared (named, with its line)."""


@dataclass(frozen=True)
class ScoredClip:
    """One scored (video, prompt) row: scores maps metric -> value (overall always present)."""

    generator: str
    prompt: str
    video: str
    model: str
    scores: dict[str, float]


@dataclass(frozen=True)
class LoadedScores:
    clips: list[ScoredClip]
    failed: int  # rows with an error and no score, left out
    files: int

    @property
    def models(self) -> list[str]:
        """Models by clip count, most first (ties by name)."""
        counts = Counter(c.model for c in self.clips)
        return sorted(counts, key=lambda m: (-counts[m], m))


def score_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".parquet": "parquet"}.get(suffix, "jsonl")


def generator_of(row: dict, where: str, generator_from: str = "auto") -> str:
    field = row.get("generator")
    has_field = isinstance(field, str) and field.strip() != ""
    video = str(row["video"]).replace("\\", "/")
    parts = (video[2:] if video.startswith("./") else video).split("/")
    in_folder = len(parts) > 1 and parts[0] != ""
    if generator_from in ("auto", "field") and has_field:
        return field.strip()
    if generator_from in ("auto", "folder") and in_folder:
        return parts[0]
    if generator_from == "field":
        raise CompareInputError(f"{where}: no \"generator\" field (--generator-from field)")
    if generator_from == "folder":
        raise CompareInputError(f"{where}: video {row['video']!r} is not in a generator "
                                "sub-folder (videos/<generator>/<clip>)")
    raise CompareInputError(f"{where}: cannot tell which generator made {row['video']!r}: no "
                            "\"generator\" field and not in a sub-folder "
                            "(videos/<generator>/<clip>)")


def _number(value, where: str, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CompareInputError(f"{where}: {name} is {value!r}, not a finite number")
    return float(value)


def _clip(row: dict, where: str, generator_from: str) -> ScoredClip | None:
    score = _number(row.get("score"), where, "score")
    if score is None:
        return None
    dims = row.get("dimensions") or {}
    if not isinstance(dims, dict):
        raise CompareInputError(f"{where}: dimensions is {dims!r}, not an object")
    scores = {OVERALL: score}
    for name in CANONICAL_DIMENSIONS:
        value = _number(dims.get(name), where, f"dimensions.{name}")
        if value is not None:
            scores[name] = value
    return ScoredClip(generator_of(row, where, generator_from), row["prompt"], row["video"],
                      str(row.get("model") or "unknown"), scores)


def _score_files(paths: list[str | Path]) -> list[Path]:
    """Each path a score file, or a `bulk` output folder: its part-*.parquet files."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            parts = sorted(path.glob("part-*.parquet"))
            if not parts:
                raise CompareInputError(f"{path}: a folder with no part-*.parquet (not a bulk "
                                        "output folder)")
            files += parts
        elif path.is_file():
            files.append(path)
        else:
            raise CompareInputError(f"{path}: no such score file")
    return files


def load_scores(paths: list[str | Path], generator_from: str = "auto") -> LoadedScores:
    """Every scored row of every file (JSONL / CSV / Parquet by suffix)."""
    if generator_from not in GENERATOR_FROM:
        raise CompareInputError(f"generator_from must be one of {GENERATOR_FROM}, "
                                f"got {generator_from!r}")
    clips, failed = [], 0
    for path in _score_files(paths):
        fmt = score_format(path)
        try:
            read = read_output(path, fmt)  # the last row per pair, and where it was read
        except OutputError as exc:
            raise CompareInputError(str(exc).replace("; use --overwrite or another --out", "")) \
                from None
        for row, where in zip(read.rows, read.places, strict=True):
            clip = _clip(row, where, generator_from)
            if clip is None:
                failed += 1
            else:
                clips.append(clip)
    return LoadedScores(clips, failed, len(paths))


@dataclass(frozen=True)
class ScoreTable:
    """values[m, g, p]: metric m of generator g on prompt p (mean over its clips), NaN where
    the generator has no scored clip for the prompt or its rows lack that metric."""

    generators: list[str]
    prompts: list[str]
    metrics: list[str]
    values: np.ndarray  # (M, G, P)

    def metric(self, name: str) -> np.ndarray:
        return self.values[self.metrics.index(name)]  # (G, P)


def score_table(clips: list[ScoredClip], model: str) -> ScoreTable:
    """The table of one model's rows. Metrics: overall plus every dimension some row carries."""
    mine = [c for c in clips if c.model == model]
    generators = sorted({c.generator for c in mine})
    prompts = list(dict.fromkeys(c.prompt for c in mine))
    metrics = [m for m in METRICS if any(m in c.scores for c in mine)]
    g_at = {g: i for i, g in enumerate(generators)}
    p_at = {p: i for i, p in enumerate(prompts)}
    total = np.zeros((len(metrics), len(generators), len(prompts)))  # (M, G, P)
    count = np.zeros_like(total)
    for c in mine:
        for m, name in enumerate(metrics):
            if name in c.scores:
                total[m, g_at[c.generator], p_at[c.prompt]] += c.scores[name]
                count[m, g_at[c.generator], p_at[c.prompt]] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return ScoreTable(generators, prompts, metrics, values)
