"""The Python tracking API on the embedded store and on real PostgreSQL."""

from __future__ import annotations

import math

import pytest

import mlops_jupyter as mj
from mlops_jupyter.errors import (
    AmbiguousReferenceError,
    ConflictError,
    InvalidNameError,
    MlopsError,
    NotFoundError,
    UsageError,
)


def test_run_lifecycle_params_metrics_tags(backend: str) -> None:
    mj.set_experiment("churn")
    with mj.start_run(name="rf-baseline", params={"n_estimators": 200, "depth": None}) as run:
        mj.log_params({"lr": 0.1, "layers": [64, 32]})
        mj.log_metric("auc", 0.91, step=3)
        mj.log_metrics({"loss": 0.5, "acc": 0.7}, step=1)
        mj.log_metrics({"loss": 0.3, "acc": 0.8}, step=2)
        mj.set_tags({"team": "growth"})
        assert mj.active_run() is run
    assert mj.active_run() is None
    got = mj.get_run(run.id)
    assert got.status == "FINISHED" and got.end_time is not None and got.name == "rf-baseline"
    assert got.experiment == "churn"
    assert got.params == {"n_estimators": "200", "depth": "None", "lr": "0.1", "layers": "[64, 32]"}
    assert got.metrics["loss"].last == 0.3 and got.metrics["loss"].min == 0.3
    assert got.metrics["acc"].max == 0.8 and got.metrics["acc"].max_step == 2
    assert got.metrics["auc"].last_step == 3
    assert got.user_tags == {"team": "growth"}
    # context captured automatically
    assert got.user and got.host and got.pid
    assert "mlops.python" in got.tags and "mlops.packages" in got.tags
    names = {a.name for a in mj.get_store().list_artifacts(run.id)}
    assert "environment/requirements.txt" in names
    freeze = mj.get_store().read_artifact(run.id, "environment/requirements.txt").decode()
    assert "pandas==" in freeze.lower() or "numpy==" in freeze.lower()


def test_metric_history_steps_auto_increment_and_nan_inf(backend: str) -> None:
    with mj.start_run() as run:
        for v in [1.0, float("nan"), float("inf"), -2.5]:
            mj.log_metric("x", v)
        mj.log_metric("y", 1, step=10)
        mj.log_metric("y", 2)  # continues after the explicit step
    hist = mj.metric_history(run.id, ["x"])
    assert [p.step for p in hist] == [0, 1, 2, 3]
    vals = [p.value for p in hist]
    assert vals[0] == 1.0 and math.isnan(vals[1]) and vals[2] == math.inf and vals[3] == -2.5
    got = mj.get_run(run.id)
    assert got.metrics["x"].last == -2.5 and got.metrics["x"].min == -2.5 and got.metrics["x"].max == math.inf
    assert got.metrics["x"].count == 4
    assert [p.step for p in mj.metric_history(run.id, ["y"])] == [10, 11]


def test_nan_only_metric_is_kept(backend: str) -> None:
    with mj.start_run() as run:
        mj.log_metric("bad", float("nan"))
    m = mj.get_run(run.id).metrics["bad"]
    assert math.isnan(m.last) and math.isnan(m.min) and m.count == 1


def test_failed_run_records_error_and_reraises(backend: str) -> None:
    with pytest.raises(ZeroDivisionError):
        with mj.start_run(name="boom") as run:
            mj.log_metric("m", 1.0)
            1 / 0  # noqa: B018
    got = mj.get_run(run.id)
    assert got.status == "FAILED"
    assert got.error["type"] == "ZeroDivisionError" and "division" in got.error["message"]
    assert "Traceback" in got.error["traceback"]
    assert got.metrics["m"].last == 1.0  # flushed before ending


def test_keyboard_interrupt_marks_killed(mlops_home) -> None:
    with pytest.raises(KeyboardInterrupt):
        with mj.start_run() as run:
            raise KeyboardInterrupt
    assert mj.get_run(run.id).status == "KILLED"


