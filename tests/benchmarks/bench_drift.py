"""Drift benchmark: ours beside Evidently's DataDriftPreset on the same data.

Run on demand (not part of the test suite):

    python tests/benchmarks/bench_drift.py

Evidently comes from the environment `python tests/benchmarks/run_all.py` builds
(.bench-envs/evidently), or EVIDENTLY_PYTHON; absent, ours is measured alone and the
command that builds it is printed.

Evidently 0.7 does not import with pandas 3, so it runs in its own interpreter (a venv
with ``pip install evidently 'pandas<3' pyarrow``): this script writes the data to
parquet files and times ``Report([DataDriftPreset()]).run(...)`` there, import excluded.
It prints both timings, the ratio, and where the per-column verdicts differ (with the
statistics, so a reader can judge who is right).

Environment: BENCH_SIZES (default "100000,1000000"), BENCH_REPEAT (ours, default 3),
EVIDENTLY_REPEAT (default 1), EVIDENTLY_PYTHON.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path as _Path

sys.path.insert(0, str(_Path(__file__).resolve().parent))
import time
from pathlib import Path

import _envs  # noqa: E402
import _table  # noqa: E402
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mlops_jupyter.monitoring import compute_drift  # noqa: E402

# what each column does between reference and current
SHIFTS = {
    "num0": "mean +1.0 sd", "num1": "mean +0.3 sd", "num2": "mean +0.1 sd",
    "num3": "mean +0.05 sd", "num4": "sd x1.5", "num5": "lognormal, mean +0.2 sd",
    "cat0": "large proportion shift", "cat1": "3-point shift of one category",
}


def make_data(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """20 columns: 14 numeric, 6 categorical (12 levels); 8 of them shifted."""
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    for i in range(14):
        if i == 5:
            ref[f"num{i}"] = rng.lognormal(0, 0.5, n)
            base = rng.lognormal(0, 0.5, n)
            cur[f"num{i}"] = base + 0.2 * np.std(base)
            continue
        ref[f"num{i}"] = rng.normal(0, 1, n)
        mean = {0: 1.0, 1: 0.3, 2: 0.1, 3: 0.05}.get(i, 0.0)
        scale = 1.5 if i == 4 else 1.0
        cur[f"num{i}"] = rng.normal(mean, scale, n)
    levels = np.array([f"level_{j}" for j in range(12)])
    p0 = np.full(12, 1 / 12)
    for i in range(6):
        ref[f"cat{i}"] = levels[rng.choice(12, n, p=p0)]
        p = p0.copy()
        if i == 0:
            p = np.linspace(1, 3, 12)
            p /= p.sum()
        elif i == 1:
            p[0] += 0.03
            p[1:] -= 0.03 / 11
        cur[f"cat{i}"] = levels[rng.choice(12, n, p=p)]
    return pd.DataFrame(ref), pd.DataFrame(cur)


EVIDENTLY_SCRIPT = r"""
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
repeat = int(sys.argv[3])
times, cpu = [], []
for _ in range(repeat):
    c0 = time.process_time()
    t0 = time.perf_counter()
    snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
cols = {}
for m in snap.dict()["metrics"]:
    cfg = m.get("config", {})
    if cfg.get("type", "").endswith("ValueDrift"):
        method = cfg.get("method", ""); thr = cfg.get("threshold"); v = m.get("value")
        pval = "p_value" in method.lower()
        drifted = (v < thr) if pval else (v >= thr)
        cols[cfg["column"]] = {"method": method, "value": v, "threshold": thr, "drifted": bool(drifted)}
