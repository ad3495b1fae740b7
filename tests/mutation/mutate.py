"""`make mutate`: mutation testing of the core modules with mutmut, one module at a time.

    .venv/bin/python -m tests.mutation.mutate [--only SLUG ...] [--max-children N] [--report-only]

Why a staging folder: mutmut 3 names a mutant after its file's path (engine/sharding.py ->
module `engine.sharding`) and activates it only when the running function's `__module__` has
that name, but this repository maps engine/ to `cleverward.engine` through package-dir, so in
place every mutant would silently be "not hit". Each target is therefore run in
build/mutation/<slug>/, a copy laid out as the import names are (cleverward/engine/...,
tests/), where mutmut's own sys.path set-up makes `cleverward.engine` resolve to its mutated
copy ahead of the editable install (a namespace package follows sys.path order).

Each module's counts go to tests/mutation/results/<slug>.json; tests/RESULTS_mutation.md is
rebuilt from all of them, with every survivor's diff and, where it is equivalent, the reason
(tests/mutation/equivalent.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import tomllib

from tests.mutation.equivalent import EQUIVALENT
from tests.mutation.modules import PENDING, TARGETS, Target

ROOT = Path(__file__).resolve().parents[2]
STAGE = ROOT / "build" / "mutation"
RESULTS = Path(__file__).resolve().parent / "results"
REPORT = ROOT / "tests" / "RESULTS_mutation.md"
CODE_DIRS = ("engine", "kernels", "train", "cli", "benchmarks")
KILLED = ("killed", "timeout", "segfault")  # a mutant the tests noticed
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def _toml_list(items) -> str:
    return "[" + ", ".join(json.dumps(str(i)) for i in items) + "]"


def stage(target: Target) -> Path:
    """A fresh copy of the code under cleverward/ and the tests, with a mutmut config."""
    dest = STAGE / target.slug
    shutil.rmtree(dest, ignore_errors=True)
    for name in CODE_DIRS:
        shutil.copytree(ROOT / name, dest / "cleverward" / name, ignore=_IGNORE)
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=_IGNORE)
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    (dest / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        f"markers = {_toml_list(ini.get('markers', []))}\n"
        "\n[tool.mutmut]\n"
        f'source_paths = ["cleverward"]\n'
        f"only_mutate = {_toml_list(['cleverward/' + target.path])}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(target.tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]\n'
        "use_git_change_detection = false\n"
    )
    return dest


def _mutmut(dest: Path, *args: str, env: dict) -> str:
    exe = Path(sys.executable).with_name("mutmut")
    res = subprocess.run([str(exe), *args], cwd=dest, env=env, capture_output=True, text=True)
    # `run` must succeed (a failing clean run exits 1 with every mutant left unchecked);
    # `results` and `show` exit 1 when there is nothing to list
    if res.returncode not in ((0,) if args[0] == "run" else (0, 1)) or "Traceback" in res.stderr:
        raise RuntimeError(f"mutmut {' '.join(args)} failed in {dest}:\n{res.stdout[-3000:]}\n"
                           f"{res.stderr[-3000:]}")
    return res.stdout


def _module(target: Target) -> str:
    return "cleverward." + target.slug


def _wanted(target: Target, name: str) -> bool:
    """Only the listed functions (methods mangle as `x«Class»«method»__mutmut_N`)."""
    if not target.functions:
        return True
    local = name.removeprefix(_module(target) + ".").partition("__mutmut_")[0]
    return any(local in (f"x_{f}", f) or local.endswith(f"ǁ{f}") for f in target.functions)


def run_target(target: Target, max_children: int, previous: dict | None = None) -> dict:
    """All of the target's mutants; with `previous` (its last result), only the mutants that
    survived it, the rest keeping their verdict (the tests only grow, so a mutant once killed
    stays killed)."""
    if previous is not None and not previous["survivors"]:
        return previous
    dest = stage(target)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    env.pop("PYTHONPATH", None)
    mod = _module(target)
    patterns = ([p for f in target.functions for p in (f"{mod}.x_{f}__mutmut_*",
                                                       f"{mod}.xǁ*ǁ{f}__mutmut_*")]
                or [f"{mod}.*"])
    if previous is not None:
        patterns = sorted(previous["survivors"])
    t0 = time.monotonic()
    _mutmut(dest, "run", "--max-children", str(max_children), *patterns, env=env)
    seconds = time.monotonic() - t0
    statuses: dict[str, str] = {}
    for line in _mutmut(dest, "results", "--all", "true", env=env).splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name.startswith(mod) and _wanted(target, name):
            statuses[name] = status
    if previous is None:
        counts = Counter(statuses.values())
        survivors = {n: _mutmut(dest, "show", n, env=env).strip()
                     for n, s in sorted(statuses.items()) if s not in KILLED}
    else:
        counts = Counter(previous["counts"])
        survivors = {}
        for name, diff in previous["survivors"].items():
            old = diff.splitlines()[0].rpartition(": ")[2] if diff.startswith("#") else "survived"
            counts[old] -= 1
            counts[statuses[name]] += 1
            if statuses[name] not in KILLED:
                survivors[name] = diff
        seconds += previous["seconds"]
    return {"path": target.path, "functions": list(target.functions), "tests": list(target.tests),
            "seconds": round(seconds, 1), "counts": {k: v for k, v in counts.items() if v},
            "survivors": survivors}


def _rate(result: dict) -> tuple[int, int, float]:
    counts = result["counts"]
    killed = sum(counts.get(k, 0) for k in KILLED)
    total = sum(counts.values())
    return killed, total, (100.0 * killed / total if total else 0.0)


def write_report() -> None:
    results = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    lines = [
        "# Mutation testing results (mutmut 3.8.1)",
        "",
        "Command: `make mutate` (= `.venv/bin/python -m tests.mutation.mutate`; one module:",
        "`--only engine.sharding`). Each module is mutated on its own, judged by the fast test",
        "subset listed in tests/mutation/modules.py. Killed counts mutants the tests failed on",
        "(timeouts included); the rate is killed / all mutants generated in the module (or in",
        "the listed functions). Time: wall seconds of `mutmut run` for the module, 2 workers,",
        "on the project's 2-core machine (shared with other jobs when these were recorded);",
        "it adds up the module's `--recheck-survivors` runs (after new tests, only the last",
        "survivors are rerun; a mutant once killed stays killed as the tests only grow).",
        "Why mutmut in a staged copy rather than in place, or cosmic-ray: see the docstring",
        "of tests/mutation/mutate.py (mutmut forks per mutant after one import of torch;",
        "cosmic-ray would start a fresh pytest, ~5 s of imports, per mutant).",
        "The dataset adapters (train/datasets/) are mutated in their score-parsing functions",
        "only (the functions column), as embedding_cache.py in its cache-key functions.",
        "",
        "| module | functions | mutants | killed | survived | no tests | killed % | equivalent"
        " survivors | time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        killed, total, pct = _rate(r)
        c = r["counts"]
        equiv = sum(1 for n in r["survivors"] if n in EQUIVALENT)
        funcs = ", ".join(r["functions"]) or "all"
        lines.append(f"| {r['path']} | {funcs} | {total} | {killed} | {c.get('survived', 0)} | "
                     f"{c.get('no tests', 0)} | {pct:.1f} | {equiv} | {r['seconds']} |")
    if PENDING:
        lines += ["", "Pending (being rewritten elsewhere; one line each in modules.py):",
                  *[f"- {p}" for p in PENDING]]
    lines += ["", "## Survivors", ""]
    for r in results:
        for name, diff in r["survivors"].items():
            why = EQUIVALENT.get(name, "NOT EXPLAINED: needs a test")
            lines += [f"### {name}", "", f"Equivalent: {why}" if name in EQUIVALENT else why,
                      "", "```diff", diff, "```", ""]
    REPORT.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="module slugs, e.g. engine.sharding")
    ap.add_argument("--max-children", type=int, default=2)
    ap.add_argument("--report-only", action="store_true", help="rebuild the report from results/")
    ap.add_argument("--recheck-survivors", action="store_true",
                    help="rerun only the mutants that survived the last recorded run")
    args = ap.parse_args(argv)
    known = {t.slug: t for t in TARGETS}
    unknown = sorted(set(args.only or ()) - set(known))
    if unknown:
        ap.error(f"unknown module(s) {unknown}; known: {sorted(known)}")
    RESULTS.mkdir(exist_ok=True)
    if not args.report_only:
        for target in [known[s] for s in args.only] if args.only else TARGETS:
            last = RESULTS / f"{target.slug}.json"
            previous = json.loads(last.read_text()) if args.recheck_survivors else None
            result = run_target(target, args.max_children, previous)
            (RESULTS / f"{target.slug}.json").write_text(json.dumps(result, indent=1) + "\n")
            killed, total, pct = _rate(result)
            print(f"{target.path}: {killed}/{total} killed ({pct:.1f}%), "
                  f"{result['seconds']} s", flush=True)
    write_report()
    print(f"wrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
