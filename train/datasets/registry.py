"""Annotation formats by name, and the `FORMAT:PATH` entry point the CLI's --dataset uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cleverward.train.datasets import genai_bench, generic, t2vqa, videofeedback
from cleverward.train.datasets import videogen_rewardbench as vgrb
from cleverward.train.datasets.records import DatasetRecords

Loader = Callable[[Path, "str | Path | None"], DatasetRecords]

FORMATS: dict[str, Loader] = {
    "t2vqa": t2vqa.load,
    "videofeedback": videofeedback.load,
    "genai-bench": genai_bench.load,
    "videogen-rewardbench": vgrb.load,
    "jsonl": generic.load,
}
ALIASES = {"generic": "jsonl", "t2vqa-db": "t2vqa", "genai_bench": "genai-bench",
           "videogen-rb": "videogen-rewardbench", "vgrb": "videogen-rewardbench"}


def parse_spec(spec: str) -> tuple[str, Path]:
    """`"t2vqa:T2VQA/info.txt"` -> ("t2vqa", Path("T2VQA/info.txt")); errors say what is known."""
    fmt, sep, path = spec.partition(":")
    if not sep or not path.strip():
        raise ValueError(f"dataset {spec!r}: expected FORMAT:PATH (formats: {', '.join(FORMATS)})")
    fmt = fmt.strip().lower()
    fmt = ALIASES.get(fmt, fmt)
    if fmt not in FORMATS:
        import difflib

        near = difflib.get_close_matches(fmt, list(FORMATS), n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ValueError(f"dataset {spec!r}: unknown format {fmt!r}; known: {', '.join(FORMATS)}"
                         + hint)
    return fmt, Path(path.strip())


def load_dataset(spec: str, videos_root: str | Path | None = None) -> DatasetRecords:
    fmt, path = parse_spec(spec)
    if not path.is_file():
        what = "not a regular file" if path.exists() else "no such file"
        raise FileNotFoundError(f"dataset {spec!r}: {what} {path}")
    return FORMATS[fmt](path, videos_root)
