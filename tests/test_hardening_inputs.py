"""Hardening: hidden characters in names, terminal escapes in `mlops show`, secrets in
captured code, params, diffs and job outputs, bad job input, `doctor --clean`."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbmaker import template

import mlops_jupyter as mj
from mlops_jupyter.cli import main
from mlops_jupyter.errors import InvalidNameError, UsageError
from mlops_jupyter.redact import MASK, redact

HIDDEN = ["\x85", "\x9b", "\u202e", "\u200b", "\u2028", "\ufeff"]


@pytest.mark.parametrize("ch", HIDDEN)
def test_hidden_characters_refused_in_artifact_names(mlops_home: Path, ch: str) -> None:
    with mj.start_run():
        with pytest.raises(InvalidNameError, match="invisible or direction-changing"):
            mj.log_artifact(b"x", name=f"report{ch}.txt")


@pytest.mark.parametrize("ch", ["\u202e", "\u200b", "\x85"])
def test_hidden_characters_refused_in_dataset_file_names(mlops_home: Path, tmp_path: Path, ch: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / f"a{ch}txt.exe").write_text("x")
    with pytest.raises(UsageError, match="invisible or direction-changing"):
        mj.datasets.add(folder, name="d")
    single = tmp_path / f"b{ch}.csv"
    single.write_text("a\n1\n")
    with pytest.raises(UsageError, match="invisible or direction-changing"):
        mj.datasets.add(single, name="e")
    assert mj.datasets.list_datasets().empty


def test_show_escapes_error_text(mlops_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = "boom\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil"
    with pytest.raises(RuntimeError):
        with mj.start_run() as run:
            raise RuntimeError(evil)
    capsys.readouterr()
    assert main(["show", run.id]) == 0
    out = capsys.readouterr().out
    assert "error: RuntimeError" in out
    for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert bad not in out
    assert "\\x1b" in out


@pytest.mark.parametrize("code", [
    'db_pass = "hunter22x"',
    'pwd = "hunter22x"',
    'token: str = "hunter22x"',
    "# token: hunter22x",
    "x = 1  # password = hunter22x",
])
def test_more_secret_spellings_in_code_are_masked(code: str) -> None:
    out = redact(code)
    assert "hunter22x" not in out and MASK in out


def test_env_and_yaml_secrets_in_a_diff_are_masked() -> None:
    diff = (
        "diff --git a/.env b/.env\n--- a/.env\n+++ b/.env\n@@ -1 +1,2 @@\n"
        " DEBUG=1\n+DB_PASSWORD=hunter22x\n-API_TOKEN=oldsecret9\n"
        "--- a/config.yaml\n+++ b/config.yaml\n+  password: hunter22y\n+  db_pass: hunter22z\n"
    )
    out = redact(diff)
    for s in ("hunter22x", "oldsecret9", "hunter22y", "hunter22z"):
        assert s not in out
    assert "+++ b/.env" in out and " DEBUG=1" in out


def test_secret_env_file_in_git_diff_is_masked(mlops_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".env").write_text("DEBUG=1\n")
    (tmp_path / "cfg.yaml").write_text("a: 1\n")
    subprocess.run(["git", "add", ".env", "cfg.yaml"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-qm", "i"], cwd=tmp_path, check=True, env=env)
    (tmp_path / ".env").write_text("DEBUG=1\nDB_PASSWORD=hunter22x\n")
    (tmp_path / "cfg.yaml").write_text("a: 1\ndb:\n  password: hunter22y\n")
    from mlops_jupyter.tracking import context, session

    context._git_cache.clear()
    with mj.start_run() as run:
        pass
    diff = session.get_store().read_artifact(run.id, "code/git.diff").decode()
    assert "DB_PASSWORD" in diff and "hunter22x" not in diff and "hunter22y" not in diff


def test_secret_run_params_are_masked(mlops_home: Path) -> None:
    with mj.start_run(params={"db_password": "hunter22x", "lr": 0.1, "n_tokens": 5}) as run:
        mj.log_params({"api_key": "abcd-efgh", "max_tokens": "1000"})
    p = mj.get_run(run.id).params
    assert p["db_password"] == MASK and p["api_key"] == MASK
    assert p["lr"] == "0.1" and p["max_tokens"] == "1000" and p["n_tokens"] == "5"


def _template(path: Path, body: str, params: str) -> Path:
    return template(path, params, body)


def test_failed_job_stores_no_password(mlops_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_jupyter.tracking.session import get_store

    body = ("import mlops_jupyter as mj\n"
            "with mj.start_run(params={'db_password': db_password}):\n"
            "    print('connecting with', db_password)\n"
            "    raise ConnectionError(f'login refused for {db_password}')")
    nb = _template(tmp_path / "t.ipynb", body, 'db_password = "changeme"')
    assert main(["run", str(nb), "--no-progress", "-p", "db_password=Sup3rS3cret!"]) == 1
    st = get_store()
    job = st.list_jobs()[0]
    assert job.status == "FAILED"
    assert job.parameters["db_password"] == MASK
    stored = st.read_blob(job.output_blob).decode()
    assert "Sup3rS3cret!" not in stored
    assert "Sup3rS3cret!" not in json.dumps(job.error)
    assert "Sup3rS3cret!" not in Path(job.output_path).read_text()
    run = st.search_runs(job_id=job.id)[0]
    assert run.params["db_password"] == MASK


@pytest.mark.parametrize("value", ["bad\udcff", "x\ud800y"])
def test_job_parameter_not_unicode_is_refused_before_a_job_row(
    mlops_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    from mlops_jupyter.tracking.session import get_store

    nb = _template(tmp_path / "t.ipynb", "print(name)", 'name = "x"')
    assert main(["run", str(nb), "--no-progress", "-p", f"name={value}"]) == 2
    err = capsys.readouterr().err
    assert "not valid Unicode" in err and "Traceback" not in err
    assert get_store().list_jobs() == []


def test_too_long_template_or_output_is_a_clear_error(
    mlops_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_jupyter.tracking.session import get_store

    nb = _template(tmp_path / "t.ipynb", "print(1)", "a = 1")
    assert main(["run", "x" * 300 + ".ipynb", "--no-progress"]) == 2
    assert "too long" in capsys.readouterr().err
    assert main(["run", str(nb), "--no-progress", "--output", "o" * 300 + ".ipynb"]) == 2
    err = capsys.readouterr().err
    assert "too long" in err and "Traceback" not in err
    assert get_store().list_jobs() == []


def test_doctor_clean_removes_only_stale_unheld_temp_files(
    mlops_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    mj.init()
    folder = mlops_home / "artifacts" / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    stale, fresh, held = folder / ".tmp-stale", folder / ".tmp-fresh", folder / ".tmp-held"
    for f in (stale, fresh, held):
        f.write_bytes(b"x" * 1000)
    old = time.time() - 7200
    os.utime(stale, (old, old))
    os.utime(held, (old, old))
    fd = os.open(held, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live writer (as _write_stream holds it)
    try:
        code = subprocess.run(  # another process, as a real `mlops doctor --clean` would be
            [sys.executable, "-m", "mlops_jupyter", "doctor", "--clean", "--json"], capture_output=True, text=True,
            env={**os.environ, "MLOPS_HOME": str(mlops_home)},
        )
    finally:
        os.close(fd)
    assert code.returncode == 0, code.stderr
    report = json.loads(code.stdout)
    assert report["removed temporary files"] == [str(stale)]
    assert not stale.exists() and fresh.exists() and held.exists()


def test_disk_full_in_mlops_run_prints_no_traceback(
    mlops_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_jupyter.store import artifacts

    nb = _template(tmp_path / "t.ipynb", "print(1)", "a = 1")
    mj.init()

    def full(*a, **k):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(artifacts.os, "fsync", full)
    assert main(["run", str(nb), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "disk is full" in err and "Traceback" not in err
