"""Benchmark of the notebook face (issue 3). A plain script that prints figures:

1. ``%load_ext mlops_jupyter`` in a fresh kernel (budget 0.15 s), and which heavy
   modules it pulled in (none expected);
2. per-cell overhead of ``%%mlops track`` on an empty cell, measured as the round trip
   a front end sees (budget 20 ms), with the median of plain cells subtracted;
3. autolog overhead on a small scikit-learn fit, beside MLflow's ``mlflow.sklearn.autolog``
   on the same fit when a Python with mlflow is available (``--mlflow-python``, else the
   environment run_all.py builds in .bench-envs/mlflow, or MLFLOW_PYTHON); MLflow runs in
   that interpreter through a subprocess so its imports never touch ours.

Run: ``python tests/benchmarks/bench_magics.py [--cells 60] [--kernels 5]``.
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

FIT_SETUP = """
import numpy as np
rng = np.random.default_rng(0)
X = rng.normal(size=(1000, 10))
y = (X[:, 0] + 0.5 * rng.normal(size=1000) > 0).astype(int)
from sklearn.linear_model import LogisticRegression
def fit():
    return LogisticRegression(max_iter=200).fit(X, y)
fit()  # warm up
"""


def _kernel_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["MLOPS_HOME"] = str(home)
    return env


def _start_kernel(home: Path):  # type: ignore[no-untyped-def]
    from jupyter_client.manager import start_new_kernel

    return start_new_kernel(kernel_name="python3", env=_kernel_env(home), cwd=str(home.parent))


def _run(kc, code: str) -> tuple[float, list[str]]:  # type: ignore[no-untyped-def]
    texts: list[str] = []

    def hook(msg):  # type: ignore[no-untyped-def]
        if msg["msg_type"] == "stream":
            texts.append(msg["content"]["text"])

    t0 = time.perf_counter()
    reply = kc.execute_interactive(code, output_hook=hook, timeout=120)
    elapsed = time.perf_counter() - t0
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"cell failed: {code!r}: {reply['content'].get('evalue')}")
    return elapsed, texts


def bench_load_ext(kernels: int) -> float:
    times, heavy = [], set()
    for _ in range(kernels):
        with tempfile.TemporaryDirectory() as tmp:
            km, kc = _start_kernel(Path(tmp) / ".mlops")
            try:
                _, out = _run(kc, textwrap.dedent("""
                    import sys, time
                    _before = set(sys.modules)
                    _t = time.perf_counter()
                    get_ipython().run_line_magic('load_ext', 'mlops_jupyter')
                    _dt = time.perf_counter() - _t
                    _new = [m for m in set(sys.modules) - _before if m.split('.')[0] in
                            ('pandas', 'sqlalchemy', 'sklearn', 'scipy', 'ipywidgets', 'numpy', 'pyarrow', 'fsspec')]
                    print(_dt, len(set(sys.modules) - _before), sorted({m.split('.')[0] for m in _new}))
                """))
            finally:
                kc.stop_channels()
                km.shutdown_kernel(now=True)
        dt, nmods, new = out[-1].split(maxsplit=2)
        times.append(float(dt))
        heavy |= set(json.loads(new.replace("'", '"')))
    print(f"%load_ext in a fresh kernel: median {statistics.median(times) * 1000:.1f} ms "
          f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}; {kernels} kernels; budget 150 ms); "
          f"{nmods} modules imported; heavy packages imported: {sorted(heavy) or 'none'}")
    return statistics.median(times)


def bench_cell_overhead(cells: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / ".mlops"
        km, kc = _start_kernel(home)
        try:
            _run(kc, "%load_ext mlops_jupyter")
            _run(kc, "%%mlops track warmup\npass")  # opens the store, first git/env capture
            plain, tracked = [], []
            for _ in range(cells):
                plain.append(_run(kc, "pass")[0])
                tracked.append(_run(kc, "%%mlops track\npass")[0])
            _, out = _run(kc, "import mlops_jupyter as mj; print(len(mj.runs()), "
                              "(mj.runs().status == 'FINISHED').all())")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    p, t = statistics.median(plain), statistics.median(tracked)
    print(f"%%mlops track on an empty cell: round trip {t * 1000:.1f} ms vs {p * 1000:.1f} ms plain -> "
          f"overhead {(t - p) * 1000:.1f} ms median (p90 {(sorted(tracked)[int(cells * 0.9)] - p) * 1000:.1f} ms; "
          f"{cells} cells; budget 20 ms). Runs stored: {out[-1].strip()}")
    return t - p


OURS = FIT_SETUP + """
import statistics, time
import mlops_jupyter as mj
from mlops_jupyter.tracking import autolog
base, logged = [], []
for _ in range({n}):  # interleaved, so machine load hits both alike
    t = time.perf_counter(); fit(); base.append(time.perf_counter() - t)
    with autolog.patched(), mj.start_run(name="bench"):
        t = time.perf_counter(); fit(); logged.append(time.perf_counter() - t)