def test_nested_runs(backend: str) -> None:
    with mj.start_run("sweep") as parent:
        with pytest.raises(UsageError, match="nested=True"):
            mj.start_run("oops")
        for lr in (0.1, 0.01):
            with mj.start_run(f"lr={lr}", params={"lr": lr}, nested=True) as child:
                mj.log_metric("loss", lr)
                assert mj.active_run() is child
        assert mj.active_run() is parent
    kids = mj.runs(parent=parent.id)
    assert sorted(kids["params.lr"]) == ["0.01", "0.1"]
    assert all(mj.get_run(r).parent_id == parent.id for r in kids["run_id"])


def test_logging_without_a_run_starts_one(mlops_home) -> None:
    mj.log_metric("a", 1)
    run = mj.active_run()
    assert run is not None
    mj.end_run()
    assert mj.get_run(run.id).status == "FINISHED"


def test_runs_dataframe_filter_sort(backend: str) -> None:
    mj.set_experiment("exp-a")
    for i in range(5):
        with mj.start_run(f"r{i}", params={"model": "rf" if i % 2 else "lr"}):
            for step in range(3):
                mj.log_metric("auc", 0.5 + i / 10 + step / 100, step=step)
    mj.set_experiment("exp-b")
    with mj.start_run("other"):
        mj.log_metric("auc", 0.99)
    df = mj.runs(experiment="exp-a")
    assert len(df) == 5 and set(df["experiment"]) == {"exp-a"}
    for col in ("run_id", "status", "start_time", "params.model", "metrics.auc", "metrics.auc.min", "metrics.auc.max"):
        assert col in df.columns
    assert df["metrics.auc"].dtype == "float64"
    best = mj.runs(experiment="exp-a", filter="metrics.auc > 0.8 and params.model == 'rf'", sort="auc")
    assert list(best["name"]) == ["r3"]
    ordered = mj.runs(sort="auc")
    assert ordered.iloc[0]["name"] == "other"  # metrics sort descending by default
    assert len(mj.runs()) == 6
    with pytest.raises(UsageError, match="unknown column"):
        mj.runs(filter="metrics.nope > 1")
    with pytest.raises(UsageError, match="cannot sort"):
        mj.runs(sort="nope")
    with pytest.raises(NotFoundError, match="exp-a"):
        mj.runs(experiment="missing")


def test_run_reference_prefixes(mlops_home) -> None:
    with mj.start_run("a") as a:
        pass
    assert mj.get_run(a.id[:6]).id == a.id
    assert mj.get_run(a.id.upper()).id == a.id
    with pytest.raises(UsageError, match="at least 6"):
        mj.get_run(a.id[:5])
    with pytest.raises(NotFoundError, match="most recent runs"):
        mj.get_run("ffffff" if not a.id.startswith("ffffff") else "eeeeee")
    # make an ambiguous prefix by creating runs until two share 6 characters is too slow;
    # instead insert a second id with the same prefix through the store
    st = mj.get_store()
    exp = st.get_or_create_experiment("default")
    from mlops_jupyter.store import schema

    twin = a.id[:6] + "0" * 26 if not a.id.endswith("0" * 26) else a.id[:6] + "1" * 26
    st.db.write(lambda c: c.execute(schema.runs.insert().values(
        id=twin, experiment_id=exp.id, status="FINISHED", start_time=1.0, end_time=2.0)))
    with pytest.raises(AmbiguousReferenceError, match="ambiguous"):
        mj.get_run(a.id[:6])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mj.log_metric("auc", "0.9"), "must be a number"),
        (lambda: mj.log_metric("auc", None), "must be a number"),
        (lambda: mj.log_metric("auc", object()), "must be a number"),
        (lambda: mj.log_metric("bad key!", 1.0), "invalid metric name"),
        (lambda: mj.log_metric("../x", 1.0), "invalid metric name"),
        (lambda: mj.log_metric("auc", 1.0, step=1.5), "step must be an integer"),
        (lambda: mj.log_param("big", "x" * 9000), "at most 8,000"),
        (lambda: mj.set_tag("mlops.python", "2"), "reserved"),
        (lambda: mj.log_params(["a"]), "mapping"),
    ],
)
def test_bad_input_is_one_clear_error(mlops_home, call, match) -> None:
    with mj.start_run() as run:
        with pytest.raises(MlopsError, match=match):
            call()
    got = mj.get_run(run.id)
    assert got.metrics == {} and "big" not in got.params  # nothing half-written


