"""The magics in an in-process IPython shell: parsing, errors, help, order analysis.

Fast checks of behaviour that does not need a separate kernel; the kernel-level
semantics (interrupts, sys.exit, displays in a real front-end protocol) are in
test_magics_kernel.py.
"""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from mlops_jupyter.magics import _track_cell_transformer, dispatch, registry
from mlops_jupyter.magics.args import literal, parse_kv
from mlops_jupyter.magics.registry import Verb
from mlops_jupyter.tracking.notebook import analyze_order, status_for


def shared_shell() -> Any:
    """The process-wide test shell (IPython's globalipapp), shared with other test files
    so that tests pass in any order."""
    from IPython.testing import globalipapp

    globalipapp.start_ipython()  # once per process; None afterwards
    return globalipapp.get_ipython()


@pytest.fixture
def ip(mlops_home: Path) -> Any:
    shell = shared_shell()
    shell.run_cell("%load_ext mlops_jupyter", store_history=False)
    yield shell
    shell.run_cell("%unload_ext mlops_jupyter", store_history=False)


def run(ip: Any, src: str) -> tuple[Any, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        res = ip.run_cell(src)
    return res, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("nosuchverb", "unknown verb 'nosuchverb'"),
        ("log", "the following arguments are required: k=v"),
        ("log a=1 --step x", "invalid int value: 'x'"),
        ("log a=1 --step 2 --params", "--step applies to metrics"),
        ("log =1", "key=value"),
        ("track", "%%mlops track [NAME]"),
        ("track start --end-on-error --bogus", "unrecognized arguments: --bogus"),
        ("track stop --status DONE", "invalid choice"),
        ("runs --limit 0", "--limit must be a positive integer"),
        ("runs --sort nosuchmetric", "cannot sort by 'nosuchmetric'"),
        ("runs --filter 'params.nope > 1'", "unknown column"),
        ("compare abcdef", "at least two runs"),
        ("show 'abc def", "cannot split arguments"),
        ("help nosuchverb", "unknown verb 'nosuchverb'"),
    ],
)
def test_bad_input_is_one_usage_error(ip: Any, line: str, needle: str) -> None:
    with pytest.raises(UsageError) as e:
        dispatch(ip, line)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg
    # and through the shell: one stderr line, no traceback
    res, _out, err = run(ip, f"%mlops {line}")
    assert isinstance(res.error_in_exec, UsageError)
    assert err.strip().startswith("UsageError:") and "Traceback" not in err


def test_library_errors_become_one_line(ip: Any) -> None:
    with pytest.raises(UsageError, match=r"^%mlops show: .*ffffff0"):
        dispatch(ip, "show ffffff0")
    with pytest.raises(UsageError, match="experiment"):
        dispatch(ip, "experiment '\x01bad'")


def test_kv_values_are_literals_or_text() -> None:
    assert parse_kv(["lr=0.1", "n=3", "ok=True", "xs=[1, 2]", "name=rf", "s='q'", "e=", "u=a=b"]) == {
        "lr": 0.1, "n": 3, "ok": True, "xs": [1, 2], "name": "rf", "s": "q", "e": "", "u": "a=b",
    }
    assert literal("__import__('os')") == "__import__('os')"  # never evaluated
    with pytest.raises(UsageError, match="got 'noequals'"):
        parse_kv(["noequals"])


