"""The magics in a real IPython kernel: notebooks built with nbformat, executed by nbclient.

Each test gets its own store (``MLOPS_HOME`` passed to the kernel) and batches many
checks into one kernel, so the whole file runs in well under three minutes on 2 cores.
The kernel is the test interpreter's own (a kernelspec written for ``sys.executable``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

pytestmark = pytest.mark.slow

KERNEL = "mlops-test-python"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "mlops test (venv python)", "language": "python",
    }))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(root) + (os.pathsep + old if old else "")
    yield KERNEL
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


Step = int | Callable[[Any, Path], None]


def run_notebook(
    cells: Sequence[str], home: Path, kernel: str, *, order: Sequence[Step] | None = None,
    interrupt_after: dict[int, float] | None = None, env: dict[str, str] | None = None,
    timeout: int = 120,
) -> Any:
    """Execute ``cells`` (in ``order``: cell indexes, or callables editing the notebook
    between executions); ``interrupt_after`` sends SIGINT to the kernel N s into a cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    path = home.parent / "test.ipynb"
    nbformat.write(nb, path)
    kernel_env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    kernel_env.update({"MLOPS_HOME": str(home), "MLOPS_NOTEBOOK_PATH": str(path), **(env or {})})
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel, allow_errors=True, timeout=timeout,
        resources={"metadata": {"path": str(home.parent)}},
    )
    with client.setup_kernel(env=kernel_env):
        for step in (order if order is not None else range(len(cells))):
            if callable(step):
                step(nb, path)
                continue
            timer = None
            if interrupt_after and step in interrupt_after:
                pid = client.km.provisioner.process.pid
                timer = threading.Timer(interrupt_after[step], os.kill, (pid, signal.SIGINT))
                timer.start()
            try:
                client.execute_cell(nb.cells[step], step)
            finally:
                if timer is not None:
                    timer.cancel()
    return nb


def stream(cell: Any, name: str = "stdout") -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == name)


def errors(cell: Any) -> list[str]:
    return [o.ename for o in cell.outputs if o.output_type == "error"]


def html(cell: Any) -> str:
    return "".join(
        o.get("data", {}).get("text/html", "") for o in cell.outputs
        if o.output_type in ("display_data", "execute_result")
    )


def mimes(cell: Any) -> set[str]:
    return {m for o in cell.outputs if o.output_type in ("display_data", "execute_result") for m in o.get("data", {})}


def result(cell: Any) -> str | None:
    for o in cell.outputs:
        if o.output_type == "execute_result":
            return o["data"].get("text/plain")
    return None


def one_line_usage_error(cell: Any) -> str:
    err = stream(cell, "stderr").strip()
    assert err.startswith("UsageError: "), err
    assert "\n" not in err and "Traceback" not in err, err
    assert not errors(cell), cell.outputs  # no traceback output either
    return err


def store_runs(home: Path) -> dict[str, list[Any]]:
    """Runs by name, read from the test process (same store as the kernel)."""
    from mlops_jupyter import store
    from mlops_jupyter.tracking import query

    store.reset()
    out: dict[str, list[Any]] = {}
    df = query.runs()
    for rid in df["run_id"][::-1]:  # oldest first
        run = query.get_run(rid)
        out.setdefault(run.name or "", []).append(run)
    return out


