"""Re-run the README's comparison table with one command.

    python tests/benchmarks/run_all.py                 # build envs, run all, print the table
    python tests/benchmarks/run_all.py --quick         # smaller sizes: a smoke run
    python tests/benchmarks/run_all.py --out bench.md  # also write the table to a file
    python tests/benchmarks/run_all.py --only tracking,jobs --build mlflow,papermill
    python tests/benchmarks/run_all.py --build-only    # just build the competitor envs
    python tests/benchmarks/run_all.py --list          # benchmarks and where each competitor is

It builds each competitor's environment inside the repository (``.bench-envs/NAME``,
git-ignored, pinned to the versions the table names: see ``_envs.py``), runs every
``bench_*.py`` in this folder one after another (never in parallel: they would measure
each other), collects the rows they report (``_table.row``) and prints the table in the
README's format with the machine (cores, Python) and the date.

Exit status: 0 when every benchmark met its budgets, 1 when one missed a budget or
failed (each is named), 2 on bad usage or when an environment could not be built. Meant
for a scheduled CI job, not for the default test run (pytest never collects this folder's
files: they are not named test_*).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _envs  # noqa: E402
import _table  # noqa: E402


def discover() -> dict[str, Path]:
    """Every ``bench_*.py`` here, by short name (``bench_tracking.py`` -> ``tracking``)."""
    return {p.stem[len("bench_"):]: p for p in sorted(HERE.glob("bench_*.py"))}


def machine() -> str:
    import sqlite3

    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    cpu = usable if usable == cores else f"{usable} of {cores}"
    return (f"{platform.system()} {platform.machine()}, {cpu} cores, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def render(rows: list[dict[str, object]], results: list[tuple[str, int, float]], when: str) -> str:
    lines = [
        f"Same machine ({machine()}), same run, figures from `tests/benchmarks/run_all.py` "
        f"({when}):",
        "",
        "| work | mlops-jupyter | the alternative |",
        "| --- | --- | --- |",
    ]
    for r in sorted(rows, key=lambda r: (r.get("order", 50), str(r["work"]))):
        alt = str(r["alternative"]) or "—"
        lines.append(f"| {r['work']} | {r['ours']} | {alt} |")
    lines += ["", "| benchmark | budget | status | time |", "| --- | --- | --- | --- |"]
    by_bench: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        by_bench.setdefault(str(r.get("bench")), []).append(r)
    for name, code, secs in results:
        mine = by_bench.get(name, [])
        budgets = "; ".join(sorted({b for r in mine for b in str(r["budget"]).split("; ") if b}))
        missed = any(r.get("ok") is False for r in mine)
        if code == 0:
            status = "met" if mine else "ran (no rows)"
        elif code == 1 and missed:
            status = "BUDGET MISSED"
        else:  # a crash (a traceback also exits 1) or a timeout: not a verdict on a budget
            status = f"FAILED (exit {code}: see its output)"
        lines.append(f"| {name} | {budgets or '—'} | {status} | {secs:.0f} s |")
    return "\n".join(lines) + "\n"


def run_one(name: str, path: Path, rows_file: Path, quick: bool, timeout: float) -> tuple[int, float]:
    env = {**os.environ, _table.ROWS_ENV: str(rows_file)}
    if quick:
        env[_table.QUICK_ENV] = "1"
    print(f"\n=== {name} ({path.name}) ===", flush=True)
    t = time.perf_counter()
    try:
        code = subprocess.run([sys.executable, str(path)], env=env, cwd=_envs.REPO, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        print(f"{name}: timed out after {timeout:.0f} s")
        code = 124
    return code, time.perf_counter() - t


def _names(text: str | None, known: list[str], what: str) -> list[str]:
    if text is None:
        return list(known)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"run_all: unknown {what} {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, minutes not an hour)")
    ap.add_argument("--only", help="comma-separated benchmarks to run (default: all)")
    ap.add_argument("--build", help="comma-separated competitor envs to build (default: all)")
    ap.add_argument("--no-build", action="store_true", help="use only envs already built or named by env vars")
    ap.add_argument("--build-only", action="store_true", help="build the envs, run nothing")
    ap.add_argument("--out", type=Path, help="also write the table (Markdown) to this file")
    ap.add_argument("--json", type=Path, help="also write the raw rows as JSON")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark (default 3600)")
    ap.add_argument("--list", action="store_true", help="list benchmarks and competitor envs, then exit")
    a = ap.parse_args(argv)

    benches = discover()
    if a.list:
        print("benchmarks:", ", ".join(benches))
        for name, label, where in _envs.status():
            print(f"  {name:10} {label:18} {where}")
        return 0
    try:
        selected = _names(a.only, list(benches), "benchmark")
        to_build = [] if a.no_build else _names(a.build, list(_envs.ENVS), "environment")
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2

    for name in to_build:
        if os.environ.get(_envs.ENVS[name].env_var):
            print(f"{name}: using {_envs.ENVS[name].env_var}={os.environ[_envs.ENVS[name].env_var]}")
            continue
        if _envs.python_for(name):
            print(f"{name}: {_envs.python_for(name)} ({_envs.ENVS[name].label}, checking its pins)", flush=True)
        else:
            print(f"building {_envs.ENVS[name].label} in {_envs.ENVS_DIR / name} ...", flush=True)
        try:
            _envs.build(name, quiet=True)
        except (subprocess.CalledProcessError, RuntimeError, OSError) as e:
            print(f"run_all: could not build {name}: {e}", file=sys.stderr)
            return 2
    if a.build_only:
        return 0
    for name, _label, where in _envs.status():
        if where == "missing":
            print(_envs.missing(name))

    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows: list[dict[str, object]] = []
    results: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="mlops-bench-rows-") as tmp:
        for name in selected:
            rows_file = Path(tmp) / f"{name}.jsonl"
            code, secs = run_one(name, benches[name], rows_file, a.quick, a.timeout)
            results.append((name, code, secs))
            if rows_file.exists():
                for line in rows_file.read_text(encoding="utf-8").splitlines():
                    rows.append({**json.loads(line), "bench": name})
    table = render(rows, results, when + (" — quick sizes" if a.quick else ""))
    print("\n" + table)
    if a.out:
        a.out.write_text(table, encoding="utf-8")
        print(f"table written to {a.out}")
    if a.json:
        a.json.write_text(json.dumps({"machine": machine(), "date": when, "quick": a.quick,
                                      "rows": rows, "results": results}, indent=1), encoding="utf-8")
    failed = [n for n, c, _ in results if c != 0]
    if failed:
        print(f"budgets missed or benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
