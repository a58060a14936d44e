"""Serving benchmark: a small LogisticRegression behind `mlops serve`, beside
`mlflow models serve` on the same model when an MLflow venv is available.

Plain script (not a test): prints start time, p50/p99 latency of sequential single-row
requests over loopback (keep-alive), and requests/s with 8 concurrent clients.

    python tests/benchmarks/bench_serving.py [--requests 1000] [--seconds 5]

MLflow comes from the environment run_all.py builds (.bench-envs/mlflow) or MLFLOW_PYTHON;
when neither exists the comparison is skipped with the command that builds it.
Budget: beside MLflow, p50 latency and throughput at least as good (ratio >= 1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROW = {"f0": 0.3, "f1": -1.2, "f2": 0.7, "f3": 2.0}
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _envs  # noqa: E402
import _table  # noqa: E402

MLFLOW_PYTHON = _envs.python_for("mlflow") or ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 120.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not come up")


def latency(url: str, body: dict[str, Any], n: int) -> tuple[float, float]:
    with httpx.Client(timeout=10) as c:
        # the first request loads the model: seconds on a busy machine, not a latency
        c.post(url, json=body, timeout=300).raise_for_status()
        for _ in range(50):  # warm-up (connection, caches)
            r = c.post(url, json=body)
            r.raise_for_status()
        times = []
        for _ in range(n):
            t = time.perf_counter()
            c.post(url, json=body).raise_for_status()
            times.append(time.perf_counter() - t)
    a = np.array(times) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def throughput(url: str, body: dict[str, Any], seconds: float, clients: int = 8) -> float:
    counts = [0] * clients
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        with httpx.Client(timeout=10) as c:
            while time.perf_counter() < stop:
                c.post(url, json=body).raise_for_status()
                counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def train_data() -> tuple[Any, Any]:
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(500, 4)), columns=list(ROW))
    y = (X["f0"] + X["f2"] > 0).astype(int)
    return X, y


def bench_ours(work: Path, n: int, seconds: float) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    env = {**os.environ, "MLOPS_HOME": str(work / ".mlops")}
    env.pop("MLOPS_SERVE_TOKEN", None)
    os.environ["MLOPS_HOME"] = env["MLOPS_HOME"]
    import mlops_jupyter as mj

    X, y = train_data()
    mj.models.register(LogisticRegression().fit(X, y), "bench", signature=X, run=False)
    mj.models.promote("bench@v1", "production")
    port = free_port()
    log = (work / "serve.log").open("wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mlops_jupyter", "serve", "bench@production",
                             "--port", str(port)], env=env, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=log)  # a pipe nobody reads fills and blocks
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(base + "/health")
        start = time.perf_counter() - t0
        url = base + "/v1/models/bench/production/predict"
        body = {"records": [ROW]}
        p50, p99 = latency(url, body, n)
        rps = throughput(url, body, seconds)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    return {"start_s": start, "p50_ms": p50, "p99_ms": p99, "rps_8_clients": rps}


MLFLOW_TRAIN = textwrap.dedent("""
    import sys, numpy as np, pandas as pd, mlflow, mlflow.sklearn
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(500, 4)), columns=["f0", "f1", "f2", "f3"])
    y = (X["f0"] + X["f2"] > 0).astype(int)
    mlflow.set_tracking_uri("sqlite:///" + sys.argv[1] + "/mlflow.db")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model",
                                        input_example=X.head(2))
    print(info.model_uri)
""")


def bench_mlflow(work: Path, n: int, seconds: float) -> dict[str, float] | None:
    if not MLFLOW_PYTHON or not Path(MLFLOW_PYTHON).exists():
        return None
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db",
           "PATH": f"{Path(MLFLOW_PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    uri = subprocess.run([MLFLOW_PYTHON, "-c", MLFLOW_TRAIN, str(work)], env=env, cwd=work,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    mlflow_bin = str(Path(MLFLOW_PYTHON).parent / "mlflow")
    t0 = time.perf_counter()
    proc = subprocess.Popen([mlflow_bin, "models", "serve", "-m", uri, "-p", str(port),
                             "--env-manager", "local", "-h", "127.0.0.1"], env=env, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(base + "/ping")
        start = time.perf_counter() - t0
        url = base + "/invocations"
        body = {"dataframe_records": [ROW]}
        p50, p99 = latency(url, body, n)
        rps = throughput(url, body, seconds)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"start_s": start, "p50_ms": p50, "p99_ms": p99, "rps_8_clients": rps}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300 if _table.quick() else 1000)
    ap.add_argument("--seconds", type=float, default=2.0 if _table.quick() else 5.0)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        ours = bench_ours(work, a.requests, a.seconds)
        theirs = bench_mlflow(work, a.requests, a.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'':22}{'start s':>9}{'p50 ms':>9}{'p99 ms':>9}{'req/s (8)':>11}")
    rows = [("mlops serve", ours)] + ([("mlflow models serve", theirs)] if theirs else [])
    for name, r in rows:
        print(f"{name:22}{r['start_s']:9.2f}{r['p50_ms']:9.2f}{r['p99_ms']:9.2f}{r['rps_8_clients']:11.0f}")
    if theirs:
        print(f"ratio (mlflow / ours): p50 {theirs['p50_ms'] / ours['p50_ms']:.1f}x, "
              f"p99 {theirs['p99_ms'] / ours['p99_ms']:.1f}x, "
              f"throughput {ours['rps_8_clients'] / theirs['rps_8_clients']:.1f}x ours, "
              f"start {theirs['start_s'] / ours['start_s']:.1f}x")
    else:
        print(_envs.missing("mlflow"))
    ok = None if not theirs else (
        ours["p50_ms"] <= theirs["p50_ms"] and ours["rps_8_clients"] >= theirs["rps_8_clients"])
    _table.row(
        "serve a LogisticRegression",
        f"start {ours['start_s']:.1f} s, p50 {ours['p50_ms']:.1f} ms, {ours['rps_8_clients']:.0f} req/s",
        (f"`mlflow models serve`: start {theirs['start_s']:.1f} s, p50 {theirs['p50_ms']:.1f} ms, "
         f"{theirs['rps_8_clients']:.0f} req/s") if theirs else "`mlflow models serve`: not measured",
        ratio=ours["rps_8_clients"] / theirs["rps_8_clients"] if theirs else None,
        budget="p50 and req/s at least MLflow's", ok=ok, order=70,
    )
    return _table.exit_code()


if __name__ == "__main__":
    sys.exit(main())