assert "mlops.autolog.estimator" in mj.get_run(mj.tracking.last_run_id()).tags
print(statistics.median(base), statistics.median(logged))
"""

THEIRS = FIT_SETUP + """
import logging, statistics, time, warnings
warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
import mlflow, mlflow.sklearn
mlflow.set_tracking_uri("sqlite:///{db}")
mlflow.set_experiment("bench")
out = []
base = []
for log_models in (False, True):
    times = []
    for _ in range({n}):  # interleaved with plain fits
        mlflow.sklearn.autolog(disable=True)
        t = time.perf_counter(); fit(); base.append(time.perf_counter() - t)
        mlflow.sklearn.autolog(log_models=log_models, silent=True)
        with mlflow.start_run():
            t = time.perf_counter(); fit(); times.append(time.perf_counter() - t)
    out.append(statistics.median(times))
print(statistics.median(base), *out)
"""


def _mlflow_python(explicit: str | None) -> str | None:
    for cand in ([explicit] if explicit else [_envs.python_for("mlflow")]):
        if cand and Path(cand).exists():
            ok = subprocess.run([cand, "-c", "import mlflow, sklearn"], capture_output=True)
            if ok.returncode == 0:
                return cand
    return None


def bench_autolog(n: int, mlflow_python: str | None) -> tuple[float, tuple[float, float] | None]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**_kernel_env(Path(tmp) / ".mlops")}
        res = subprocess.run([sys.executable, "-c", OURS.format(n=n)], capture_output=True,
                             text=True, env=env, cwd=tmp, check=True)
        base, ours = map(float, res.stdout.split())
        print(f"autolog, LogisticRegression on 1000x10 (fit {base * 1000:.1f} ms): mlops-jupyter "
              f"+{(ours - base) * 1000:.1f} ms per fit (incl. training score; median of {n})")
        py = _mlflow_python(mlflow_python)
        if py is None:
            print(_envs.missing("mlflow") + " (or pass --mlflow-python)")
            return ours - base, None
        res = subprocess.run([py, "-c", THEIRS.format(n=max(3, n // 4), db=Path(tmp) / "mlflow.db")],
                             capture_output=True, text=True, cwd=tmp, timeout=1200)
        if res.returncode != 0:
            print(f"MLflow run failed: {res.stderr.strip().splitlines()[-1:]}")
            return ours - base, None
        mbase, mnomodel, mmodel = map(float, res.stdout.split()[-3:])
        ver = subprocess.run([py, "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True, text=True).stdout.strip()
        print(f"MLflow {ver} sklearn autolog on the same fit (fit {mbase * 1000:.1f} ms): "
              f"+{(mnomodel - mbase) * 1000:.0f} ms per fit with log_models=False, "
              f"+{(mmodel - mbase) * 1000:.0f} ms with models (default)")
        floor = max(ours - base, 0.5e-3)  # below 0.5 ms the difference is noise
        print(f"  -> MLflow adds {(mmodel - mbase) / floor:.0f}x our overhead by default, "
              f"{(mnomodel - mbase) / floor:.0f}x without models")
        return ours - base, (mnomodel - mbase, mmodel - mbase)


def main() -> int:
    quick = _table.quick()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernels", type=int, default=3 if quick else 5)
    ap.add_argument("--cells", type=int, default=20 if quick else 60)
    ap.add_argument("--fits", type=int, default=8 if quick else 20)
    ap.add_argument("--mlflow-python")
    a = ap.parse_args()
    load = bench_load_ext(a.kernels)
    cell = bench_cell_overhead(a.cells)
    fit, theirs = bench_autolog(a.fits, a.mlflow_python)
    _table.row(
        "`%load_ext mlops_jupyter` in a fresh kernel", f"{load * 1000:.0f} ms", "",
        budget="<= 150 ms", ok=load <= 0.15, order=60,
    )
    alt = (f"MLflow autolog: +{theirs[0] * 1000:.0f} ms (no models) / +{theirs[1]:.1f} s per fit"
           if theirs else "MLflow autolog: not measured")
    _table.row(
        "`%%mlops track` / sklearn autolog overhead",
        f"+{cell * 1000:.1f} ms per cell / +{fit * 1000:.1f} ms per fit", alt,
        ratio=theirs[0] / max(fit, 0.5e-3) if theirs else None,
        budget="<= 20 ms per cell", ok=cell <= 0.020, order=61,
    )
    return _table.exit_code()


if __name__ == "__main__":
    sys.exit(main())
