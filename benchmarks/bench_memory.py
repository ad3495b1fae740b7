"""Single-process score-dir memory against the size of --out: flat, and the earlier rows are not
rewritten.

    python -m cleverward.benchmarks.bench_memory [--rows 5000000] [--videos 8] [--with-record]
                                                 [--json out.json]
    python -m cleverward.benchmarks.bench_memory --resume-only [--rows 1000000]
    python -m cleverward.benchmarks.bench_memory --compact-only [--rows 1000000]

Set-up: a few real H.264 clips and a prompts file (2 prompts), and an --out that already holds
`--rows` rows of OTHER videos and prompts, written directly as JSONL (synthetic rows, the shape
score-dir writes). Then, each in its own process (`cleverward score-dir`, peak RSS of that
child from os.wait4):

  empty    score-dir on the clips into an empty --out
  big      the same into the big --out (its rows are streamed by resume, never held)
  rerun    the same again on the big --out: every pair is done, nothing is scored

With --with-record the big --out also has a run record listing every one of its rows as scored
by this very model identity (so resume and the record save must not load it: the record is
streamed, only this run's videos' entries are held). For `big` it checks the earlier rows were
not rewritten: the file is the same inode and its
first N bytes (N = its size before) hash the same, and reports the bytes appended.
Target (issue 10): peak RSS of `big` <= 1.5 x that of `empty`.

--resume-only times resume alone, in this process: stream_output + run_record.resume over the
`--rows` rows of other videos for a plan of `--videos` videos, best of 3, once with the
pre-filter score-dir uses (rows of other videos counted, not parsed) and once with every row
parsed and validated (stream_output without `videos`).

--compact-only: `cleverward compact` (a child process: seconds, peak RSS) of `--rows` rows
followed by the first fifth of them again (superseded), and of 1,000 rows (the baseline).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cleverward.benchmarks.bad_inputs import write_h264

CLI = [sys.executable, "-c", "from cleverward.cli.app import main; main()"]
PROMPTS = ("a red ball bouncing on grass", "a city street at night")


def write_other_rows(path: Path, rows: int, model: str = "default") -> None:
    """`rows` valid score rows of videos and prompts no run here plans (1,000 prompts)."""
    from cleverward.engine.dimensions import CANONICAL_DIMENSIONS

    dims = ", ".join(f'"{d}": 0.{{s}}' for d in CANONICAL_DIMENSIONS)
    template = ('{{"video": "other/clip_{i:08d}.mp4", "prompt": "other prompt {p}", '
                '"score": 0.{s}, "dimensions": {{' + dims + '}}, "model": "' + model +
                '", "error": null}}\n')
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, rows, 100_000):
            f.write("".join(template.format(i=i, p=i % 1000, s=100000 + i % 900000)
                            for i in range(start, min(rows, start + 100_000))))


def write_other_record(out: Path, rows: int) -> None:
    """The run record of write_other_rows' rows, in the line layout save_run_record writes (one
    video entry a line), for the default model's identity with --frames 8."""
    from cleverward.engine.model import RewardModel
    from cleverward.engine.run_record import model_identity, run_record_path

    model = RewardModel.from_pretrained("default")
    identity = model_identity(model, model.decode_config(8, "auto"))
    with open(run_record_path(out), "w", encoding="utf-8") as f:
        f.write('{"version": 1, "models": {\n"default": {"identity": ' + json.dumps(identity)
                + ', "videos": {')
        for start in range(0, rows, 100_000):
            f.write(",".join(
                f'\n"other/clip_{i:08d}.mp4": {{"sig": [1000, 1700000000000000000], '
                f'"prompts": ["other prompt {i % 1000}"]}}'
                for i in range(start, min(rows, start + 100_000))) + ("," if start + 100_000
                                                                      < rows else ""))
        f.write("\n}}\n}}\n")