def test_params_cannot_change_within_a_run(backend: str) -> None:
    with mj.start_run() as run:
        mj.log_param("lr", 0.1)
        mj.log_param("lr", 0.1)  # same value: fine
        with pytest.raises(ConflictError, match="cannot change"):
            mj.log_params({"lr": 0.2, "new": 1})
    assert mj.get_run(run.id).params == {"lr": "0.1"}  # 'new' not written either


def test_experiment_names(mlops_home) -> None:
    assert mj.set_experiment("  churn model v2 ") == "churn model v2"
    with pytest.raises(InvalidNameError):
        mj.set_experiment("bad\x00name")
    with pytest.raises(InvalidNameError):
        mj.set_experiment("")


def test_log_artifact_file_folder_bytes_figure(mlops_home, tmp_path) -> None:
    f = tmp_path / "report.txt"
    f.write_text("hello")
    d = tmp_path / "plots"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a")
    (d / "sub" / "b.txt").write_text("b")
    with mj.start_run() as run:
        a1 = mj.log_artifact(f)
        a2 = mj.log_artifact(d)
        a3 = mj.log_artifact(b"\x00\x01", name="raw/blob.bin")
        mj.log_text("some text", "notes/readme.md")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        a4 = mj.log_artifact(fig, name="loss.png")
        with pytest.raises(UsageError, match="no file or folder"):
            mj.log_artifact(tmp_path / "missing.txt")
        with pytest.raises(UsageError, match="needs name"):
            mj.log_artifact(b"x")
        with pytest.raises(UsageError, match="cannot log"):
            mj.log_artifact(12)
    st = mj.get_store()
    assert (a1.kind, a2.kind, a3.kind, a4.kind) == ("file", "dir", "bytes", "figure")
    assert st.read_artifact(run.id, "report.txt") == b"hello"
    assert st.read_artifact(run.id, "loss.png")[:4] == b"\x89PNG"
    out = st.download_artifact(run.id, "plots", tmp_path / "restored")
    assert (out / "sub" / "b.txt").read_text() == "b" and (out / "a.txt").read_text() == "a"
    with pytest.raises(NotFoundError, match="report.txt"):
        st.read_artifact(run.id, "nope.txt")


@pytest.mark.parametrize(
    "name",
    ["../x", "/etc/passwd", "a/../../b", "a\\b", "%2e%2e/x", "a\x00b", "a\nb", "~/.ssh/id", "", "a//b", "./a", "C:evil"],
)
def test_unsafe_artifact_names_refused(mlops_home, name) -> None:
    with mj.start_run() as run:
        with pytest.raises(UsageError):  # InvalidNameError is a UsageError
            mj.log_artifact(b"x", name=name)
        with pytest.raises(InvalidNameError):
            mj.get_store().put_artifact_bytes(run.id, name, b"x")
    assert [a.name for a in mj.get_store().list_artifacts(run.id) if a.kind == "bytes"] == []


