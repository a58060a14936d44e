"""Tracking benchmarks: ours beside MLflow (SQLite backend) in the same run.

Run on demand:  python tests/benchmarks/bench_tracking.py [--quick]
MLflow runs in its own interpreter (it pins its own dependencies): the one
`python tests/benchmarks/run_all.py` builds in .bench-envs/mlflow, or MLFLOW_PYTHON.
Budgets (issue 2): >= 1,000,000 points/s buffered, >= 1000x MLflow per-call log_metric,
run creation <= 2 ms, 10,000 runs listed < 0.2 s, import <= 0.15 s.

Durable logging (issue 12), ``--durable``: points written durably end to end (log +
flush + commit) for one run, and a long history read back, beside MLflow (log_batch,
get_metric_history) and trackio (TRACKIO_PYTHON: a Python with trackio installed).
Budgets: >= 2,000,000 points/s end to end; 10,000,000 points read back in <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _envs  # noqa: E402
import _table  # noqa: E402


def _median(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def ours(n_points_small: int, n_points_big: int, n_runs: int, n_list: int) -> dict[str, float]:
    out: dict[str, float] = {}
    code = "import time; t=time.perf_counter(); import mlops_jupyter; print(time.perf_counter()-t)"
    imports = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(5)]
    out["import_s"] = statistics.median(imports)

    tmp = tempfile.mkdtemp(prefix="bench-mlops-")
    os.chdir(tmp)
    os.environ["MLOPS_HOME"] = str(Path(tmp) / ".mlops")
    import mlops_jupyter as mj

    mj.init()
    mj.set_experiment("bench")
    for n, label in ((n_points_small, "small"), (n_points_big, "big")):
        with mj.start_run(f"points-{n}") as run:
            t = time.perf_counter()
            for i in range(n):
                run.log_metric("loss", i * 0.001)
            buffered = time.perf_counter() - t
            t = time.perf_counter()
            run.flush()
            flushed = time.perf_counter() - t
        out[f"log_{label}_n"] = n
        out[f"log_{label}_buffered_s"] = buffered
        out[f"log_{label}_total_s"] = buffered + flushed
        out[f"log_{label}_points_per_s_buffered"] = n / buffered

    mj.set_experiment("runs")
    t = time.perf_counter()
    for i in range(n_runs):
        with mj.start_run(f"r{i}", params={f"p{k}": k * i for k in range(5)}) as run:
            run.log_metrics({f"m{k}": k * 0.1 for k in range(5)})
    out["create_runs_n"] = n_runs
    out["create_run_ms"] = (time.perf_counter() - t) / n_runs * 1000

    # listing: bulk-insert n_list runs through the store, then time runs()
    st = mj.get_store()
    exp = st.get_or_create_experiment("listing")
    from mlops_jupyter.store import schema

    now = time.time()
    run_rows, param_rows, summ_rows = [], [], []
    for i in range(n_list):
        rid = f"{i:032x}"
        run_rows.append({"id": rid, "experiment_id": exp.id, "name": f"r{i}", "status": "FINISHED", "start_time": now + i, "end_time": now + i + 1})
        param_rows += [{"run_id": rid, "key": f"p{k}", "value": str(k * i)} for k in range(5)]
        summ_rows += [{"run_id": rid, "key": f"m{k}", "last_value": k * 0.1, "last_step": 0, "last_timestamp": now, "min_value": 0.0, "min_step": 0, "max_value": 1.0, "max_step": 0, "count": 1} for k in range(5)]

    def bulk(conn):  # type: ignore[no-untyped-def]
        conn.execute(schema.runs.insert(), run_rows)
        conn.execute(schema.params.insert(), param_rows)
        conn.execute(schema.metric_summary.insert(), summ_rows)

    st.db.write(bulk)
    out["list_runs_n"] = n_list
    out["list_runs_s"] = _median(lambda: mj.runs(experiment="listing"))
    return out


MLFLOW_CODE = textwrap.dedent(
    """
    import json, os, sys, tempfile, time, statistics
    n_small, n_batch, n_runs = (int(x) for x in sys.argv[1:4])
    t = time.perf_counter(); import mlflow; imp = time.perf_counter() - t
    from mlflow.entities import Metric
    tmp = tempfile.mkdtemp()
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_experiment("bench")
    out = {"import_s": imp}
    with mlflow.start_run() as run:
        t = time.perf_counter()
        for i in range(n_small):
            mlflow.log_metric("loss", i * 0.001, step=i)
        out["log_percall_n"] = n_small
        out["log_percall_s"] = time.perf_counter() - t
    client = mlflow.MlflowClient()
    with mlflow.start_run() as run:
        t = time.perf_counter()
        ts = int(time.time() * 1000)
        ms = [Metric("loss", i * 0.001, ts, i) for i in range(n_batch)]
        for k in range(0, n_batch, 1000):
            client.log_batch(run.info.run_id, metrics=ms[k:k+1000])
        out["log_batch_n"] = n_batch
        out["log_batch_s"] = time.perf_counter() - t
    mlflow.set_experiment("runs")
    t = time.perf_counter()
    for i in range(n_runs):
        with mlflow.start_run(run_name=f"r{i}"):
            mlflow.log_params({f"p{k}": k * i for k in range(5)})
            mlflow.log_metrics({f"m{k}": k * 0.1 for k in range(5)})
    out["create_runs_n"] = n_runs
    out["create_run_ms"] = (time.perf_counter() - t) / n_runs * 1000
    times = []
    for _ in range(3):
        t = time.perf_counter(); df = mlflow.search_runs(experiment_names=["runs"], max_results=100000); times.append(time.perf_counter() - t)
    out["list_runs_n"] = len(df)
    out["list_runs_s"] = statistics.median(times)
    print(json.dumps(out))
    """
)


def mlflow(n_small: int, n_batch: int, n_runs: int) -> dict[str, float] | None:
    py = _envs.python_for("mlflow")
    if not py:
        print(_envs.missing("mlflow"))
        return None
    res = subprocess.run(
        [py, "-c", MLFLOW_CODE, str(n_small), str(n_batch), str(n_runs)],
        capture_output=True, text=True, timeout=3600,
        env={**os.environ, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
    )
    if res.returncode != 0:
        print("MLflow failed:", res.stderr[-2000:])
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def durable_ours(n_log: int, n_hist: int) -> dict[str, float]:
    """log + flush + commit of one run, then a long history read (as a DataFrame)."""
    tmp = tempfile.mkdtemp(prefix="bench-durable-")
    os.environ["MLOPS_HOME"] = str(Path(tmp) / ".mlops")
    import mlops_jupyter as mj
    from mlops_jupyter import store

    store.reset()
    mj.init()
    out: dict[str, float] = {}

    def one() -> None:
        t = time.perf_counter()
        with mj.start_run("durable") as run:
            log = run.log_metric
            for i in range(n_log):
                log("loss", i * 0.001)
        out.setdefault("e2e", [])  # type: ignore[arg-type]
        out["e2e"].append(time.perf_counter() - t)  # type: ignore[attr-defined]

    for _ in range(3):
        one()
    out["durable_n"] = n_log
    out["durable_s"] = statistics.median(out.pop("e2e"))  # type: ignore[arg-type]
    with mj.start_run("history") as run:
        log = run.log_metric
        for i in range(n_hist):
            log("loss", i * 0.001)
    out["hist_n"] = n_hist
    out["hist_frame_s"] = _median(lambda: mj.metric_history(run.id, as_frame=True))
    out["hist_arrays_s"] = _median(lambda: mj.get_store().metric_arrays(run.id))
    return out


MLFLOW_DURABLE = textwrap.dedent(
    """
    import json, sys, tempfile, time
    n, n_hist = int(sys.argv[1]), int(sys.argv[2])
    import mlflow
    from mlflow.entities import Metric
    tmp = tempfile.mkdtemp()
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    client = mlflow.MlflowClient()
    out = {}
    t = time.perf_counter()
    with mlflow.start_run() as run:
        ts = int(time.time() * 1000)
        for k in range(0, n, 1000):
            client.log_batch(run.info.run_id, metrics=[Metric("loss", i * 0.001, ts, i) for i in range(k, min(n, k + 1000))])
    out["durable_n"], out["durable_s"] = n, time.perf_counter() - t
    with mlflow.start_run() as run:
        for k in range(0, n_hist, 1000):
            client.log_batch(run.info.run_id, metrics=[Metric("loss", i * 0.001, ts, i) for i in range(k, min(n_hist, k + 1000))])
    t = time.perf_counter()
    h = client.get_metric_history(run.info.run_id, "loss")
    out["hist_n"], out["hist_s"] = len(h), time.perf_counter() - t
    print(json.dumps(out))
    """
)

TRACKIO_DURABLE = textwrap.dedent(
    """
    import json, os, sys, tempfile, time
    n, n_hist = int(sys.argv[1]), int(sys.argv[2])
    import trackio
    out = {}
    t = time.perf_counter()
    trackio.init(project="bench", name="durable")
    for i in range(n):
        trackio.log({"loss": i * 0.001})
    trackio.finish()
    out["durable_n"], out["durable_s"] = n, time.perf_counter() - t
    trackio.init(project="bench", name="history")
    for i in range(n_hist):
        trackio.log({"loss": i * 0.001})
    trackio.finish()
    from trackio.sqlite_storage import SQLiteStorage
    t = time.perf_counter()
    logs = SQLiteStorage.get_logs("bench", "history")
    out["hist_n"], out["hist_s"] = len(logs), time.perf_counter() - t
    print(json.dumps(out))
    """
)


def _competitor(env_var: str, code: str, n: int, n_hist: int) -> dict[str, float] | None:
    name = env_var.split("_")[0].lower()
    py = _envs.python_for(name)
    if not py:
        print(_envs.missing(name))
        return None
    tmp = tempfile.mkdtemp(prefix="bench-competitor-")
    env = {**os.environ, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
           "DO_NOT_TRACK": "true", "TRACKIO_DIR": tmp, "HF_HOME": tmp, "GRADIO_ANALYTICS_ENABLED": "False"}
    res = subprocess.run([py, "-c", code, str(n), str(n_hist)], capture_output=True, text=True,
                         timeout=3600, env=env, cwd=tmp)
    if res.returncode != 0:
        print(f"{env_var} run failed:", res.stderr[-2000:])
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def durable_main(quick: bool) -> None:
    """Durable end-to-end logging and history reads: rows for the README table."""
    n_log = 200_000 if quick else 2_000_000
    n_hist = 1_000_000 if quick else 10_000_000
    o = durable_ours(n_log, n_hist)
    m = _competitor("MLFLOW_PYTHON", MLFLOW_DURABLE, 10_000, 10_000)
    t = _competitor("TRACKIO_PYTHON", TRACKIO_DURABLE, 100_000 if not quick else 10_000, 100_000 if not quick else 10_000)
    rate = o["durable_n"] / o["durable_s"]
    print(f"{'durable logging, one run (log + flush + commit)':52s} {'points':>12s} {'seconds':>9s} {'points/s':>12s} {'ratio':>8s}")
    print(f"{'  ours':52s} {o['durable_n']:>12,.0f} {o['durable_s']:>9.3f} {rate:>12,.0f}")
    for label, r in (("  MLflow (log_batch of 1,000)", m), ("  trackio (log + finish)", t)):
        if r:
            their = r["durable_n"] / r["durable_s"]
            print(f"{label:52s} {r['durable_n']:>12,.0f} {r['durable_s']:>9.3f} {their:>12,.0f} {rate / their:>7.0f}x")
    print(f"budget: >= 2,000,000 points/s end to end -> {'met' if rate >= 2e6 else 'NOT met'}")
    print(f"{'history read back':52s} {'points':>12s} {'seconds':>9s} {'points/s':>12s}")
    print(f"{'  ours, metric_history(as_frame=True)':52s} {o['hist_n']:>12,.0f} {o['hist_frame_s']:>9.3f} {o['hist_n'] / o['hist_frame_s']:>12,.0f}")
    print(f"{'  ours, store.metric_arrays':52s} {o['hist_n']:>12,.0f} {o['hist_arrays_s']:>9.3f} {o['hist_n'] / o['hist_arrays_s']:>12,.0f}")
    ours_rate = o["hist_n"] / o["hist_frame_s"]
    for label, r in (("  MLflow get_metric_history", m), ("  trackio SQLiteStorage.get_logs", t)):
        if r:
            their = r["hist_n"] / r["hist_s"]
            print(f"{label:52s} {r['hist_n']:>12,.0f} {r['hist_s']:>9.3f} {their:>12,.0f} {ours_rate / their:>7.0f}x")
    if o["hist_n"] >= 10_000_000:
        print(f"budget: 10,000,000 points read in <= 1 s -> {'met' if o['hist_frame_s'] <= 1 else 'NOT met'}")
    _table.row(
        "durable logging, one run (log + flush + commit)", f"{rate / 1e6:.1f} M points/s",
        "; ".join([
            (f"MLflow log_batch: {m['durable_n'] / m['durable_s']:,.0f} points/s") if m else "MLflow: not measured",
            *([f"trackio: {t['durable_n'] / t['durable_s']:,.0f} points/s"] if t else []),
        ]),
        ratio=rate / (m["durable_n"] / m["durable_s"]) if m else None,
        budget=">= 2,000,000 points/s", ok=rate >= 2e6 if not quick else None, order=14,
    )
    _table.row(
        f"read back a {o['hist_n']:,}-point metric history", f"{o['hist_frame_s']:.2f} s",
        "; ".join([
            (f"MLflow get_metric_history: {m['hist_s']:.2f} s for {m['hist_n']:,} points") if m else "MLflow: not measured",
            *([f"trackio get_logs: {t['hist_s']:.2f} s for {t['hist_n']:,} points"] if t else []),
        ]),
        budget="10,000,000 points in <= 1 s", ok=(o["hist_frame_s"] <= 1) if o["hist_n"] >= 10_000_000 else None,
        order=15,
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="MLflow per-call on 1,000 points instead of 10,000")
    ap.add_argument("--durable", action="store_true", help="only the durable logging and history benchmark")
    args = ap.parse_args()
    quick = args.quick or _table.quick()
    if args.durable:
        durable_main(quick)
        return _table.exit_code()
    n_mlflow_calls = 1000 if quick else 10_000
    o = ours(10_000, 1_000_000, 200 if quick else 1000, 10_000)
    m = mlflow(n_mlflow_calls, 10_000, 200 if quick else 1000)
    print(f"{'measure':44s} {'ours':>14s} {'MLflow':>14s} {'ratio':>10s}")

    def line(label: str, a: float, b: float | None, unit: str, better_low: bool = True) -> None:
        ratio = "" if b is None else f"{(b / a if better_low else a / b):.0f}x"
        bs = "" if b is None else f"{b:.4g} {unit}"
        print(f"{label:44s} {a:>10.4g} {unit:3s} {bs:>14s} {ratio:>10s}")

    line("import", o["import_s"], m and m["import_s"], "s")
    per_point_ours = o["log_small_buffered_s"] / o["log_small_n"]
    per_point_mlflow = m and m["log_percall_s"] / m["log_percall_n"]
    line("log_metric, per point (buffered vs per call)", per_point_ours * 1e6, per_point_mlflow and per_point_mlflow * 1e6, "us")
    line("10,000 points end to end (incl. write)", o["log_small_total_s"], m and m["log_batch_s"], "s")
    print(f"{'  (MLflow figure: log_batch in chunks of 1,000)':44s}")
    line("1,000,000 points buffered", o["log_big_buffered_s"], None, "s")
    line("1,000,000 points end to end", o["log_big_total_s"], None, "s")
    print(f"buffered rate: {o['log_big_points_per_s_buffered']:,.0f} points/s (budget >= 1,000,000)")
    line("create a run (5 params + 5 metrics)", o["create_run_ms"], m and m["create_run_ms"], "ms")
    line(f"list {o['list_runs_n']:,} runs -> DataFrame", o["list_runs_s"], None, "s")
    if m:
        print(f"MLflow search_runs of {m['list_runs_n']:,} runs: {m['list_runs_s']:.3f} s")

    label = _envs.ENVS["mlflow"].label
    rate = o["log_big_points_per_s_buffered"]
    ratio = per_point_mlflow / per_point_ours if per_point_mlflow else None
    _table.row(
        "`log_metric` in a training loop",
        f"{per_point_ours * 1e6:.1f} µs per point, {rate / 1e6:.1f} M points/s buffered",
        f"{label}: {per_point_mlflow * 1e3:.1f} ms per call ({ratio:,.0f}× slower)" if per_point_mlflow and ratio else _envs.missing("mlflow").split(":")[0] + ": not measured",
        ratio=ratio, budget=">= 1,000,000 points/s; >= 1000x MLflow per call",
        ok=rate >= 1_000_000 and (ratio is None or ratio >= 1000), order=10,
    )
    _table.row(
        "create a run with 5 params + 5 metrics", f"{o['create_run_ms']:.1f} ms",
        f"MLflow: {m['create_run_ms']:.1f} ms ({m['create_run_ms'] / o['create_run_ms']:.0f}× slower)" if m else "MLflow: not measured",
        ratio=m["create_run_ms"] / o["create_run_ms"] if m else None, budget="<= 2 ms",
        ok=o["create_run_ms"] <= 2.0, order=11,
    )
    _table.row(
        f"list {o['list_runs_n']:,} runs as a DataFrame", f"{o['list_runs_s']:.2f} s",
        f"MLflow: {m['list_runs_s']:.2f} s for {m['list_runs_n']:,} runs" if m else "MLflow: not measured",
        budget="< 0.2 s", ok=o["list_runs_s"] < 0.2, order=12,
    )
    _table.row(
        "`import`", f"{o['import_s']:.3f} s",
        f"MLflow: {m['import_s']:.1f} s" if m else "MLflow: not measured",
        ratio=m["import_s"] / o["import_s"] if m else None, budget="<= 0.15 s",
        ok=o["import_s"] <= 0.15, order=13,
    )
    durable_main(quick)
    return _table.exit_code()


if __name__ == "__main__":
    sys.exit(main())