VERBS_CELLS = [
    # 0: load, fast and light
    "import sys, time\n_t = time.perf_counter()\n%load_ext mlops_jupyter\n"
    "print('LOAD', time.perf_counter() - _t)\n"
    "print('HEAVY', sorted(m for m in ('pandas', 'sqlalchemy', 'sklearn', 'ipywidgets') if m in sys.modules))",
    "%mlops help",                                   # 1
    "%mlops help track",                             # 2
    "%mlops nosuchverb",                             # 3
    "%mlops log foo",                                # 4
    "%mlops track start --param nokv",               # 5
    "%mlops show ffffff0",                           # 6
    "%mlops runs --limit x",                         # 7
    "%%mlops track --bogus\nprint('never')",         # 8
    "%mlops init\n%mlops experiment verbs",          # 9
    # 10: success, with params/tags/metrics and a displayed last expression
    "%%mlops track ok --param lr=0.1 --param layers=[1,2] --tag team=ml\n"
    "import mlops_jupyter as mj\nfor i in range(5):\n    mj.log_metric('loss', 1 / (i + 1))\n'done'",
    "import mlops_jupyter as mj\nprint('ACTIVE', mj.active_run())",   # 11
    "%%mlops track boom\nx = 1\nraise ValueError('bad <b>value</b>')",   # 12
    "print('ACTIVE', mj.active_run())",                                # 13
    "%%mlops track exit3\nimport sys\nsys.exit(3)",                    # 14
    "%%mlops track exit0\nimport sys\nsys.exit(0)",                    # 15
    "%%mlops track again\ny = 1",                                      # 16
    "%%mlops track again\ny = 1",                                      # 17
    f'%%mlops track "{XSS}" --param "p={XSS}" --tag "t={XSS}"\nmj.log_metric("loss", 0.7)\nmj.log_metric("loss", 0.4)',  # 18
    "%mlops log test_auc=0.93 loss_final=0.1\n%mlops log --params extra=1",  # 19
    "%mlops show",                                                     # 20
    "%mlops runs --sort loss",                                         # 21
    "ok_id = [r for r in mj.runs()['run_id']][-1]\nx_id = mj.tracking.last_run_id()\n%mlops compare $ok_id {x_id}",  # 22
    "%mlops track start span --end-on-error --param stage=1",          # 23
    "mj.log_metric('span_metric', 1.0)",                               # 24
    "%%mlops track child\nmj.log_metric('c', 2)",                      # 25
    "raise RuntimeError('later cell fails')",                          # 26
    "print('ACTIVE', mj.active_run())",                                # 27
    "%mlops track start span2",                                        # 28
    "raise RuntimeError('ignored by span2')",                          # 29
    "print('ACTIVE', mj.active_run().name)\n%mlops track stop",        # 30
    "get_ipython().run_cell_magic('mlops', 'track direct', 'z = 2\\nz * 21')",  # 31
    "get_ipython().run_cell_magic('mlops', 'track direct-fail', 'mj.get_run(\"ffffffffff\")')",  # 32
    "%%mlops track user-mlops-error\nmj.get_run('ffffffffff')",        # 33
    "%mlops runs --differing --filter \"status == 'FINISHED'\" --limit 3",  # 34
    "%mlops compare $ok_id",                                           # 35
    "%%mlops track start\nx = 1",                                      # 36
    "%mlops track stop",                                               # 37
    "%%mlops track awaiting\nimport asyncio\nawait asyncio.sleep(0.01)\n'awaited'",  # 38
]


