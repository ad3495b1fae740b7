"""Reliability figures for score-dir (issue 14): bad inputs, kills, concurrency, damaged state.

    python -m cleverward.benchmarks.reliability [--trials 20] [--json F] [--keep DIR]

Builds everything in a temporary folder with the functions the tests use (bad_inputs.py,
interrupts.py) and runs the real CLI: score-dir in child processes wherever a hang or a kill is
possible, in-process (the same typer app) for the prompts files, which fail before any video is
read. Prints, per family, the kinds tried and handled, with the name and reason of each miss:
- bad video kinds: an error row or a warning that says what is wrong, the good clips beside
  scored, no hang (run once with the cache on and once with --no-cache; handled = right in both);
- prompts-file kinds: exit 2, the message names the file and line, no traceback;
- kill -9 trials: SIGKILL after a random row, resume; clean = no torn line, every pair once,
  scores equal a clean run's (exactly without the cache; see kill_trials for the cached ones);
- concurrency cases and damaged-state cases (see CONCURRENCY and DAMAGE below).
If `cleverward.benchmarks.reliability_state` exists (training state, checkpoints, annotation
files: another module's figures), the dict its `run()` returns is merged into the report.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cleverward.benchmarks.bad_inputs import GOOD, PROMPT, build_videos, prompts_cases, write_h264
from cleverward.benchmarks.interrupts import (
    SLOW_FLAGS,
    kill_trial,
    max_score_diff,
    score_dir,
    table,
    two_writers,
)


def _family(tried: list[str], missed: dict[str, str]) -> dict:
    return {"tried": len(tried), "handled": len(tried) - len(missed), "missed": missed}


def _check_video_case(case, rows: dict, warnings: str) -> str | None:
    row = rows.get(case.name)
    if case.outcome == "error":
        if row is None or row["score"] is not None or case.expect not in (row["error"] or ""):
            return f"expected an error row with {case.expect!r}, got {row}"
    elif case.outcome == "warning":
        if case.expect not in warnings:
            return f"expected a warning with {case.expect!r}"
        if (row is not None) != case.scored:
            return "scored" if row is not None else "not scored"
    elif row is None or row["error"] is not None:
        return f"expected a score, got {row}"
    return None


def bad_videos(work: Path) -> dict:
    cases = build_videos(work / "videos")
    prompts = work / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": PROMPT}) + "\n")
    missed: dict[str, str] = {}
    for mode, flags in (("cache", ("--cache", work / "cache")), ("no-cache", ("--no-cache",))):
        out, summary = work / f"bad-{mode}.jsonl", work / f"bad-{mode}.json"
        try:
            res = score_dir(work / "videos", prompts, out, "--summary-json", summary, *flags,
                            timeout=600)
        except subprocess.TimeoutExpired:
            return _family([c.name for c in cases], {"(all)": f"{mode}: hung for 600 s"})
        if res.returncode != 0 or "Traceback" in res.stderr:
            return _family([c.name for c in cases], {"(all)": f"{mode}: {res.stderr[-300:]}"})
        rows = {r["video"]: r for r in map(json.loads, out.read_text().splitlines())}
        warnings = "\n".join(json.loads(summary.read_text())["warnings"])
        for name in GOOD:
            if rows.get(name, {}).get("score") is None:
                missed[f"good clip {name}"] = f"{mode}: not scored"
        for case in cases:
            why = _check_video_case(case, rows, warnings)
            if why:
                missed[case.name] = f"{mode}: {why}"
    return _family([c.name for c in cases], missed)


def bad_prompts(work: Path) -> dict:
    from typer.testing import CliRunner

    from cleverward.cli.app import app

    videos = work / "videos"
    missed = {}
    cases = prompts_cases()
    for case in cases:
        path = work / f"prompts-{case.name}.jsonl"
        path.write_bytes(case.text)
        out = work / f"prompts-{case.name}-out.jsonl"
        res = CliRunner().invoke(app, ["score-dir", str(videos), "--prompts", str(path), "--out",
                                       str(out), "-q", "--no-cache"])
        if case.row_for:  # the run goes on; the named video's row carries the message
            rows = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
            problems = [r["error"] for r in rows if r["video"] == case.row_for and r["error"]]
            ok = res.exit_code == 0 and case.matches(path, problems)
        else:
            problems = [line for line in res.stderr.splitlines() if line.startswith(str(path))]
            ok = res.exit_code == 2 and case.matches(path, problems) and not out.exists()
        if "Traceback" in res.output or not ok:
            missed[case.name] = f"exit {res.exit_code}: {res.stderr.strip()[-200:]}"
    return _family([c.name for c in cases], missed)


def _small_corpus(work: Path, n: int = 6) -> tuple[Path, Path, dict]:
    videos = work / "small"
    videos.mkdir(exist_ok=True)
    for i in range(n):
        write_h264(videos / f"v{i}.mp4", frames=8 + i)
    prompts = work / "small.jsonl"
    prompts.write_text(json.dumps({"prompt": "first"}) + "\n" + json.dumps({"prompt": "second"})
                       + "\n")
    res = score_dir(videos, prompts, work / "clean.jsonl", "--no-cache")
    if res.returncode != 0:
        raise RuntimeError(f"the clean run failed: {res.stderr[-500:]}")
    clean, problem = table(work / "clean.jsonl")
    if problem:
        raise RuntimeError(f"the clean run is not clean: {problem}")
    return videos, prompts, clean


ROUNDING = 1.5e-6  # rows carry 6 decimals: one unit in the last one, plus float noise


def kill_trials(work: Path, corpus, trials: int, seed: int = 0) -> dict:
    """Odd trials run with --no-cache (scores must equal the clean run's exactly); even ones
    with a cache that earlier trials filled: cached clips are scored in one batch, not one by
    one, which can move the 6th decimal, so they are held to ROUNDING and the largest gap is
    reported."""
    videos, prompts, clean = corpus
    rng = random.Random(seed)
    missed, exact, worst = {}, 0, 0.0
    for t in range(trials):
        after = rng.randint(1, len(clean))  # rows may land before the kill is delivered
        cached = t % 2 == 0
        extra = ("--cache", work / "kill-cache") if cached else ("--no-cache",)
        out = work / f"killed-{t}.jsonl"
        why = kill_trial(videos, prompts, out, clean, after_rows=after, extra=extra,
                         tol=ROUNDING if cached else 0.0)
        if why:
            missed[f"trial {t} (kill after row {after}, cache {'on' if cached else 'off'})"] = why
            continue
        diff = max_score_diff(table(out)[0], clean)
        exact += diff == 0.0
        worst = max(worst, diff)
    report = _family([str(t) for t in range(trials)], missed)
    report.update(scores_equal_exactly=exact, largest_score_gap=worst)
    return report


def _case_alias(work, corpus) -> str | None:
    videos, prompts, _ = corpus
    target = work / "alias-target.jsonl"
    link = work / "alias-link.jsonl"
    link.symlink_to(target)
    other = work / "third.jsonl"
    other.write_text(json.dumps({"prompt": "third"}) + "\n")
    return two_writers(videos, prompts, other, link)  # same file under two names


def _case_same_out(work, corpus) -> str | None:
    videos, prompts, _ = corpus
    other = work / "third.jsonl"
    other.write_text(json.dumps({"prompt": "third"}) + "\n")
    return two_writers(videos, prompts, other, work / "shared.jsonl")


def _case_shared_cache(work, corpus) -> str | None:
    """Two runs at once, other outputs, one cache folder: both complete, scores as clean."""
    from cleverward.benchmarks.interrupts import CLI, _env

    videos, prompts, clean = corpus
    procs = [subprocess.Popen([*CLI, "score-dir", str(videos), "--prompts", str(prompts),
                               "--out", str(work / f"cache-{i}.jsonl"), "--cache",
                               str(work / "shared-cache"), *SLOW_FLAGS],
                              stderr=subprocess.PIPE, text=True, env=_env()) for i in range(2)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    for i, (p, err) in enumerate(zip(procs, errs, strict=True)):
        if p.returncode != 0:
            return f"run {i} exited {p.returncode}: {err[-300:]}"
        rows, problem = table(work / f"cache-{i}.jsonl")
        if problem or rows != clean:
            return f"run {i}: {problem or 'scores differ from a clean run'}"
    return None


CONCURRENCY: dict[str, Callable] = {
    "second run on a held output refuses naming the pid, then adds its rows": _case_same_out,
    "same output under a symlinked name is the same lock": _case_alias,
    "two runs at once sharing one cache folder": _case_shared_cache,
}


def concurrency(work: Path, corpus) -> dict:
    missed = {}
    for i, (name, case) in enumerate(CONCURRENCY.items()):
        folder = work / f"concurrency-{i}"
        folder.mkdir()
        why = case(folder, corpus)
        if why:
            missed[name] = why
    return _family(list(CONCURRENCY), missed)


def _run_cli(*args) -> tuple[int, str]:
    from typer.testing import CliRunner

    from cleverward.cli.app import app

    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.stderr


def _damage_case(work: Path, corpus, damage: Callable[[Path], None], fmt: str = "jsonl",
                 cache: bool = False, expect_warning: str = "") -> str | None:
    """A clean output (and cache), damaged, then the same command: exit 0, the clean scores,
    every pair once, and the warning that says what was found."""
    videos, prompts, clean = corpus
    out = work / f"s.{fmt}"
    flags = ["--cache", work / "cache"] if cache else ["--no-cache"]
    base = ["score-dir", videos, "--prompts", prompts, "--out", out, "--format", fmt, *flags,
            *SLOW_FLAGS]  # the clean run's flags: batch size moves scores by 1e-6
    code, err = _run_cli(*base)
    if code != 0:
        return f"the first run failed: {err[-300:]}"
    damage(out)
    summary = work / "summary.json"
    code, err = _run_cli(*base, "--summary-json", summary)
    if code != 0:
        return f"exit {code}: {err.strip()[-300:]}"
    from cleverward.engine.output import read_output

    rows = read_output(out, fmt).rows
    got = {(r["video"], r["prompt"]): r["score"] for r in rows}
    if len(rows) != len(clean) or got != clean:
        return f"{len(rows)} rows, scores {'equal' if got == clean else 'differ'} (clean run)"
    warnings = "\n".join(json.loads(summary.read_text())["warnings"])
    if expect_warning and expect_warning not in warnings:
        return f"no warning with {expect_warning!r}: {warnings[:300]}"
    return None


def _record(out: Path) -> Path:
    return Path(str(out) + ".cwrun.json")


def _torn_last_line(out: Path) -> None:
    data = out.read_bytes()
    out.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 15])


def _bad_row(field: str):
    def damage(out: Path) -> None:
        lines = out.read_text().splitlines()
        row = json.loads(lines[0])
        lines[0] = json.dumps(row)[:-1].replace(f'"score": {json.dumps(row["score"])}',
                                                f'"score": {field}') + "}"
        out.write_text("\n".join(lines) + "\n")
    return damage


def _garble_cache(out: Path) -> None:
    db = out.parent / "cache" / "cache.sqlite"
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    rnd = random.Random(1)
    data[page:] = bytes(rnd.randrange(256) for _ in range(len(data) - page))
    db.write_bytes(bytes(data))


def _not_a_database(out: Path) -> None:
    db = out.parent / "cache" / "cache.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"not a database " * 64)


def _drop_shards(out: Path) -> None:
    for shard in (out.parent / "cache" / "vectors").rglob("*.faiss"):
        shard.write_bytes(b"garbage")


def _stale_lock(out: Path) -> None:
    Path(str(out) + ".cwlock").write_text("999999\n")  # left by a process that died


DAMAGE: dict[str, tuple[Callable, dict]] = {
    "run record missing": (lambda out: _record(out).unlink(), {"expect_warning": "run record"}),
    "run record truncated": (lambda out: _record(out).write_text(_record(out).read_text()[:40]),
                             {"expect_warning": "run record"}),
    "run record garbled": (lambda out: _record(out).write_bytes(os.urandom(80)),
                           {"expect_warning": "run record"}),
    "run record of the wrong shape": (lambda out: _record(out).write_text('{"models": [1]}'),
                                      {"expect_warning": "run record"}),
    "JSONL torn last line": (_torn_last_line, {"expect_warning": "torn last line"}),
    "JSONL row with \"score\": \"high\"": (_bad_row('"high"'), {"expect_warning": "'high'"}),
    "JSONL row with NaN": (_bad_row("NaN"), {"expect_warning": "nan"}),
    "JSONL row with Infinity": (_bad_row("Infinity"), {"expect_warning": "inf"}),
    "CSV torn last row": (_torn_last_line, {"fmt": "csv", "expect_warning": "torn last line"}),
    "cache pages garbled behind a valid header": (_garble_cache, {"cache": True,
                                                                   "expect_warning": "damaged"}),
    "cache file not a database": (_not_a_database, {"cache": True, "expect_warning": "damaged"}),
    "cache vector shards garbled": (_drop_shards, {"cache": True}),
    "stale lock file from a dead run": (_stale_lock, {}),
}


def damaged_state(work: Path, corpus) -> dict:
    missed = {}
    for i, (name, (damage, opts)) in enumerate(DAMAGE.items()):
        folder = work / f"damage-{i}"
        folder.mkdir()
        try:
            why = _damage_case(folder, corpus, damage, **opts)
        except (OSError, ValueError, sqlite3.Error) as exc:
            why = f"{type(exc).__name__}: {exc}"
        if why:
            missed[name] = why
    return _family(list(DAMAGE), missed)


def run(trials: int = 20, work: Path | None = None) -> dict:
    work = Path(work or tempfile.mkdtemp(prefix="cw-reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = {"bad video kinds": bad_videos(work / "bad"),
              "prompts-file kinds": bad_prompts(work / "bad")}
    corpus = _small_corpus(work)
    report["kill -9 trials"] = kill_trials(work, corpus, trials)
    report["concurrency cases"] = concurrency(work, corpus)
    report["damaged-state cases"] = damaged_state(work, corpus)
    try:
        state = importlib.import_module("cleverward.benchmarks.reliability_state")
    except ModuleNotFoundError:
        state = None
    if state is not None:
        report.update(state.run())
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def format_report(report: dict) -> str:
    lines = []
    for family, figures in report.items():
        if not isinstance(figures, dict) or "tried" not in figures:
            lines.append(f"{family}: {figures}")
            continue
        extra = {k: v for k, v in figures.items() if k not in ("tried", "handled", "missed")}
        lines.append(f"{family}: {figures['handled']} handled of {figures['tried']} tried"
                     + "".join(f", {k.replace('_', ' ')} {v:g}" for k, v in extra.items()))
        lines += [f"    MISSED {name}: {why}" for name, why in figures.get("missed", {}).items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="kill -9 trials")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--keep", default=None, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cw-reliability-"))
    try:
        report = run(args.trials, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    missed = sum(len(f.get("missed", {})) for f in report.values() if isinstance(f, dict))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
