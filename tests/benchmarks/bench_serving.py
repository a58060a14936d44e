"""Serving benchmark: a 4-feature LogisticRegression behind `mlops serve`, beside
`mlflow models serve` on the same model in the same run when an MLflow interpreter is
given (MLFLOW_PYTHON=/path/to/venv/bin/python; skipped, with a note, when absent).

Plain script (not collected by pytest). Load comes from a separate process: a lean
asyncio HTTP/1.1 client (keep-alive, one connection per client) so the client costs as
little CPU as possible and the same client measures both servers.

    python tests/benchmarks/bench_serving.py [--seconds 5] [--quick]

Scenarios (printed as tables, ours beside MLflow as a ratio):
  1. 1 client (latency) and 8 clients (req/s, p50, p99), 1 worker each;
  2. 32 clients, with adaptive batching and without (--batch-rows 1);
  3. a promotion under load (8 clients): max latency around the switch, non-200 count;
  4. the per-request overhead above the model's own predict (in process, no network);
  5. the batch endpoint: 1,000,000 rows (Arrow IPC, Parquet, JSON columns) -> rows/s;
  6. `--workers 2` against 1 worker, 8 and 32 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

ROW = {"f0": 0.3, "f1": -1.2, "f2": 0.7, "f3": 2.0}
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _envs  # noqa: E402
import _table  # noqa: E402

MLFLOW_PYTHON = _envs.python_for("mlflow") or ""


# -- the load generator (runs in its own process: `bench_serving.py --load ...`) --------------
class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        i = self.buf.find(b"\r\n\r\n")
        if i < 0:
            return
        head = self.buf[:i].lower()
        j = head.find(b"content-length:")
        if j >= 0:
            n = int(head[j + 15:head.find(b"\r\n", j) if head.find(b"\r\n", j) > 0 else None])
            if len(self.buf) < i + 4 + n:
                return
            body, self.buf = self.buf[i + 4:i + 4 + n], self.buf[i + 4 + n:]
        else:  # chunked
            end = self.buf.find(b"\r\n0\r\n\r\n", i)
            if end < 0:
                return
            body, self.buf = self.buf[i + 4:end], self.buf[end + 7:]
        status = int(head[9:12])
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))


async def _client(host: str, port: int, req: bytes, stop_at: float, out: list[Any], track: bool) -> None:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(_Conn, host, port)
    while True:
        t = time.perf_counter()
        if t >= stop_at:
            break
        conn.waiter = loop.create_future()
        conn.transport.write(req)
        try:
            status, body = await conn.waiter
        except ConnectionError:
            out.append((t, time.perf_counter() - t, 599, None))
            _, conn = await loop.create_connection(_Conn, host, port)
            continue
        version = None
        if track:
            k = body.find(b'"version":')
            if k >= 0:
                version = int(body[k + 10:body.find(b",", k)])
        out.append((t, time.perf_counter() - t, status, version))
    conn.transport.close()


def load_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--body")
    ap.add_argument("--clients", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--track", action="store_true")
    a = ap.parse_args(argv)
    from urllib.parse import urlsplit

    u = urlsplit(a.url)
    body = a.body.encode()
    req = (f"POST {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def run(seconds: float, track: bool) -> list[Any]:
        out: list[Any] = []
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(_client(u.hostname or "127.0.0.1", u.port or 80, req, stop_at, out, track)
                               for _ in range(a.clients)))
        return out

    asyncio.run(run(a.warmup, False))
    t0 = time.perf_counter()
    print(json.dumps({"t0": t0, "wall": time.time(), "samples": asyncio.run(run(a.seconds, a.track))}))


def load(url: str, body: dict[str, Any], clients: int, seconds: float, track: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--load", "--url", url, "--body", json.dumps(body),
           "--clients", str(clients), "--seconds", str(seconds)] + (["--track"] if track else [])
    res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    s = res["samples"]
    lat = np.array([x[1] for x in s]) * 1000
    ok = sum(1 for x in s if x[2] == 200)
    span = (max(x[0] + x[1] for x in s) - min(x[0] for x in s)) if s else 1.0
    return {"rps": len(s) / span, "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
            "max": float(lat.max()), "non200": len(s) - ok, "samples": s}


# -- servers ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[Any], timeout: float = 180.0) -> float:
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} (its log is in the work folder)")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not come up")


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def train_data() -> tuple[Any, Any]:
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(500, 4)), columns=list(ROW))
    y = (X["f0"] + X["f2"] > 0).astype(int)
    return X, y


def setup_ours(work: Path) -> dict[str, str]:
    from sklearn.linear_model import LogisticRegression

    env = {**os.environ, "MLOPS_HOME": str(work / ".mlops")}
    for k in ("MLOPS_SERVE_TOKEN", "MLOPS_SERVE_TOKEN_FILE", "MLOPS_DB_URL", "MLOPS_ARTIFACTS_URL"):
        env.pop(k, None)
        os.environ.pop(k, None)
    os.environ["MLOPS_HOME"] = env["MLOPS_HOME"]
    import mlops_jupyter as mj

    X, y = train_data()
    mj.models.register(LogisticRegression().fit(X, y), "bench", signature=X, run=False)
    mj.models.register(LogisticRegression(C=0.5).fit(X, y), "bench", signature=X, run=False)
    mj.models.promote("bench@v1", "production")
    return env


def start_ours(work: Path, env: dict[str, str], *extra: str) -> tuple[subprocess.Popen[Any], str, float]:
    port = free_port()
    log = (work / f"serve-{port}.log").open("wb")  # a pipe nobody reads fills and blocks
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mlops_jupyter", "serve", "bench@production",
                             "--port", str(port), *extra], env=env, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + "/health", proc)
    except BaseException:
        stop(proc)
        raise
    return proc, base, time.perf_counter() - t0


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


def start_mlflow(work: Path) -> tuple[subprocess.Popen[Any], str, float] | None:
    if not MLFLOW_PYTHON or not Path(MLFLOW_PYTHON).exists():
        return None
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db",
           "PATH": f"{Path(MLFLOW_PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1", "HOME": str(work)}
    uri = subprocess.run([MLFLOW_PYTHON, "-c", MLFLOW_TRAIN, str(work)], env=env, cwd=work,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([MLFLOW_PYTHON, "-m", "mlflow", "models", "serve", "-m", uri, "-p", str(port),
                             "--env-manager", "local", "-h", "127.0.0.1", "-w", "1"], env=env, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=(work / "mlflow-serve.log").open("wb"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + "/ping", proc)
    except BaseException:
        stop(proc)
        raise
    return proc, base, time.perf_counter() - t0


# -- scenarios ----------------------------------------------------------------------------------
def overhead_in_process(n: int = 3000) -> dict[str, float]:
    """Server CPU time per one-row request without the network: the ASGI app called
    directly (batching off), against the model's own predict on the same one-row input."""
    import pandas as pd

    import mlops_jupyter as mj
    from mlops_jupyter.serving.app import create_app

    app = create_app(["bench@production"], batch_rows=1)  # as served: routes refreshed off the path
    app.state.predictor.preload(["bench@production"])
    body = json.dumps({"records": [ROW]}).encode()
    scope = {"type": "http", "method": "POST", "path": "/v1/models/bench/production/predict",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())], "query_string": b""}
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    async def loop_(k: int) -> float:
        t = time.process_time()  # CPU time: robust to other work on the machine
        for _ in range(k):
            await app(scope, receive, send)
        return (time.process_time() - t) / k

    asyncio.run(loop_(200))
    assert sent[0]["status"] == 200, sent[1]
    per_req = min(asyncio.run(loop_(n)) for _ in range(3))
    from mlops_jupyter.models import payload

    model = mj.models.load("bench@v1")
    sig = mj.models.get("bench@v1").input_signature

    def predict_ms(X: Any) -> float:
        for _ in range(200):
            model.predict(X)
        best = float("inf")
        for _ in range(3):
            t = time.process_time()
            for _ in range(n):
                model.predict(X)
            best = min(best, (time.process_time() - t) / n)
        return best * 1000

    ours = predict_ms(payload.to_model_input({k: [v] for k, v in ROW.items()}, sig))
    plain = predict_ms(pd.DataFrame([ROW]))
    return {"request_ms": per_req * 1000, "predict_ms": ours, "predict_plain_ms": plain,
            "overhead_ms": per_req * 1000 - ours}