def prefix_sha256(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = size
        while left:
            block = f.read(min(left, 1 << 22))
            if not block:
                break
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def run_child(args: list[str], timeout: float = 3600) -> dict:
    """`cleverward ARGS` in a child process: wall seconds, exit code, peak RSS (MiB)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"cleverward {' '.join(args)} exited {proc.returncode}: "
                           f"{stderr[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def time_resume(work: Path, rows: int, videos: int, repeat: int = 3) -> dict:
    """Seconds of stream_output + resume over `rows` rows of other videos (best of `repeat`),
    with and without the pre-filter."""
    from cleverward.engine.output import stream_output
    from cleverward.engine.run_record import resume

    work.mkdir(parents=True, exist_ok=True)
    big = work / "big.jsonl"
    write_other_rows(big, rows)
    plan = {f"v{i:02d}.mp4": list(PROMPTS) for i in range(videos)}
    result = {"rows": rows, "videos": videos}
    for name, wanted in (("prefiltered", set(plan)), ("every_row_parsed", None)):
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            read = stream_output(big, "jsonl", wanted)
            done = resume("default", {v: list(ps) for v, ps in plan.items()}, work,
                          {"bench": 1}, read, None, None)
            best = min(best, time.perf_counter() - start)
        assert done.untouched == rows and done.dropped == 0, (done.untouched, done.dropped)
        result[name] = {"seconds": round(best, 3), "us_per_row": round(best / rows * 1e6, 3)}
    return result


def write_superseded(path: Path, rows: int) -> None:
    """write_other_rows, then its first fifth again (each of those rows superseded)."""
    write_other_rows(path, rows)
    with open(path, "ab") as f, open(path, "rb") as again:
        for _ in range(rows // 5):
            f.write(again.readline())


def time_compact(work: Path, rows: int) -> dict:
    """The files are written by a child process: a child's peak RSS counts the pages it shares
    with this process at the fork, so this one stays small."""
    work.mkdir(parents=True, exist_ok=True)
    result = {}
    for name, n in (("big", rows), ("baseline_1000_rows", 1000)):
        path = work / f"{name}.jsonl"
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from "
                        "cleverward.benchmarks.bench_memory import write_superseded; "
                        "write_superseded(Path(sys.argv[1]), int(sys.argv[2]))", str(path),
                        str(n)], check=True)
        size = path.stat().st_size
        ran = run_child(["compact", str(path)])
        result[name] = {"rows": n + n // 5, "kept": n, "bytes_before": size,
                        "bytes_after": path.stat().st_size, **ran}
    return result


def run(work: Path, rows: int, videos: int, with_record: bool = False) -> dict:
    folder = work / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(videos):
        write_h264(folder / f"v{i:02d}.mp4", frames=16 + i)
    prompts = work / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    big = work / "big.jsonl"
    mark = time.perf_counter()
    write_other_rows(big, rows)
    if with_record:
        write_other_record(big, rows)
    setup_s = time.perf_counter() - mark
    size, inode = big.stat().st_size, big.stat().st_ino
    digest = prefix_sha256(big, size)
    base = ["score-dir", str(folder), "--prompts", str(prompts), "--no-cache", "-q",
            "--workers", "1"]
    empty = run_child([*base, "--out", str(work / "empty.jsonl")])
    filled = run_child([*base, "--out", str(big), "--summary-json", str(work / "big.json")])
    after = big.stat().st_size
    unchanged = big.stat().st_ino == inode and prefix_sha256(big, size) == digest
    rerun = run_child([*base, "--out", str(big), "--summary-json", str(work / "rerun.json")])
    s_big = json.loads((work / "big.json").read_text())
    s_rerun = json.loads((work / "rerun.json").read_text())
    record = None
    if with_record:
        from cleverward.engine.run_record import read_run_record_for, run_record_path

        kept, _ = read_run_record_for(big, "default", {"other/clip_00000000.mp4"})
        record = {"bytes": run_record_path(big).stat().st_size,
                  "earlier_entries_kept": kept is not None and "other/clip_00000000.mp4" in
                  kept["models"]["default"]["videos"]}
    return {
        "rows_before": rows, "run_record": record, "out_bytes_before": size,
        "setup_s": round(setup_s, 1),
        "videos": videos, "prompts": len(PROMPTS),
        "empty": empty,
        "big": {**filled, "scored": s_big["scored"], "untouched": s_big["untouched"],
                "bytes_appended": after - size, "earlier_bytes_unchanged": unchanged},
        "rerun": {**rerun, "scored": s_rerun["scored"], "resumed": s_rerun["resumed"]},
        "rss_ratio_big_over_empty": round(filled["peak_rss_mib"] / empty["peak_rss_mib"], 3),
        "target_ratio": 1.5,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000, help="rows of other prompts in --out")
    ap.add_argument("--videos", type=int, default=8, help="clips scored")
    ap.add_argument("--with-record", action="store_true", help="give the big --out a run "
                    "record listing all its rows for this model")
    ap.add_argument("--resume-only", action="store_true", help="time resume alone, in this "
                    "process, with and without the pre-filter")
    ap.add_argument("--compact-only", action="store_true", help="time `cleverward compact` "
                    "of --rows rows and a fifth of them again")
    ap.add_argument("--work", type=Path, default=None, help="folder for the files (default: a "
                    "temporary one, removed after)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)
    if args.rows < 1 or args.videos < 1:
        ap.error("--rows and --videos must be at least 1")
    def bench(work: Path) -> dict:
        if args.resume_only:
            return time_resume(work, args.rows, args.videos)
        if args.compact_only:
            return time_compact(work, args.rows)
        return run(work, args.rows, args.videos, args.with_record)

    if args.work is None:
        with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
            result = bench(Path(tmp))
    else:
        result = bench(args.work)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if args.resume_only or args.compact_only:
        return 0
    ok = result["rss_ratio_big_over_empty"] <= result["target_ratio"] and result["big"][
        "earlier_bytes_unchanged"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