def test_verbs_and_cell_endings_in_a_kernel(mlops_home: Path, kernel_name: str) -> None:
    nb = run_notebook(VERBS_CELLS, mlops_home, kernel_name)
    c = nb.cells

    # loading: fast, nothing heavy imported
    load = stream(c[0])
    assert float(load.split("LOAD")[1].split()[0]) < 0.5, load
    assert "HEAVY []" in load, load
    # help is built from the registry
    for verb in ("init", "experiment", "track", "log", "runs", "show", "compare"):
        assert f"  {verb} " in stream(c[1])
    assert "%mlops track stop" in stream(c[2]) and "examples:" in stream(c[2])
    # bad input: one line each, no traceback
    assert "unknown verb 'nosuchverb'" in one_line_usage_error(c[3])
    assert "key=value" in one_line_usage_error(c[4])
    assert "key=value" in one_line_usage_error(c[5])
    assert "ffffff0" in one_line_usage_error(c[6])
    assert "invalid int value" in one_line_usage_error(c[7])
    err8 = one_line_usage_error(c[8])
    assert "--bogus" in err8 and "Usage:" in err8
    assert "never" not in stream(c[8])
    assert "experiment: verbs" in stream(c[9])

    # success: last expression displayed, card under the cell, no run left active
    assert result(c[10]) == "'done'"
    assert "FINISHED" in html(c[10]) and "ok" in html(c[10])
    assert "ACTIVE None" in stream(c[11])
    # exception: propagates as the user's own traceback, card says FAILED
    assert errors(c[12]) == ["ValueError"]
    assert "FAILED" in html(c[12]) and "bad &lt;b&gt;value&lt;/b&gt;" in html(c[12])
    assert "ACTIVE None" in stream(c[13])
    assert "FAILED" in html(c[14]) and "FINISHED" in html(c[15])
    # escaping: the name/param/tag show as text in the card
    assert XSS not in html(c[18]) and "&lt;img src=x onerror=alert(1)&gt;" in html(c[18])
    assert "logged 2 metrics to run" in stream(c[19]) and "(run already ended)" in stream(c[19])
    assert "logged 1 parameter" in stream(c[19])
    assert "&lt;img" in html(c[20])  # %mlops show defaults to the last run
    # runs: static HTML only (no widget view: reopened without the kernel it would be
    # "Error displaying widget: model not found"), user text escaped
    assert "text/html" in mimes(c[21])
    assert "application/vnd.jupyter.widget-view+json" not in mimes(c[21])
    assert XSS not in html(c[21]) and "&lt;img src=x" in html(c[21])
    assert "loss ↓" in html(c[21]) and "<table" in html(c[21])
    # compare (run ids through $var and {var} expansion): params side by side, curves
    h = html(c[22])
    assert "Comparing 2 runs" in h and 'class="mj-diff"' in h
    # curves: a Vega-Lite v5 chart output with its static SVG, no widget
    assert {"application/vnd.vegalite.v5+json", "image/svg+xml"} <= mimes(c[22])
    assert "application/vnd.jupyter.widget-view+json" not in mimes(c[22])
    assert XSS not in h
    # spanning run: flushed after each cell, ended FAILED by the failing cell
    assert "(ends on error)" in stream(c[23])
    assert "FAILED" in html(c[26])
    assert "ACTIVE None" in stream(c[27])
    assert "ACTIVE span2" in stream(c[30]) and "FINISHED" in html(c[30])
    # direct run_cell_magic: same semantics, user errors untouched
    assert result(c[31]) == "42"
    assert errors(c[32]) == ["NotFoundError"]
    assert errors(c[33]) == ["NotFoundError"]  # the user's MlopsError keeps its traceback
    assert "differing params only" in html(c[34])
    assert "at least two runs" in one_line_usage_error(c[35])
    assert "not a cell form" in one_line_usage_error(c[36])
    assert "no active run to stop" in one_line_usage_error(c[37])
    assert result(c[38]) == "'awaited'" and "FINISHED" in html(c[38])  # top-level await

    runs = store_runs(mlops_home)
    ok = runs["ok"][0]
    assert ok.status == "FINISHED" and ok.experiment == "verbs"
    assert ok.params == {"lr": "0.1", "layers": "[1, 2]"}
    assert ok.user_tags == {"team": "ml"}
    assert ok.metrics["loss"].count == 5 and ok.metrics["loss"].min == pytest.approx(0.2)
    boom = runs["boom"][0]
    assert boom.status == "FAILED" and boom.error["type"] == "ValueError"
    assert "bad <b>value</b>" in boom.error["message"]
    assert 'File "Cell In[' in boom.error["traceback"] and "line 3" in boom.error["traceback"]
    assert "interactiveshell" not in boom.error["traceback"]
    assert runs["exit3"][0].status == "FAILED" and runs["exit3"][0].error["type"] == "SystemExit"
    assert runs["exit0"][0].status == "FINISHED"
    assert [r.status for r in runs["again"]] == ["FINISHED", "FINISHED"]
    assert runs["again"][0].id != runs["again"][1].id
    x = runs[XSS][0]
    assert x.params["p"] == XSS and x.user_tags["t"] == XSS
    assert x.metrics["test_auc"].last == pytest.approx(0.93) and x.params["extra"] == "1"
    assert x.metrics["loss_final"].last_step == 0
    span = runs["span"][0]
    assert span.status == "FAILED" and span.error["type"] == "RuntimeError"
    assert span.metrics["span_metric"].last == 1.0
    child = runs["child"][0]
    assert child.parent_id == span.id and child.status == "FINISHED"
    assert runs["span2"][0].status == "FINISHED"
    assert runs["direct"][0].status == "FINISHED"
    assert runs["direct-fail"][0].status == "FAILED"
    assert runs["user-mlops-error"][0].error["type"] == "NotFoundError"
    assert runs["awaiting"][0].status == "FINISHED"
    assert not any(r.status == "RUNNING" for rs in runs.values() for r in rs)

    # provenance: the cell's exact source and the history up to it
    from mlops_jupyter.tracking.session import get_store

    st = get_store()
    cell = st.read_artifact(ok.id, "code/cell.py").decode()
    assert cell.startswith("import mlops_jupyter as mj\nfor i in range(5):") and "%%mlops" not in cell
    hist = st.read_artifact(ok.id, "code/history.py").decode()
    assert "# In[1]:\nimport sys, time" in hist and hist.rstrip().endswith("'done'")
    assert "%mlops help" in hist and "raise ValueError" not in hist  # later cells excluded
    assert ok.tags["mlops.cell.order_basis"] == "notebook"
    assert ok.tags["mlops.cell.out_of_order"] == "false"
    assert ok.tags["mlops.cell.missing_code"] == "false"
    assert ok.tags["mlops.cell.execution_count"] == "11"