t0 = time.perf_counter()
html_size = len(snap.get_html_str(as_iframe=False)) if hasattr(snap, "get_html_str") else None
html_time = time.perf_counter() - t0
print(json.dumps({"times": times, "cpu": cpu, "columns": cols, "html_size": html_size, "html_time": html_time}))
"""


def run_evidently(python: str, ref: pd.DataFrame, cur: pd.DataFrame, repeat: int) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        rp, cp, sp = Path(tmp, "ref.parquet"), Path(tmp, "cur.parquet"), Path(tmp, "ev.py")
        ref.to_parquet(rp)
        cur.to_parquet(cp)
        sp.write_text(EVIDENTLY_SCRIPT)
        proc = subprocess.run([python, str(sp), str(rp), str(cp), str(repeat)],
                              capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        print(f"  evidently failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    default_sizes = "100000" if _table.quick() else "100000,1000000"
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", default_sizes).split(",")]
    repeat = int(os.environ.get("BENCH_REPEAT", "3"))
    ev_repeat = int(os.environ.get("EVIDENTLY_REPEAT", "1"))
    ev_python = _envs.python_for("evidently")
    print(f"drift benchmark: {os.cpu_count()} CPUs, numpy {np.__version__}, pandas {pd.__version__}")
    # warm-up: imports of scipy etc. are not part of the per-report cost
    warm_ref, warm_cur = make_data(1000, seed=99)
    compute_drift(warm_ref, warm_cur)._repr_html_()
    ok = True
    for n in sizes:
        ref, cur = make_data(n)
        times, cpu, html_times = [], [], []
        for _ in range(repeat):
            c0 = time.process_time()
            t0 = time.perf_counter()
            rep = compute_drift(ref, cur)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            t0 = time.perf_counter()
            html = rep._repr_html_()
            html_times.append(time.perf_counter() - t0)
        ours = statistics.median(times)
        print(f"\n{n:,} rows x {ref.shape[1]} columns (load average {os.getloadavg()[0]:.1f})")
        print(f"  ours: {ours:.3f} s (median of {repeat}; runs {', '.join(f'{t:.2f}' for t in times)}),"
              f" CPU {statistics.median(cpu):.3f} s,"
              f" HTML {len(html.encode()) / 1024:.0f} KiB in {statistics.median(html_times) * 1000:.0f} ms")
        print(f"  ours drifted: {', '.join(rep.drifted_columns)}")
        if n >= 1_000_000 and ours >= 2.0:
            print("  BUDGET MISSED: 1M x 20 must take under 2 s")
            ok = False
        if not ev_python:
            print("  " + _envs.missing("evidently"))
            _row(n, ref.shape[1], ours, len(html.encode()), None)
            continue
        ev = run_evidently(ev_python, ref, cur, ev_repeat)
        if ev is None:
            continue
        et = statistics.median(ev["times"])
        html_info = (f", HTML {ev['html_size'] / 1024:.0f} KiB in {ev['html_time']:.1f} s"
                     if ev.get("html_size") else "")
        ecpu = statistics.median(ev["cpu"])
        print(f"  evidently DataDriftPreset: {et:.3f} s (median of {len(ev['times'])}),"
              f" CPU {ecpu:.3f} s{html_info}")
        print(f"  ratio: ours is {et / ours:.1f}x faster (wall), "
              f"{ecpu / statistics.median(cpu):.1f}x less CPU")
        agree, diffs = 0, []
        for c in rep.columns:
            e = ev["columns"].get(c.column)
            if e is None:
                continue
            if e["drifted"] == c.drifted:
                agree += 1
            else:
                diffs.append(
                    f"    {c.column} ({SHIFTS.get(c.column, 'unshifted')}): ours "
                    f"{'DRIFT' if c.drifted else 'ok'} [{c.note}] vs evidently "
                    f"{'DRIFT' if e['drifted'] else 'ok'} [{e['method']} {e['value']:.4g}, "
                    f"threshold {e['threshold']}]")
        print(f"  verdict agreement: {agree}/{len(ev['columns'])} columns")
        for line in diffs:
            print(line)
        if et / ours < 20:
            print("  BUDGET MISSED: must be at least 20x faster than Evidently")
            ok = False
        _row(n, ref.shape[1], ours, len(html.encode()), (et, ev.get("html_size")))
    return 0 if ok and _table.exit_code() == 0 else 1


def _row(n: int, cols: int, ours: float, html_bytes: int, ev: tuple[float, int | None] | None) -> None:
    label = _envs.ENVS["evidently"].label
    size = f", {ev[1] / 1e6:.1f} MB" if ev and ev[1] else ""
    _table.row(
        f"drift report, {n:,} rows × {cols} columns",
        f"{ours:.2f} s, {html_bytes / 1024:.0f} KiB of HTML",
        f"{label} DataDriftPreset: {ev[0]:.1f} s{size} ({ev[0] / ours:.0f}× slower)" if ev else f"{label}: not measured",
        ratio=ev[0] / ours if ev else None,
        budget=("< 2 s; " if n >= 1_000_000 else "") + ">= 20x faster than Evidently",
        ok=(n < 1_000_000 or ours < 2.0) and (ev is None or ev[0] / ours >= 20), order=40 + n // 1_000_000,
    )


if __name__ == "__main__":
    raise SystemExit(main())
