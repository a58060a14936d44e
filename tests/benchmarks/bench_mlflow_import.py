"""Importing an MLflow SQLite store, beside MLflow itself reading the same runs.

Run on demand (needs the ``mlflow`` extra):
    python tests/benchmarks/bench_mlflow_import.py            # 1,000 runs x 1,000 points
    python tests/benchmarks/bench_mlflow_import.py --quick    # 100 runs x 1,000 points
    python tests/benchmarks/bench_mlflow_import.py --store /tmp/mlflow-bench.db  # reuse a store

The anchor is MLflow reading what the import has to read anyway — ``search_runs`` over
every page plus ``get_metric_history`` for every metric of every run — in this process,
on the same store, in the same run. The import does that through MLflow's client too,
then writes runs, params, tags and every point into our store; the ratio says what the
writing costs on top of MLflow's own reading. Building the store with MLflow's client
takes a while (about 0.1 s per run); ``--store`` keeps it for the next run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def build(uri: str, n_runs: int, n_points: int) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    c = MlflowClient(tracking_uri=uri)
    eid = c.create_experiment("bench")
    t0 = 1_600_000_000_000
    for i in range(n_runs):
        r = c.create_run(eid, start_time=t0 + i, run_name=f"run-{i}", tags={"i": str(i)})
        rid = r.info.run_id
        c.log_batch(rid, params=[Param(f"p{k}", str(k * i)) for k in range(5)])
        for start in range(0, n_points, 1000):
            c.log_batch(rid, metrics=[
                Metric("loss", 1.0 / (s + 1), t0 + s, s) for s in range(start, min(n_points, start + 1000))
            ])
        c.set_terminated(rid, "FINISHED", end_time=t0 + n_points)
        if i % 100 == 99:
            print(f"  built {i + 1}/{n_runs} runs", file=sys.stderr)


def mlflow_read(uri: str) -> tuple[float, int]:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    c = MlflowClient(tracking_uri=uri)
    t = time.perf_counter()
    exps = [e.experiment_id for e in c.search_experiments(view_type=ViewType.ALL)]
    runs, token = [], None
    while True:
        page = c.search_runs(exps, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    points = 0
    for r in runs:
        for k in r.data.metrics:
            points += len(c.get_metric_history(r.info.run_id, k))
    return time.perf_counter() - t, points


def ours_import(uri: str) -> tuple[float, int]:
    import mlops_jupyter as mj
    from mlops_jupyter import store
    from mlops_jupyter.tracking import session

    with tempfile.TemporaryDirectory() as home:
        session._reset_for_tests()
        store.reset()
        os.environ["MLOPS_HOME"] = str(Path(home) / ".mlops")
        mj.init()
        t = time.perf_counter()
        report = mj.import_mlflow(uri, progress=False)
        elapsed = time.perf_counter() - t
        session._reset_for_tests()
        store.reset()
    assert report.runs > 0 and not report.not_carried, str(report)
    return elapsed, report.metric_points


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100 runs instead of 1,000")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--store", help="an SQLite file to build once and reuse")
    args = ap.parse_args()
    n_runs = args.runs or (100 if args.quick else 1000)
    tmp = tempfile.mkdtemp(prefix="mlflow-bench-")
    path = Path(args.store or Path(tmp) / "mlflow.db").resolve()
    uri = f"sqlite:///{path}"
    if not path.exists():
        print(f"building {n_runs} runs x {args.points} points with MLflow's client …", file=sys.stderr)
        t = time.perf_counter()
        build(uri, n_runs, args.points)
        print(f"  built in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    theirs, ours = [], []
    for _ in range(args.repeat):
        s, n_theirs = mlflow_read(uri)
        theirs.append(s)
        s, n_ours = ours_import(uri)
        ours.append(s)
    assert n_ours == n_theirs, (n_ours, n_theirs)
    m_theirs, m_ours = statistics.median(theirs), statistics.median(ours)
    print(f"MLflow store: {n_runs} runs x {args.points} points = {n_theirs:,} points ({uri})")
    print(f"MLflow reading them (search_runs + get_metric_history): {m_theirs:.2f} s "
          f"({n_theirs / m_theirs:,.0f} points/s)")
    print(f"mlops import mlflow (reads through MLflow, writes here): {m_ours:.2f} s "
          f"({n_ours / m_ours:,.0f} points/s)")
    print(f"ratio import / MLflow read alone: {m_ours / m_theirs:.2f}x "
          f"(the import's own writing adds {max(0.0, m_ours - m_theirs):.2f} s)")


if __name__ == "__main__":
    main()
