"""Comparison benchmarks (issue 10), each beside the competitor measured in the same run.

Run on demand (not part of the test suite):

    python tests/benchmarks/bench_compare.py
    MLFLOW_PYTHON=/path/to/python-with-mlflow python tests/benchmarks/bench_compare.py

1. Two classifiers on a 100,000-row holdout, 1,000 paired bootstrap resamples, every
   panel rendered (HTML + Vega-Lite spec + static SVG): budget 1.5 s. Beside it:
   scikit-learn's displays for the same two models (ROC, PR, confusion, calibration;
   point estimates only, no intervals), drawn with matplotlib and saved as SVG.
2. The runs panel over 10,000 runs (5 params + 5 metrics each): budget 0.5 s and 1 MB of
   output. Beside it: MLflow ``search_runs`` over the same number of runs (DataFrame
   only, no rendering), when MLFLOW_PYTHON points at an interpreter with mlflow;
   otherwise that half is skipped with a message.

Environment: BENCH_ROWS (100000), BENCH_BOOT (1000), BENCH_RUNS (10000), BENCH_REPEAT (3),
BENCH_THREADS (the bootstrap's threads; default ``comparison.stats.BOOTSTRAP_THREADS``, 1).
Flags: ``--models`` or ``--runs`` runs only that part. Times are wall (median of
BENCH_REPEAT); the models part also prints this process's CPU time (``time.process_time``:
all threads), which a loaded machine inflates far less than wall.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

ROWS = int(os.environ.get("BENCH_ROWS", "100000"))
BOOT = int(os.environ.get("BENCH_BOOT", "1000"))
RUNS = int(os.environ.get("BENCH_RUNS", "10000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))


def _median(fn, repeat: int = REPEAT) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def models_and_holdout() -> tuple[object, object, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    n = ROWS + 20_000
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})
    df["plan"] = rng.choice(["basic", "pro", "team"], n)
    logit = df.x0 + 0.6 * df.x1 - 0.4 * df.x2 + 0.2 * df.x3
    df["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    train, hold = df.iloc[:20_000], df.iloc[20_000:].reset_index(drop=True)
    feats = [f"x{i}" for i in range(8)]
    m1 = LogisticRegression(max_iter=500).fit(train[["x0", "x2"]], train.y)
    m2 = LogisticRegression(max_iter=500).fit(train[feats], train.y)
    return m1, m2, hold


def bench_models() -> None:
    import mlops_jupyter as mj
    from mlops_jupyter.display.charts import render_svg

    m1, m2, hold = models_and_holdout()
    if os.environ.get("BENCH_THREADS"):
        from mlops_jupyter.comparison import stats

        stats.BOOTSTRAP_THREADS = int(os.environ["BENCH_THREADS"])
    # warm the SVG engine once (its start is paid once per process; reported apart)
    from mlops_jupyter.display import charts as ch

    t = time.perf_counter()
    render_svg(ch.concat([ch.lines([{"a": 0, "b": 1, "c": "x"}], x="a", y="b", color="c", title="warm")]))
    engine_start = time.perf_counter() - t

    def ours() -> tuple[float, float, float, int, float, float]:
        ch._SVG_CACHE.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        c = mj.compare(m1, m2, holdout=hold, label="y", slices=["plan"], n_boot=BOOT)
        t1, c1 = time.perf_counter(), time.process_time()
        html = c.to_html()
        chart = c.chart()
        bundle = chart._repr_mimebundle_()
        t2, c2 = time.perf_counter(), time.process_time()
        size = len(html) + len(json.dumps(bundle))
        return t1 - t0, t2 - t1, t2 - t0, size, c1 - c0, c2 - c1

    runs = [ours() for _ in range(REPEAT)]
    compute = statistics.median(r[0] for r in runs)
    render = statistics.median(r[1] for r in runs)
    total = statistics.median(r[2] for r in runs)
    size = runs[-1][3]
    cpu_compute = statistics.median(r[4] for r in runs)
    cpu_render = statistics.median(r[5] for r in runs)

    def sklearn_displays() -> None:
        import matplotlib

        matplotlib.use("Agg")
        import io

        import matplotlib.pyplot as plt
        from sklearn.calibration import CalibrationDisplay
        from sklearn.metrics import (
            ConfusionMatrixDisplay,
            PrecisionRecallDisplay,
            RocCurveDisplay,
            accuracy_score,
            brier_score_loss,
            f1_score,
            log_loss,
            roc_auc_score,
        )

        fig, axes = plt.subplots(2, 3, figsize=(14, 8))
        for m, cols in ((m1, ["x0", "x2"]), (m2, [f"x{i}" for i in range(8)])):
            x = hold[cols]
            p = m.predict_proba(x)[:, 1]
            pred = (p > 0.5).astype(int)
            for f in (accuracy_score, f1_score):
                f(hold.y, pred)
            for f in (roc_auc_score, log_loss, brier_score_loss):
                f(hold.y, p)
            RocCurveDisplay.from_predictions(hold.y, p, ax=axes[0, 0])
            PrecisionRecallDisplay.from_predictions(hold.y, p, ax=axes[0, 1])
            CalibrationDisplay.from_predictions(hold.y, p, ax=axes[0, 2])
        ConfusionMatrixDisplay.from_predictions(hold.y, m1.predict(hold[["x0", "x2"]]), ax=axes[1, 0])
        ConfusionMatrixDisplay.from_predictions(hold.y, m2.predict(hold[[f"x{i}" for i in range(8)]]), ax=axes[1, 1])
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        plt.close(fig)

    sk, _ = _median(sklearn_displays)
    print(f"\n== Two models, {ROWS:,}-row holdout, {BOOT:,} paired bootstrap resamples ==")
    print(f"{'':52s} {'ours':>9s} {'sklearn':>9s}")
    print(f"{'compare (scores, bootstrap, DeLong, McNemar, slices)':52s} {compute:9.3f}"
          f"   (CPU {cpu_compute:.3f})")
    print(f"{'render every panel (HTML + Vega-Lite + static SVG)':52s} {render:9.3f}"
          f"   (CPU {cpu_render:.3f})")
    print(f"{'total':52s} {total:9.3f} {sk:9.3f}   "
          f"ratio {total / sk:.2f}x (budget 1.5 s: {'OK' if total <= 1.5 else 'OVER'}; "
          f"CPU {cpu_compute + cpu_render:.3f}; load {os.getloadavg()[0]:.2f})")
    print("  sklearn: RocCurve/PrecisionRecall/Calibration/ConfusionMatrix displays + point "
          "metrics, matplotlib SVG; no intervals, no tests")
    print(f"  output size: {size / 1024:.0f} KB; SVG engine start (once per process): "
          f"{engine_start:.2f} s")


MLFLOW_CODE = textwrap.dedent(
    """
    import json, os, sqlite3, sys, tempfile, time, uuid
    n = int(sys.argv[1])
    import mlflow
    tmp = tempfile.mkdtemp()
    db = f"{tmp}/mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    mlflow.set_experiment("bench")
    with mlflow.start_run(run_name="r0") as run:
        mlflow.log_params({f"p{k}": k for k in range(5)})
        mlflow.log_metrics({f"m{k}": k * 0.1 for k in range(5)})
    rid = run.info.run_id
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    tables = ["runs", "params", "metrics", "latest_metrics", "tags"]
    rows = {t: [dict(r) for r in con.execute(f"SELECT * FROM {t} WHERE run_uuid=?", (rid,))] for t in tables}
    for i in range(1, n):
        new = uuid.uuid4().hex
        for t, rs in rows.items():
            for r in rs:
                r2 = dict(r, run_uuid=new)
                if t == "runs":
                    r2["name"] = f"r{i}"
                    r2["artifact_uri"] = r["artifact_uri"].replace(rid, new)
                    r2["start_time"] = r["start_time"] + i
                if t == "params":
                    r2["value"] = str(int(r["value"]) * i)
                cols = ",".join(r2)
                con.execute(f"INSERT INTO {t} ({cols}) VALUES ({','.join('?' * len(r2))})", list(r2.values()))
    con.commit()
    times = []
    for _ in range(3):
        t = time.perf_counter()
        df = mlflow.search_runs(experiment_names=["bench"], max_results=n)
        times.append(time.perf_counter() - t)
    print(json.dumps({"search_runs_s": sorted(times)[1], "rows": len(df)}))
    """
)


def bench_runs_panel() -> None:
    import mlops_jupyter as mj
    from mlops_jupyter.store import schema
    from mlops_jupyter.widgets.runs import RunsView

    mj.init()
    st = mj.get_store()
    exp = st.get_or_create_experiment("panel")
    now = time.time()
    run_rows, param_rows, summ_rows = [], [], []
    for i in range(RUNS):
        rid = f"{i:032x}"
        run_rows.append({"id": rid, "experiment_id": exp.id, "name": f"r{i}", "status": "FINISHED",
                         "start_time": now + i, "end_time": now + i + 1})
        param_rows += [{"run_id": rid, "key": f"p{k}", "value": str(k * i % 97)} for k in range(5)]
        summ_rows += [{"run_id": rid, "key": f"m{k}", "last_value": (i % 101) / 100 * k,
                       "last_step": 0, "last_timestamp": now, "min_value": 0.0, "min_step": 0,
                       "max_value": 1.0, "max_step": 0, "count": 1} for k in range(5)]

    def bulk(conn):  # type: ignore[no-untyped-def]
        conn.execute(schema.runs.insert(), run_rows)
        conn.execute(schema.params.insert(), param_rows)
        conn.execute(schema.metric_summary.insert(), summ_rows)

    st.db.write(bulk)

    def panel(limit: int | None) -> int:
        v = RunsView(experiment="panel", sort="m1", limit=limit)
        html = v._repr_mimebundle_()["text/html"]
        chart = v.chart()
        spec = json.dumps(chart.spec) if chart is not None else ""
        return len(html) + len(spec)

    t100, size100 = _median(lambda: panel(100))
    tall, sizeall = _median(lambda: panel(None), repeat=1)
    v = RunsView(experiment="panel", sort="m1", limit=100)
    t = time.perf_counter()
    svg = v.chart().svg() if v.chart() is not None else None
    tsvg = time.perf_counter() - t
    print(f"\n== Runs panel over {RUNS:,} runs (5 params + 5 metrics each) ==")
    print(f"panel, first 100 of {RUNS:,} sorted by a metric (HTML + parallel-coordinates spec): "
          f"{t100:.3f} s, {size100 / 1024:.0f} KB "
          f"(budget 0.5 s / 1 MB: {'OK' if t100 <= 0.5 and size100 <= 1_000_000 else 'OVER'})")
    print(f"panel, all {RUNS:,} rows: {tall:.3f} s, {sizeall / 1024:.0f} KB")
    print(f"static SVG of the parallel-coordinates chart: {tsvg:.3f} s "
          f"({0 if svg is None else len(svg) // 1024} KB)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _envs

    py = _envs.python_for("mlflow")  # MLFLOW_PYTHON, else the env run_all.py builds
    if not py:
        print(f"MLflow: skipped ({_envs.missing('mlflow')})")
        return
    res = subprocess.run([py, "-c", MLFLOW_CODE, str(RUNS)], capture_output=True, text=True,
                         timeout=3600, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
                                            "DO_NOT_TRACK": "true"})
    if res.returncode != 0:
        print("MLflow failed:", res.stderr[-1500:])
        return
    m = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"MLflow search_runs, {m['rows']:,} runs (DataFrame only, nothing rendered): "
          f"{m['search_runs_s']:.3f} s; ours (all rows, rendered) {tall:.3f} s: "
          f"ratio {m['search_runs_s'] / tall:.1f}x; ours (first 100) {m['search_runs_s'] / t100:.1f}x")


def main() -> None:
    only = {a.lstrip("-") for a in sys.argv[1:]} & {"models", "runs"}
    with tempfile.TemporaryDirectory() as home:
        os.environ["MLOPS_HOME"] = home
        if not only or "models" in only:
            bench_models()
        if not only or "runs" in only:
            bench_runs_panel()


if __name__ == "__main__":
    main()