def batch_scoring(base: str, rows: int = 1_000_000) -> dict[str, float]:
    import httpx
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(rows, 4)), columns=list(ROW))
    table = pa.Table.from_pandas(X, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    pbuf = io.BytesIO()
    pq.write_table(table, pbuf)
    bodies = {
        "arrow": (sink.getvalue(), "application/vnd.apache.arrow.stream"),
        "parquet": (pbuf.getvalue(), "application/vnd.apache.parquet"),
        "json": (json.dumps({"columns": {c: X[c].tolist() for c in X.columns}}).encode(), "application/json"),
    }
    out = {}
    url = base + "/v1/models/bench/production/batch"
    with httpx.Client(timeout=120) as c:
        for name, (data, ctype) in bodies.items():
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                r = c.post(url, content=data, headers={"content-type": ctype})
                r.raise_for_status()
                best = min(best, time.perf_counter() - t)
            assert r.json()["rows"] == rows
            out[name] = rows / best
    return out


def switch_window(res: dict[str, Any], at: float) -> dict[str, float]:
    """Max latency of requests in flight within 1 s either side of the promotion."""
    near = [x for x in res["samples"] if at - 1.0 <= x[0] <= at + 1.0]
    after = [x for x in res["samples"] if x[3] == 2]
    first2 = min((x[0] + x[1] for x in after), default=float("nan"))
    return {"max_ms": max(x[1] for x in near) * 1000 if near else float("nan"),
            "non200": sum(1 for x in res["samples"] if x[2] != 200),
            "switched_after_s": first2 - at, "served_by_v2": len(after)}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        load_main(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true", help="shorter runs, no workers/batch scenarios")
    a = ap.parse_args()
    a.quick = a.quick or _table.quick()
    secs = 2.0 if a.quick else a.seconds
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    body_ours, body_mlflow = {"records": [ROW]}, {"dataframe_records": [ROW]}
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        env = setup_ours(work)
        proc, base, start = start_ours(work, env)
        try:
            url = base + "/v1/models/bench/production/predict"
            ours1 = load(url, body_ours, 1, secs)
            ours8 = load(url, body_ours, 8, secs)
            ours32 = load(url, body_ours, 32, secs)
            rows += [("ours 1 client", ours1), ("ours 8 clients", ours8), ("ours 32 clients", ours32)]
            # promotion under load
            import threading

            import mlops_jupyter as mj

            at: list[float] = []

            def promote() -> None:
                time.sleep(secs / 2)
                at.append(time.perf_counter())
                mj.models.promote("bench@v2", "production", reason="bench")

            th = threading.Thread(target=promote)
            th.start()
            sw = load(url, body_ours, 8, secs, track=True)
            th.join()
            switch = switch_window(sw, at[0])
            mj.models.promote("bench@v1", "production", reason="bench back")
            batch = None if a.quick else batch_scoring(base)
        finally:
            stop(proc)
        proc, base, _ = start_ours(work, env, "--batch-rows", "1")
        try:
            url = base + "/v1/models/bench/production/predict"
            rows += [("ours 8, no batching", load(url, body_ours, 8, secs)),
                     ("ours 32, no batching", load(url, body_ours, 32, secs))]
        finally:
            stop(proc)
        workers = []
        if not a.quick:
            proc, base, _ = start_ours(work, env, "--workers", "2")
            try:
                time.sleep(2)
                url = base + "/v1/models/bench/production/predict"
                workers = [("ours 8, --workers 2", load(url, body_ours, 8, secs)),
                           ("ours 32, --workers 2", load(url, body_ours, 32, secs))]
            finally:
                stop(proc)
        over = overhead_in_process()
        theirs = start_mlflow(work)
        mlflow_rows: list[tuple[str, dict[str, Any]]] = []
        if theirs is not None:
            mproc, mbase, mstart = theirs
            try:
                murl = mbase + "/invocations"
                mlflow_rows = [("mlflow 1 client", load(murl, body_mlflow, 1, secs)),
                               ("mlflow 8 clients", load(murl, body_mlflow, 8, secs)),
                               ("mlflow 32 clients", load(murl, body_mlflow, 32, secs))]
            finally:
                stop(mproc)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"start: ours {start:.2f} s" + (f", mlflow {mstart:.2f} s" if theirs else ""))
    print(f"\n{'':24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'non-200':>9}")
    for name, r in rows + workers + mlflow_rows:
        print(f"{name:24}{r['rps']:9.0f}{r['p50']:9.2f}{r['p99']:9.2f}{r['max']:9.1f}{r['non200']:9d}")
    if mlflow_rows:
        m = dict(mlflow_rows)
        o = dict(rows)
        for k in ("1 client", "8 clients", "32 clients"):
            mo, mm = o[f"ours {k}"], m[f"mlflow {k}"]
            print(f"ratio {k:11}: throughput {mo['rps'] / mm['rps']:.1f}x ours, "
                  f"p50 {mm['p50'] / mo['p50']:.1f}x lower, p99 {mm['p99'] / mo['p99']:.1f}x lower "
                  f"(ours p99 = {mo['p99'] / mm['p99']:.2f} of mlflow's)")
    else:
        print("\n" + _envs.missing("mlflow"))
    if workers:
        o, w = dict(rows), dict(workers)
        for k in ("8", "32"):
            one = o[f"ours {k} clients"]
            two = w[f"ours {k}, --workers 2"]
            print(f"--workers 2 vs 1, {k} clients: {two['rps'] / one['rps']:.2f}x req/s, "
                  f"p99 {two['p99']:.2f} vs {one['p99']:.2f} ms")
    print(f"\npromotion under load (8 clients): max latency within 1 s of the switch "
          f"{switch['max_ms']:.1f} ms, non-200 {switch['non200']}, new version served "
          f"{switch['switched_after_s']:.2f} s after the promotion ({switch['served_by_v2']} answers)")
    print(f"per-request overhead in process (1 row, no batching): request {over['request_ms']:.3f} ms, "
          f"model predict {over['predict_ms']:.3f} ms (on pd.DataFrame([row]): "
          f"{over['predict_plain_ms']:.3f} ms), overhead {over['overhead_ms']:.3f} ms")
    if batch:
        print("batch endpoint, 1,000,000 rows end to end: " +
              ", ".join(f"{k} {v / 1e6:.2f} M rows/s" for k, v in batch.items()))
    o8 = dict(rows)["ours 8 clients"]
    m8 = dict(mlflow_rows).get("mlflow 8 clients")
    ok = None if m8 is None else (
        o8["rps"] >= 1200 and o8["rps"] >= 5 * m8["rps"] and o8["p99"] <= m8["p99"] / 2)
    _table.row(
        "serve a LogisticRegression (8 clients)",
        f"start {start:.1f} s, p50 {o8['p50']:.1f} ms, p99 {o8['p99']:.1f} ms, {o8['rps']:.0f} req/s",
        (f"`mlflow models serve`: start {mstart:.1f} s, p50 {m8['p50']:.1f} ms, "
         f"p99 {m8['p99']:.1f} ms, {m8['rps']:.0f} req/s") if m8 else "`mlflow models serve`: not measured",
        ratio=o8["rps"] / m8["rps"] if m8 else None,
        budget=">= 1,200 req/s, >= 5x MLflow, p99 <= half of MLflow's", ok=ok, order=70,
    )
    if not a.quick:
        _table.row(
            "promotion under load (8 clients)", f"max {switch['max_ms']:.0f} ms around the switch, "
            f"{switch['non200']} non-200", "", budget="<= 50 ms, no error",
            ok=switch["max_ms"] <= 50 and switch["non200"] == 0, order=71,
        )
    return _table.exit_code()


if __name__ == "__main__":
    sys.exit(main())