def test_secrets_redacted_in_git_diff(mlops_home, tmp_path) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "train.py").write_text("x = 1\n")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    import os

    subprocess.run(["git", "add", "train.py"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=tmp_path, check=True, env={**os.environ, **env})
    (tmp_path / "train.py").write_text('x = 1\napi_key = "sk-live-abcdefghijklmnopqrstuvwxyz"\n')
    from mlops_jupyter.tracking import context

    context._git_cache.clear()
    with mj.start_run() as run:
        pass
    got = mj.get_run(run.id)
    assert got.git_commit and len(got.git_commit) == 40 and got.git_dirty is True
    diff = mj.get_store().read_artifact(run.id, "code/git.diff").decode()
    assert "api_key" in diff and "sk-live" not in diff and "REDACTED" in diff


def test_notebook_path_and_job_id_recorded(mlops_home, monkeypatch, tmp_path) -> None:
    notebook = str(tmp_path / "nb" / "train.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", notebook)
    monkeypatch.setenv("MLOPS_JOB_ID", "abc123")
    with mj.start_run() as run:
        pass
    got = mj.get_run(run.id)
    assert got.source == notebook and got.job_id == "abc123"
    assert got.tags["mlops.notebook"] == notebook


def test_run_display_escapes_user_text(mlops_home) -> None:
    evil = "<img src=x onerror=alert(1)>"
    with mj.start_run(evil, params={"p": evil}, tags={"t": evil}) as run:
        mj.log_metric("m", 1.0)
    html = mj.get_run(run.id)._repr_html_()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_cli_escapes_terminal_control_codes(mlops_home, capsys) -> None:
    from mlops_jupyter.cli import main

    with pytest.raises(UsageError, match="printable"):
        mj.start_run("evil\x1b]0;pwned\x07\x1b[2J")
    with mj.start_run("ok", params={"p": "\x1b[31mRED"}, tags={"t": "\x1b[2Jx"}) as run:
        mj.log_metric("m", 1.0)
    assert main(["runs"]) == 0
    assert main(["show", run.id]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31mRED" in out


def test_limit_is_validated_once_for_every_face(mlops_home, capsys) -> None:
    from mlops_jupyter.cli import main

    for i in range(4):
        with mj.start_run(f"r{i}"):
            mj.log_metric("m", i)
    assert list(mj.runs(limit=2)["name"]) == ["r3", "r2"]  # newest first
    assert list(mj.runs(limit=2, sort="m", ascending=True)["name"]) == ["r0", "r1"]  # sort, then limit
    for bad in (0, -1, "5", True):
        with pytest.raises(UsageError, match="positive whole number"):
            mj.runs(limit=bad)
    assert main(["runs", "--limit", "-1"]) == 2
    assert "positive whole number" in capsys.readouterr().err


def test_summaries_merge_across_flushes_and_processes(backend: str) -> None:
    """The summary upsert merges in SQL: out-of-order steps, NaN-only batches and
    another writer's batches all combine into the right last/min/max/count."""
    with mj.start_run() as run:
        mj.log_metric("x", float("nan"), step=20)
        run.flush()
        for s in range(5, 10):
            mj.log_metric("x", float(s), step=s)
        run.flush()
        for s in range(0, 5):  # older steps arriving later
            mj.log_metric("x", float(-s), step=s)
        run.flush()
        # a second writer (another process, say) adds to the same run directly
        import time

        mj.get_store().log_metric_batches({run.id: [("x", 100.0, 7, time.time())]})
    m = mj.get_run(run.id).metrics["x"]
    assert math.isnan(m.last) and m.last_step == 20  # the highest step wins, even if NaN
    assert (m.min, m.min_step) == (-4.0, 4)
    assert (m.max, m.max_step) == (100.0, 7)
    assert m.count == 12


def test_reading_accepts_run_objects_and_sees_unflushed_points(mlops_home) -> None:
    with mj.start_run() as run:
        mj.log_metric("loss", 0.5)
        assert [p.value for p in mj.metric_history(run, ["loss"])] == [0.5]  # flushed first
        assert mj.get_run(run).metrics["loss"].last == 0.5
    assert mj.get_run(mj.get_run(run.id)).id == run.id


def test_run_card_stays_small_with_many_metrics(mlops_home) -> None:
    with mj.start_run() as run:
        mj.log_metrics({f"m{i}": float(i) for i in range(5000)})
        mj.log_params({f"p{i}": i for i in range(300)})
    html = mj.get_run(run.id)._repr_html_()
    assert len(html) < 60_000 and "4,950 more" in html and "250 more" in html
