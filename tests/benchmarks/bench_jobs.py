"""Job overhead beside bare papermill, on the same trivial 3-cell notebook, same process.

Budget (DESIGN.md): a job within 10% of bare papermill. Both sides execute in process
after a warm-up (imports done), alternating, and the median of N rounds is compared.
Also reported: the `mlops run` CLI beside the `papermill` CLI (process start included).

    python tests/benchmarks/bench_jobs.py [rounds]

The command-line comparison uses the `papermill` of the pinned environment
run_all.py builds (.bench-envs/papermill, or PAPERMILL_PYTHON), else our own.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _envs  # noqa: E402
import _table  # noqa: E402


def make_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell("x = 1")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell("y = x * 2"), nbformat.v4.new_code_cell("print(y)")]
    nbformat.write(nb, str(path))


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else (3 if _table.quick() else 7)
    work = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    os.chdir(work)
    os.environ["MLOPS_HOME"] = str(work / ".mlops")
    nb_path = work / "trivial.ipynb"
    make_notebook(nb_path)

    import papermill as pm

    import mlops_jupyter as mj

    def bare() -> None:
        pm.execute_notebook(str(nb_path), str(work / "bare-out.ipynb"), parameters={"x": 2},
                            progress_bar=False)

    def job() -> None:
        j = mj.jobs.run(str(nb_path), parameters={"x": 2}, progress=False)
        assert j.ok, j.describe_failure()

    bare(), job()  # warm up: imports, store creation, kernelspec cache
    t_bare, t_job = [], []
    for _ in range(rounds):
        for fn, acc in ((bare, t_bare), (job, t_job)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    mb, mjb = statistics.median(t_bare), statistics.median(t_job)
    print(f"in process, median of {rounds}: papermill {mb:.3f} s, mj.jobs.run {mjb:.3f} s, "
          f"ratio {mjb / mb:.3f} (budget 1.10), overhead {1000 * (mjb - mb):.0f} ms")

    bindir = Path(sys.executable).parent
    papermill_cli = _envs.executable_for("papermill", "papermill")
    if papermill_cli is None:
        print(_envs.missing("papermill") + "; the command-line figure uses our own papermill")
        papermill_cli = str(bindir / "papermill")
    env = {**os.environ}
    cli_bare, cli_job = [], []
    for _ in range(max(3, rounds // 2)):
        for cmd, acc in (([papermill_cli, str(nb_path), "cli-out.ipynb", "-p", "x", "2",
                           "--no-progress-bar"], cli_bare),
                         ([str(bindir / "mlops"), "run", str(nb_path), "-p", "x=2", "--no-progress"], cli_job)):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            acc.append(time.perf_counter() - t0)
    cb, cj = statistics.median(cli_bare), statistics.median(cli_job)
    print(f"command line, median: papermill {cb:.3f} s ({papermill_cli}), mlops run {cj:.3f} s, "
          f"ratio {cj / cb:.3f}")
    label = _envs.ENVS["papermill"].label if _envs.python_for("papermill") else "papermill"
    _table.row(
        "run a notebook job", f"{mjb / mb:.2f}x bare papermill in process (CLI: {cj:.2f} s)",
        f"{label}: {mb:.2f} s in process, CLI {cb:.2f} s", ratio=mjb / mb,
        budget="job <= 1.10x bare papermill", ok=mjb / mb <= 1.10, order=80,
    )
    return _table.exit_code()


if __name__ == "__main__":
    sys.exit(main())