INTERRUPT_CELLS = [
    "%load_ext mlops_jupyter\nimport mlops_jupyter as mj, time",            # 0
    "%%mlops track sleepy\nmj.log_metric('before', 1.0)\nprint('started', flush=True)\ntime.sleep(60)",  # 1
    "print('ACTIVE', mj.active_run())",                                      # 2
    "%mlops track start span-int --end-on-error",                           # 3
    "time.sleep(60)",                                                        # 4
    "print('ACTIVE', mj.active_run())",                                      # 5
    # a library failure while ending the run never hides the user's exception
    "from mlops_jupyter.tracking.active import ActiveRun\n_orig_end = ActiveRun.end\n"
    "def _broken(self, *a, **k):\n    raise OSError('disk on fire')\nActiveRun.end = _broken",  # 6
    "%%mlops track lib-fail\nraise ZeroDivisionError('user error')",        # 7
    "ActiveRun.end = _orig_end\nprint('ACTIVE', mj.active_run())",          # 8
    "%%mlops track after\nx = 1",                                            # 9
]


def test_interrupt_and_library_failure(mlops_home: Path, kernel_name: str) -> None:
    nb = run_notebook(INTERRUPT_CELLS, mlops_home, kernel_name, interrupt_after={1: 2.0, 4: 2.0})
    c = nb.cells
    assert "started" in stream(c[1]) and errors(c[1]) == ["KeyboardInterrupt"]
    assert "KILLED" in html(c[1])
    assert "ACTIVE None" in stream(c[2])
    assert errors(c[4]) == ["KeyboardInterrupt"] and "KILLED" in html(c[4])
    assert "ACTIVE None" in stream(c[5])
    assert errors(c[7]) == ["ZeroDivisionError"]
    assert "mlops: OSError: disk on fire" in stream(c[7], "stderr")
    assert "ACTIVE None" in stream(c[8])
    assert "FINISHED" in html(c[9])

    runs = store_runs(mlops_home)
    sleepy = runs["sleepy"][0]
    assert sleepy.status == "KILLED" and sleepy.error["type"] == "KeyboardInterrupt"
    assert sleepy.metrics["before"].last == 1.0  # flushed at the cell's end
    assert runs["span-int"][0].status == "KILLED"
    assert runs["after"][0].status == "FINISHED"


AUTOLOG_CELLS = [
    "%load_ext mlops_jupyter\nimport sys\nimport mlops_jupyter as mj\n"
    "from mlops_jupyter.tracking import autolog\nautolog.configure(search_children=3)\n"
    "print('SKLEARN', 'sklearn' in sys.modules)",                                        # 0
    # scikit-learn imported for the first time inside the tracked cell
    "%%mlops track lr\nfrom sklearn.datasets import load_iris\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "X, y = load_iris(return_X_y=True, as_frame=True)\n"
    "clf = LogisticRegression(max_iter=500).fit(X, y)",                                   # 1
    "%%mlops track rf --param source=iris\nfrom sklearn.ensemble import RandomForestClassifier\n"
    "rf = RandomForestClassifier(n_estimators=15, max_depth=3, random_state=0).fit(X, y)",  # 2
    "%%mlops track pipe\nfrom sklearn.pipeline import make_pipeline\n"
    "from sklearn.preprocessing import StandardScaler\n"
    "pipe = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500)).fit(X.values, y.values)",  # 3
    "%%mlops track grid\nfrom sklearn.model_selection import GridSearchCV\n"
    "gs = GridSearchCV(LogisticRegression(max_iter=500), {'C': [0.1, 1.0, 10.0]}, cv=3).fit(X, y)",  # 4
    "%%mlops track two-models\nLogisticRegression(max_iter=500).fit(X, y)\n"
    "for seed in range(3):\n    RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)\n"
    "RandomForestClassifier(n_estimators=7).fit(X, y)\nNone",                             # 5
    "est, sample = autolog.last_fitted()\nprint('LAST', type(est).__name__, sample.shape)\n"
    "LogisticRegression(max_iter=500).fit(X, y)\n"
    "print('PATCHED', getattr(LogisticRegression.fit, '_mlops_autolog', False))\n"
    "print('LAST2', type(autolog.last_fitted()[0]).__name__)",                            # 6
    "%%mlops track reordered\nz = 3",                                                    # 7
    "w = 4",                                                                              # 8
]


