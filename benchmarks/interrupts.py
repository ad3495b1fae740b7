"""Interrupt and concurrency trials on the real CLI, shared by the tests and reliability.py.

`kill_trial`: a score-dir run is killed with SIGKILL after its k-th row (or after a delay), then
the same command is run again; the trial is clean when the output parses line by line (no torn
line), holds every (video, prompt) of the plan exactly once, and its scores equal a clean run's
(within `tol`).
`two_writers`: a second run on an output another run holds must refuse, naming the holder's pid,
and once the first is done the second's rows join the first's: no row is lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ANNOUNCE = [sys.executable, "-m", "cleverward.benchmarks.announce"]
CLI = [sys.executable, "-c", "from cleverward.cli.app import main; main()"]
SLOW_FLAGS = ("--batch-size", "1", "--workers", "1", "-q")  # one row per clip, in order


def _env(**extra: str) -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}


def score_dir(videos, prompts, out, *extra, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [*CLI, "score-dir", str(videos), "--prompts", str(prompts), "--out", str(out),
           *SLOW_FLAGS, *map(str, extra)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def table(out: Path) -> tuple[dict, str | None]:
    """(video, prompt) -> score of a JSONL output, or why it is not clean (torn line, NaN,
    duplicate pair)."""
    rows: dict = {}
    for n, line in enumerate(out.read_text(encoding="utf-8").split("\n")[:-1], start=1):
        try:
            row = json.loads(line, parse_constant=_refuse_constant)
        except ValueError as exc:
            return rows, f"line {n} is not strict JSON ({exc})"
        key = (row["video"], row["prompt"])
        if key in rows:
            return rows, f"line {n} repeats {key}"
        rows[key] = row["score"]
    if not out.read_text(encoding="utf-8").endswith("\n"):
        return rows, "torn last line"
    return rows, None


def kill_trial(videos, prompts, out: Path, clean: dict, after_rows: int | None = None,
               after_s: float | None = None, extra=(), tol: float = 0.0) -> str | None:
    """One kill -9 then resume; None if clean, else what went wrong. `tol`: how far a score may
    be from the clean run's (0: equal; rows are rounded to 6 decimals, and scores computed in
    another batch shape, e.g. from cached vectors, can flip that last digit)."""
    cmd = [*ANNOUNCE, "score-dir", str(videos), "--prompts", str(prompts), "--out", str(out),
           *SLOW_FLAGS, *map(str, extra)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=_env())
    try:
        if after_rows is not None:
            for _ in range(after_rows):
                if not proc.stdout.readline():
                    break
        else:
            time.sleep(after_s or 0.0)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    res = score_dir(videos, prompts, out, *extra)
    if res.returncode != 0:
        return f"resume exited {res.returncode}: {res.stderr.strip()[-300:]}"
    rows, problem = table(out)
    if problem:
        return problem
    if set(rows) != set(clean):
        return f"pairs differ from a clean run: {sorted(set(rows) ^ set(clean))[:3]}"
    diff = max_score_diff(rows, clean)
    if diff > tol:
        return f"scores differ from a clean run (by up to {diff:.2g})"
    return None


def max_score_diff(rows: dict, clean: dict) -> float:
    """Largest |score - clean score| over the pairs (inf where one side is null)."""
    def gap(a, b):
        return 0.0 if a == b else abs(a - b) if None not in (a, b) else float("inf")

    return max((gap(rows[k], clean[k]) for k in clean), default=0.0)


def two_writers(videos, prompts_a, prompts_b, out: Path) -> str | None:
    """A holds `out` (paused after its first row) while B tries it; None if handled right."""
    cmd = [*ANNOUNCE, "score-dir", str(videos), "--prompts", str(prompts_a), "--out", str(out),
           *SLOW_FLAGS]
    first = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=_env(CW_PAUSE_AFTER_ROWS="1"))
    try:
        if first.stdout.readline() != "row\n":
            return "the first run wrote no row"
        second = score_dir(videos, prompts_b, out)
        first.stdin.write("\n")
        first.stdin.flush()
        _, first_err = first.communicate(timeout=600)
    finally:
        first.kill()
    if first.returncode != 0:
        return f"the first run failed: {first_err.strip()[-300:]}"
    if second.returncode != 2 or f"(pid {first.pid})" not in second.stderr:
        return f"the second run did not refuse naming pid {first.pid}: {second.stderr[-300:]}"
    again = score_dir(videos, prompts_b, out)
    if again.returncode != 0:
        return f"the second run, once free, failed: {again.stderr.strip()[-300:]}"
    rows, problem = table(out)
    return problem