def test_help_lists_registry_and_reports_broken_modules(
    ip: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _res, out, _err = run(ip, "%mlops help")
    for verb in ("init", "experiment", "track", "log", "runs", "show", "compare", "help"):
        assert f"  {verb} " in out
    mod = type(sys)("mlops_fake_verbs")
    mod.VERBS = {"fake": Verb("fake", "a fake verb", "%mlops fake X", lambda s, a, c: "X" + "".join(a),
                              ["%mlops fake 1"])}
    monkeypatch.setitem(sys.modules, "mlops_fake_verbs", mod)
    monkeypatch.setitem(registry.VERB_MODULES, "fake", "mlops_fake_verbs")
    monkeypatch.setitem(registry.VERB_MODULES, "broke", "mlops_jupyter.magics._no_such_module_xyz")
    monkeypatch.setitem(registry.VERB_MODULES, "crash", "mlops_crashing_verbs")
    (tmp_path / "mlops_crashing_verbs.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _res, out, _err = run(ip, "%mlops help")
    assert "  fake " in out and "a fake verb" in out
    assert "broke" not in out  # a module that has not landed is simply absent
    assert "crash" in out and "unavailable: RuntimeError: boom at import" in out
    with pytest.raises(UsageError, match="unavailable: RuntimeError: boom at import"):
        dispatch(ip, "crash")
    assert dispatch(ip, "fake a b") == "Xab"
    _res, out, _err = run(ip, "%mlops help fake")
    assert "%mlops fake X" in out and "%mlops fake 1" in out
    with pytest.raises(UsageError, match="not a cell magic"):
        dispatch(ip, "fake", "cell body")


def test_transformer_rewrites_only_track_cells() -> None:
    lines = ["%%mlops track my-run --param a=1\n", "x = 1\n"]
    out = _track_cell_transformer(lines)
    assert out[0] == "get_ipython().run_line_magic('mlops', 'track --cell-begin my-run --param a=1')\n"
    assert out[1:] == ["x = 1\n"]
    assert _track_cell_transformer(["%%mlops track\n"])[0].endswith("'track --cell-begin ')\n")
    for other in (["%%mlops trackx\n"], ["%%mlops runs\n"], ["x = 1\n"], ["# %%mlops track\n"], []):
        assert _track_cell_transformer(other) == other


def test_tracked_cell_in_process(ip: Any) -> None:
    import mlops_jupyter as mj

    res, _out, _err = run(ip, "%%mlops track t1 --param a=1\nimport mlops_jupyter as mj\nmj.log_metric('m', 2)\n40 + 2")
    assert res.success and res.result == 42
    assert mj.active_run() is None
    run_ = mj.get_run(mj.tracking.last_run_id())
    assert run_.name == "t1" and run_.status == "FINISHED" and run_.params == {"a": "1"}
    assert run_.metrics["m"].last == 2
    res, _out, err = run(ip, "%%mlops track t2\nraise KeyError('k')")
    assert isinstance(res.error_in_exec, KeyError)
    assert mj.get_run(mj.tracking.last_run_id()).status == "FAILED"
    assert mj.active_run() is None
    # an already-active API run becomes the tracked cell's parent
    with mj.start_run(name="outer") as outer:
        res, _out, _err = run(ip, "%%mlops track inner\nx = 1")
        inner = mj.get_run(mj.tracking.last_run_id())
        assert inner.parent_id == outer.id and inner.status == "FINISHED"
        assert mj.active_run() is outer


def test_statuses() -> None:
    assert status_for(None) == "FINISHED"
    assert status_for(KeyboardInterrupt()) == "KILLED"
    assert status_for(SystemExit(0)) == "FINISHED"
    assert status_for(SystemExit(None)) == "FINISHED"
    assert status_for(SystemExit(2)) == "FAILED"
    assert status_for(SystemExit("bye")) == "FAILED"
    assert status_for(ValueError()) == "FAILED"


def test_order_analysis_with_the_notebook() -> None:
    nb = [("a", "import x"), ("b", "y = 1"), ("c", "%%mlops track\nfit()")]
    hist = [(1, "import x", None), (2, "y = 1", None), (3, "%%mlops track\nfit()", None)]
    rep = analyze_order(hist, nb)
    assert (rep.basis, rep.out_of_order, rep.missing_code) == ("notebook", "false", "false")
    # re-running the tracked cell twice in a row is fine
    assert analyze_order([*hist, (4, "%%mlops track\nfit()", None)], nb).out_of_order == "false"
    # the first cell re-run after the second: out of order
    rep = analyze_order([hist[0], hist[1], (3, "import x", None), (4, hist[2][1], None)], nb)
    assert rep.out_of_order == "true" and "In[3] (cell 1) ran after In[2] (cell 2)" in rep.notes
    # code that ran but is no longer in the notebook
    rep = analyze_order([hist[0], (2, "y = 0", None), (3, hist[2][1], None)], nb)
    assert rep.missing_code == "true" and rep.notes == ["In[2] is no longer in the notebook"]
    # ids win over sources (two cells with the same source)
    nb2 = [("a", "x = 1"), ("b", "x = 1"), ("c", "run()")]
    rep = analyze_order([(1, "x = 1", "b"), (2, "x = 1", "a"), (3, "run()", "c")], nb2)
    assert rep.out_of_order == "true"
    # empty cells do not count
    assert analyze_order([(1, "  ", None), *hist], nb).out_of_order == "false"


def test_order_analysis_without_the_notebook() -> None:
    ids = [(1, "a = 1", "A"), (2, "b = 2", "B"), (3, "a = 1", "A"), (4, "go()", "C")]
    rep = analyze_order(ids)
    assert (rep.basis, rep.out_of_order, rep.missing_code) == ("cell-ids", "true", "false")
    edited = [(1, "a = 1", "A"), (2, "a = 2", "A"), (3, "go()", "C")]
    rep = analyze_order(edited)
    assert (rep.out_of_order, rep.missing_code) == ("false", "true")
    plain = [(1, "a = 1", None), (2, "b = 2", None), (3, "go()", None)]
    rep = analyze_order(plain)
    assert (rep.basis, rep.out_of_order, rep.missing_code) == ("history", "false", "unknown")
    rep = analyze_order([*plain[:2], (3, "a = 1", None), (4, "go()", None)])
    assert rep.out_of_order == "true"


def test_spanning_runs_flush_after_every_cell(ip: Any) -> None:
    import mlops_jupyter as mj

    run(ip, "%mlops track start span")
    active = mj.active_run()
    assert active is not None and active.name == "span"
    run(ip, "import mlops_jupyter as mj\nfor i in range(10): mj.log_metric('x', i)")
    assert active.pending == 0  # flushed by the post-cell hook
    assert mj.get_run(active.id).metrics["x"].count == 10
    res, _out, _err = run(ip, "raise ValueError('not ending span')")
    assert mj.active_run() is active  # no --end-on-error
    res, out, _err = run(ip, "%mlops track stop --status killed")
    assert mj.active_run() is None and mj.get_run(active.id).status == "KILLED"


def test_trailing_comments_are_comments(ip) -> None:  # type: ignore[no-untyped-def]
    ip.run_line_magic("mlops", "experiment churn      # set it")
    from mlops_jupyter.tracking import session

    assert session.current_experiment() == "churn"
    ip.run_line_magic("mlops", "help            # every verb")  # no "unknown verb '#'"
    ip.run_line_magic("mlops", "experiment 'a #1'")  # quoted: part of the name
    assert session.current_experiment() == "a #1"


def test_implicit_run_is_announced_and_never_parents_a_tracked_cell(ip, capsys) -> None:  # type: ignore[no-untyped-def]
    import mlops_jupyter as mj
    from mlops_jupyter.tracking import notebook, session

    mj.log_metric("stray", 1.0)  # a helper called from an untracked cell
    implicit = session.active_run()
    assert implicit is not None and implicit.implicit
    assert "no active run" in capsys.readouterr().err
    run = notebook.begin_cell("tracked")
    try:
        assert run.parent_id is None and implicit.ended  # ended, not adopted as parent
    finally:
        notebook.end_cell(None)
    assert mj.get_run(implicit.id).tags["mlops.implicit"] == "true"
    assert mj.get_run(implicit.id).status == "FINISHED"


def test_a_key_given_twice_with_different_values_is_refused() -> None:
    from IPython.core.error import UsageError

    from mlops_jupyter.magics.args import parse_kv

    assert parse_kv(["a=1", "a=1"]) == {"a": 1}
    with pytest.raises(UsageError, match="given twice"):
        parse_kv(["a=1", "a=2"])
