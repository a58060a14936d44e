"""Monitor benchmark: 1,000 monitors x 10,000 new rows x 20 columns, one command.

Run on demand (not part of the test suite):

    python tests/benchmarks/bench_monitor.py
    EVIDENTLY_PYTHON=/path/to/venv/bin/python python tests/benchmarks/bench_monitor.py

Setup (not timed): one model trained on 50,000 rows x 20 columns, then BENCH_MONITORS
(default 1000) monitors on it, each reading its own dataset that received one new
version of BENCH_ROWS (default 10,000) rows; a tenth of them drifted. Timed: one
``mlops monitor run --all --no-retrain`` in a fresh process (interpreter start and
imports included), which checks every monitor against its binned reference summary
and saves every check (monitor history + drift history). Budget: <= 60 s.

Then the same checks for 20 of the monitors with Evidently's DataDriftPreset (which
recomputes from the raw reference every time), in its own interpreter given by
EVIDENTLY_PYTHON (Evidently 0.7 does not import with pandas 3); the ratio is per check.
Without EVIDENTLY_PYTHON that half is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

N_MON = int(os.environ.get("BENCH_MONITORS", "1000"))
N_ROWS = int(os.environ.get("BENCH_ROWS", "10000"))
N_EVIDENTLY = int(os.environ.get("BENCH_EVIDENTLY", "20"))
BUDGET_S = 60.0


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {f"num{i}": rng.normal(shift if i == 0 else 0.0, 1, n) for i in range(16)}
    for i in range(4):
        cols[f"cat{i}"] = rng.choice([f"level_{j}" for j in range(12)], n)
    return pd.DataFrame(cols)


def setup(home: Path) -> pd.DataFrame:
    os.environ["MLOPS_HOME"] = str(home)
    from sklearn.linear_model import LinearRegression

    import mlops_jupyter as mj

    train = frame(50_000, 0)
    mj.datasets.add(train, name="train")
    model = LinearRegression().fit(train[[f"num{i}" for i in range(1, 16)]], train["num0"])
    mj.models.register(model, "bench", dataset="train@v1", signature=train.drop(columns="num0"))
    mj.models.promote("bench@v1", alias="production", reason="bench")
    t0 = time.perf_counter()
    for k in range(N_MON):
        mj.monitors.add(f"m{k:04d}", model="bench@production", current=f"live{k:04d}",
                        columns=list(train.columns), label="none")
        mj.datasets.add(frame(N_ROWS, 1000 + k, shift=0.3 if k % 10 == 0 else 0.0),
                        name=f"live{k:04d}")
    print(f"setup: {N_MON} monitors and their windows in {time.perf_counter() - t0:.1f} s")
    return train


EVIDENTLY_SCRIPT = r"""
import sys, time, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1]); paths = sys.argv[2:]
t0 = time.perf_counter()
for p in paths:
    Report([DataDriftPreset()]).run(current_data=pd.read_parquet(p), reference_data=ref)
print(time.perf_counter() - t0)
"""


def main() -> int:
    print(f"monitor benchmark: {os.cpu_count()} CPUs, {N_MON} monitors x {N_ROWS:,} rows x 20 columns")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp, ".mlops")
        train = setup(home)
        env = {**os.environ, "MLOPS_HOME": str(home)}
        load = os.getloadavg()[0]
        import resource

        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "mlops_jupyter", "monitor", "run", "--all",
                               "--no-retrain"], env=env, capture_output=True, text=True, cwd=tmp)
        elapsed = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout else []
        if proc.returncode != 0:
            print("run --all failed:", proc.stderr[-2000:])
            return 1
        drifted = sum(1 for ln in proc.stdout.splitlines() if " DRIFT " in ln)
        print(f"ours: `mlops monitor run --all` {elapsed:.1f} s for {N_MON} checks "
              f"({elapsed / N_MON * 1000:.1f} ms/check; load average {load:.1f}); {tail[0] if tail else ''}")
        print(f"      CPU time {cpu:.1f} s ({cpu / N_MON * 1000:.1f} ms/check: what an idle "
              f"machine's wall time would be, one process); {drifted} drifted "
              f"({len(range(0, N_MON, 10))} windows were shifted)")
        scaled = BUDGET_S * N_MON / 1000
        print(f"      budget {BUDGET_S:.0f} s per 1,000 ({scaled:.1f} s here): wall "
              f"{'PASS' if elapsed <= scaled else 'OVER'}, CPU {'PASS' if cpu <= scaled else 'OVER'}")
        ev = os.environ.get("EVIDENTLY_PYTHON")
        if not ev:
            print("evidently: skipped (set EVIDENTLY_PYTHON to an interpreter with evidently and "
                  "pandas<3 installed to time its DataDriftPreset on the same "
                  f"{N_EVIDENTLY} checks)")
            return 0
        rp = Path(tmp, "ref.parquet")
        train.to_parquet(rp)
        paths = []
        for k in range(N_EVIDENTLY):
            p = Path(tmp, f"cur{k}.parquet")
            frame(N_ROWS, 1000 + k, shift=0.3 if k % 10 == 0 else 0.0).to_parquet(p)
            paths.append(str(p))
        sp = Path(tmp, "ev.py")
        sp.write_text(EVIDENTLY_SCRIPT)
        r = subprocess.run([ev, str(sp), str(rp), *paths], capture_output=True, text=True)
        if r.returncode != 0:
            print("evidently failed:", r.stderr.strip().splitlines()[-1:])
            return 0
        ev_s = float(r.stdout.strip().splitlines()[-1])
        ours_per, ev_per = elapsed / N_MON, ev_s / N_EVIDENTLY
        print(f"evidently: DataDriftPreset {ev_s:.1f} s for {N_EVIDENTLY} checks "
              f"({ev_per * 1000:.0f} ms/check); ratio {ev_per / ours_per:.0f}x per check "
              f"(ours includes saving every check)")
        print(json.dumps({"ours_s": elapsed, "ours_ms_per_check": ours_per * 1000,
                          "evidently_ms_per_check": ev_per * 1000}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