def _edit_cell_8(nb: Any, path: Path) -> None:
    nb.cells[8].source = "w = 5  # edited after it ran"
    nbformat.write(nb, path)


def test_autolog_and_provenance_flags(mlops_home: Path, kernel_name: str) -> None:
    order: list[Step] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 7, _edit_cell_8, 7]
    nb = run_notebook(AUTOLOG_CELLS, mlops_home, kernel_name, order=order)
    c = nb.cells
    assert "SKLEARN False" in stream(c[0])
    for i in range(1, 8):
        assert not errors(c[i]), (i, c[i].outputs)
        assert "mlops:" not in stream(c[i], "stderr"), stream(c[i], "stderr")
    assert "LAST RandomForestClassifier (5, 4)" in stream(c[6])
    assert "PATCHED False" in stream(c[6])  # restored outside tracked cells
    assert "LAST2 RandomForestClassifier" in stream(c[6])  # untracked fits are not recorded

    runs = store_runs(mlops_home)
    lr = runs["lr"][0]
    assert lr.tags["mlops.autolog.estimator"] == "LogisticRegression"
    assert lr.params["max_iter"] == "500" and lr.params["C"] == "1.0"
    assert "fit_time_s" in lr.metrics and 0.9 < lr.metrics["training_score"].last <= 1.0
    assert lr.tags["mlops.autolog.input_shape"] == "150x4"
    schema = json.loads(lr.tags["mlops.autolog.input_schema"])
    assert schema["columns"][0] == {"name": "sepal length (cm)", "dtype": "float64"}
    rf = runs["rf"][0]
    assert rf.tags["mlops.autolog.estimator"] == "RandomForestClassifier"
    assert rf.params["n_estimators"] == "15" and rf.params["source"] == "iris"
    assert "training_score" in rf.metrics
    pipe = runs["pipe"][0]
    assert pipe.tags["mlops.autolog.estimator"] == "Pipeline"
    assert pipe.tags["mlops.autolog.steps"] == "standardscaler=StandardScaler > logisticregression=LogisticRegression"
    assert pipe.params["logisticregression__C"] == "0.5"
    assert pipe.tags["mlops.autolog.input_shape"] == "150x4"
    assert "training_score" in pipe.metrics
    grid = runs["grid"][0]
    assert grid.tags["mlops.autolog.estimator"] == "GridSearchCV"
    assert grid.params["best.C"] in ("0.1", "1.0", "10.0")
    assert 0.8 < grid.metrics["best_cv_score"].last <= 1.0
    assert grid.tags["mlops.autolog.candidates"] == "3"
    from mlops_jupyter.tracking.session import get_store

    st = get_store()
    assert "mean_test_score" in st.read_artifact(grid.id, "autolog/cv_results.csv").decode()
    cands = [r for name, rs in runs.items() if name.startswith("candidate-") for r in rs]
    assert len(cands) == 3 and all(r.parent_id == grid.id for r in cands)
    assert all("mean_test_score" in r.metrics for r in cands)
    # a second model in one run gets a child run; refits of the same model only count
    two = runs["two-models"][0]
    assert two.tags["mlops.autolog.estimator"] == "LogisticRegression"
    kids = [r for r in runs.get("RandomForestClassifier", []) if r.parent_id == two.id]
    assert len(kids) == 2, kids  # n_estimators=5 (fitted 3 times) and n_estimators=7
    assert sorted(k.params["n_estimators"] for k in kids) == ["5", "7"]
    assert next(k for k in kids if k.params["n_estimators"] == "5").tags["mlops.autolog.fits"] == "3"

    # provenance flags: in order, then re-run after a later cell, then missing code
    r1, r2, r3 = runs["reordered"]
    assert (r1.tags["mlops.cell.out_of_order"], r1.tags["mlops.cell.missing_code"]) == ("false", "false")
    assert r2.tags["mlops.cell.out_of_order"] == "true"
    assert "ran after" in r2.tags["mlops.cell.order_notes"]
    assert r3.tags["mlops.cell.missing_code"] == "true"
    assert "no longer in the notebook" in r3.tags["mlops.cell.order_notes"]
    assert "used code no longer in the notebook" in html(c[7])  # the card says so too
    hist = st.read_artifact(r3.id, "code/history.py").decode()
    assert hist.count("z = 3") == 3 and "w = 4" in hist
