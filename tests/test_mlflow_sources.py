"""Every wrong MLflow source gets one clear error, and nothing is written anywhere.

These checks run before MLflow is imported, so they need no MLflow: a mistyped path
must never become a new MLflow store, and an unreachable server must fail in seconds,
not after MLflow's minutes of retries."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_jupyter.cli import main
from mlops_jupyter.errors import NotFoundError, StoreConnectionError, UsageError
from mlops_jupyter.interop.mlflow_source import resolve


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_unknown_scheme_names_what_is_accepted() -> None:
    with pytest.raises(UsageError, match=r"unknown MLflow source .*sqlite:///.*mlruns/.*postgresql.*http"):
        resolve("s3://bucket/mlruns")
    with pytest.raises(UsageError, match="unknown MLflow source"):
        resolve("databricks")
    with pytest.raises(UsageError, match="required"):
        resolve("  ")


def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no MLflow database"):
        resolve(f"sqlite:///{tmp_path / 'nope.db'}")
    assert not (tmp_path / "nope.db").exists()


def test_sqlite_file_of_something_else_is_refused_untouched(mlops_home: Path) -> None:
    import mlops_jupyter as mj

    mj.init()
    with mj.start_run():
        mj.log_metric("x", 1.0)
    ours = mlops_home / "mlops.db"
    before = _digest(ours)
    with pytest.raises(UsageError, match="is not an MLflow store: it has .*runs"):
        resolve(f"sqlite:///{ours}")
    with pytest.raises(UsageError, match="not an MLflow store"):
        resolve(f"sqlite:///{ours}", for_export=True)  # MLflow would add its tables to it
    assert _digest(ours) == before


def test_not_a_database_file(tmp_path: Path) -> None:
    f = tmp_path / "mlflow.db"
    f.write_text("hello, not sqlite " * 100)
    with pytest.raises(UsageError, match="not an SQLite database"):
        resolve(f"sqlite:///{f}")
    with pytest.raises(UsageError, match=r"is a file, not an MLflow store .*sqlite:///"):
        resolve(str(f))


def test_folders(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        resolve(str(tmp_path / "mlruns"))
    assert not (tmp_path / "mlruns").exists()
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "a.txt").write_text("x")
    with pytest.raises(UsageError, match="not an MLflow store: an mlruns/ folder holds"):
        resolve(str(tmp_path / "stuff"))
    with pytest.raises(UsageError, match="not an MLflow store"):
        resolve(str(tmp_path / "stuff"), for_export=True)
    assert sorted(p.name for p in (tmp_path / "stuff").iterdir()) == ["a.txt"]
    # an export may create a new store
    assert resolve(str(tmp_path / "new"), for_export=True).exists is False
    (tmp_path / "mlruns" / "0").mkdir(parents=True)
    (tmp_path / "mlruns" / "0" / "meta.yaml").write_text("experiment_id: '0'\nname: Default\n")
    src = resolve(str(tmp_path / "mlruns"))
    assert src.kind == "file" and src.exists


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_fails_fast() -> None:
    port = _free_port()  # nothing listens there
    t = time.perf_counter()
    with pytest.raises(StoreConnectionError, match=f"cannot reach an MLflow tracking server at http://127.0.0.1:{port}"):
        resolve(f"http://127.0.0.1:{port}")
    assert time.perf_counter() - t < 10


class _NotMlflow(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(404)
        self.end_headers()
        self.wfile.write(b"<html>nothing here</html>")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotMlflow)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_server_that_is_not_mlflow(other_server: str) -> None:
    with pytest.raises(UsageError, match=r"is not an MLflow tracking server: it answered HTTP 404"):
        resolve(other_server)


def test_cli_one_clear_line_exit_2(tmp_path: Path, mlops_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", "mlflow", f"sqlite:///{tmp_path / 'missing.db'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no MLflow database" in err and "Traceback" not in err
    code = main(["export", "mlflow", "--to", "ftp://example.org/x"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown MLflow source" in err


def test_password_never_shown(tmp_path: Path) -> None:
    port = _free_port()
    with pytest.raises(StoreConnectionError) as e:
        resolve(f"http://ana:s3cret@127.0.0.1:{port}")
    assert "s3cret" not in str(e.value)
