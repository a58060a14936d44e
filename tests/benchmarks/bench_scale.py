"""Scale benchmarks (issue 13), each a ratio measured in one run.

1. A 16-job sweep: Dask LocalCluster(2) vs the local executor (2 processes) vs the same
   16 jobs one after another (``mlops run`` each). Budget: Dask >= 1.8x faster than
   one after another.
2. Per-trial overhead of ``mj.tune`` vs a bare Optuna study optimising the same notebook
   through papermill (one process, sequential trials). Budget: <= 1.1x.
3. (``--upload``) a 1 GiB upload to a moto S3 server killed midway: no visible version,
   temporary objects cleaned.

    python tests/benchmarks/bench_scale.py [sweep|tune|upload|all] [--jobs 16] [--trials 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BODY = """
import time
import mlops_jupyter as mj
with mj.start_run(name="b", params={"alpha": alpha}):
    t = time.time()
    while time.time() - t < work:  # a fixed slice of CPU, like a small fit
        sum(i * i for i in range(2000))
    mj.log_metric("auc", alpha)
"""



def cpu() -> float:
    """CPU seconds of this process and every descendant it reaped (see ``reap``)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def adopt_orphans() -> None:
    """Linux: processes orphaned below this one (a Dask worker's job server) are
    re-parented here, so their CPU time is counted once ``reap`` waits for them."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap(timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.1)


def make_nb(path: Path, body: str, work: float) -> Path:
    # imported here, not at the top: Dask's spawned workers re-import this script, and
    # nbformat's import is not part of what the benchmark compares
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell(f"alpha = 0.5\nwork = {work}")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(path))
    return path


def bench_sweep(work_dir: Path, jobs: int, work: float) -> None:
    import mlops_jupyter as mj

    nb = make_nb(work_dir / "sweep.ipynb", BODY, work)
    grid = {"alpha": [round(0.01 * i, 2) for i in range(jobs)]}

    from mlops_jupyter.jobs import forkserver

    adopt_orphans()
    c0, t0 = cpu(), time.perf_counter()
    for a in grid["alpha"]:
        r = subprocess.run([sys.executable, "-m", "mlops_jupyter", "run", str(nb), "-p", f"alpha={a}",
                            "--no-progress"], capture_output=True)
        assert r.returncode == 0, r.stderr[-500:]
    t_seq = time.perf_counter() - t0
    c_seq = cpu() - c0

    c0, t0 = cpu(), time.perf_counter()
    sw = mj.jobs.sweep(str(nb), grid, executor="local", parallel=2, progress=False)
    t_local = time.perf_counter() - t0
    assert sw.ok, sw.summary()
    forkserver.shutdown()  # its CPU time (imports, the jobs it forked) counted below
    reap()
    c_local = cpu() - c0

    c0, t0 = cpu(), time.perf_counter()
    sw = mj.jobs.sweep(str(nb), grid, executor="dask", parallel=2, progress=False)
    t_dask = time.perf_counter() - t0  # cluster start and close included
    assert sw.ok, sw.summary()
    reap()
    c_dask = cpu() - c0
    print(f"{jobs}-job sweep ({work:.1f} s of work per job): one after another {t_seq:.1f} s, "
          f"local executor (2) {t_local:.1f} s, dask LocalCluster(2) {t_dask:.1f} s")
    print(f"  dask vs one after another: {t_seq / t_dask:.2f}x faster (budget >= 1.8x); "
          f"dask vs local: {t_local / t_dask:.2f}x")
    print(f"  CPU per job (all processes): one after another {c_seq / jobs:.2f} s, local {c_local / jobs:.2f} s, "
          f"dask {c_dask / jobs:.2f} s (cluster included); load average {os.getloadavg()[0]:.1f}")


def bench_tune(work_dir: Path, trials: int, work: float, rounds: int = 3) -> None:
    import optuna
    import papermill as pm

    import mlops_jupyter as mj

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    nb = make_nb(work_dir / "tune.ipynb", BODY, work)  # the same notebook on both sides

    def objective(trial: optuna.Trial) -> float:
        alpha = trial.suggest_float("alpha", 0.01, 1.0, log=True)
        out = pm.execute_notebook(str(nb), str(work_dir / "bare-out.ipynb"),
                                  parameters={"alpha": alpha}, progress_bar=False)
        return float(out.metadata.papermill.parameters["alpha"])

    def bare() -> float:
        t0 = time.perf_counter()
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
        study.optimize(objective, n_trials=trials)
        return time.perf_counter() - t0

    def ours() -> float:
        t0 = time.perf_counter()
        res = mj.tune(str(nb), {"alpha": "float:0.01..1:log"}, "auc", trials=trials, parallel=1,
                      executor="local", seed=0, progress=False, pruner="none")
        assert res.ok, res.summary()
        return time.perf_counter() - t0

    t_bare, t_tune, c_bare, c_tune = [], [], [], []
    for _ in range(rounds):  # alternating, best of each: the machine's load moves
        c0 = cpu()
        t_bare.append(bare())
        c1 = cpu()
        t_tune.append(ours())
        c_bare.append(c1 - c0)
        c_tune.append(cpu() - c1)
    t_bare, t_tune = min(t_bare), min(t_tune)
    print(f"tune, {trials} sequential trials, best of {rounds} alternating rounds: bare Optuna + papermill {t_bare:.2f} s "
          f"({t_bare / trials:.3f} s/trial), mj.tune {t_tune:.2f} s ({t_tune / trials:.3f} s/trial)")
    print(f"  per-trial ratio mj.tune / bare: {t_tune / t_bare:.2f}x (budget <= 1.1x)")
    print(f"  CPU per trial (this process and its kernels, best round): bare {min(c_bare) / trials:.2f} s, "
          f"mj.tune {min(c_tune) / trials:.2f} s ({min(c_tune) / min(c_bare):.2f}x); "
          f"load average {os.getloadavg()[0]:.1f}")


def bench_upload(work_dir: Path, mib: int) -> None:
    import socket

    from moto.server import ThreadedMotoServer

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_s3_store import killed_upload

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": url,
                       "FSSPEC_S3_ENDPOINT_URL": url, "MLOPS_ARTIFACTS_URL": "s3://bench/artifacts"})
    import fsspec

    fsspec.config.conf["s3"] = {"endpoint_url": url}
    fsspec.filesystem("s3").mkdir("bench")
    t0 = time.perf_counter()
    left = killed_upload("s3://bench/artifacts", work_dir / ".mlops", work_dir, mib)
    dt = time.perf_counter() - t0
    ok = (left["uploads_seen"] and not left["versions"] and not left["objects"]
          and not left["pending_after"] and not left["temps_after"])
    print(f"{mib} MiB upload killed midway ({dt:.1f} s): versions {left['versions']}, visible objects "
          f"{len(left['objects'])}, uploads cleaned {len(left['removed'])}, left after clean "
          f"{len(left['pending_after']) + len(left['temps_after'])}: {'OK' if ok else 'FAILED'}")
    server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="all", choices=["sweep", "tune", "upload", "all"])
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3, help="tune: alternating rounds, best of each")
    ap.add_argument("--work", type=float, default=1.0, help="seconds of CPU per job")
    ap.add_argument("--upload-mib", type=int, default=1024)
    args = ap.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    os.chdir(work_dir)
    os.environ["MLOPS_HOME"] = str(work_dir / ".mlops")
    if args.what in ("sweep", "all"):
        bench_sweep(work_dir, args.jobs, args.work)
    if args.what in ("tune", "all"):
        bench_tune(work_dir, args.trials, args.work, args.rounds)
    if args.what in ("upload", "all"):
        bench_upload(work_dir, args.upload_mib)


if __name__ == "__main__":
    main()
