"""The same registry actions from ``%mlops model``/``%mlops serve`` and ``mlops model``/
``mlops serve``: results, one-line errors, exit codes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from IPython.testing import globalipapp
from sklearn.linear_model import LogisticRegression

import mlops_jupyter as mj
from mlops_jupyter.cli import main


@pytest.fixture
def ip(mlops_home: Path) -> Any:
    globalipapp.start_ipython()  # one shell per test process, shared with other face tests
    shell = globalipapp.get_ipython()
    shell.run_cell("%load_ext mlops_jupyter", store_history=False)
    X = pd.DataFrame({"a": [0.0, 1.0, 0.2, 0.9], "b": [1.0, 0.0, 0.7, 0.1]})
    shell.user_ns.update(X=X, clf=LogisticRegression().fit(X, [0, 1, 0, 1]))
    yield shell
    from mlops_jupyter.magics import model as model_magics

    for port in list(model_magics._servers):
        model_magics._servers.pop(port).stop()
    shell.run_cell("%unload_ext mlops_jupyter", store_history=False)


def run(ip: Any, src: str) -> tuple[Any, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        res = ip.run_cell(src)
    return res, out.getvalue(), err.getvalue()


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_magic_register_promote_history_load(ip: Any) -> None:
    res, _, _ = run(ip, "%mlops model register clf --name churn --signature X --tag team=growth")
    assert res.success and res.result.ref == "churn@v1" and res.result.tags == {"team": "growth"}
    run(ip, "%mlops model register clf --name churn --signature X")
    res, _, _ = run(ip, "%mlops model promote churn@v2 production --reason 'better auc' --expect none")
    assert res.success and res.result.aliases == ("production",)
    res, out, err = run(ip, "%mlops model promote churn@v1 production --expect v1")
    assert not res.success and "someone else moved it" in out + err and "Traceback" not in out + err
    res, _, _ = run(ip, "%mlops model history churn --alias production")
    assert list(res.result["to_version"]) == [2]
    res, out, _ = run(ip, f"%mlops model history churn --alias production --at {time.time() + 1}")
    assert "churn@v2" in out
    res, out, _ = run(ip, "%mlops model load churn@production --as m")
    assert "hash verified" in out and ip.user_ns["m"].predict(ip.user_ns["X"]).shape == (4,)
    res, _, _ = run(ip, "%mlops model show churn@production")
    assert "<svg" in res.result._repr_html_()
    res, _, _ = run(ip, "%mlops model list churn")
    assert list(res.result["ref"]) == ["churn@v1", "churn@v2"]
    res, _, _ = run(ip, "%mlops model rules churn production --require auc>=0.8")
    assert res.result == {"require": ["auc>=0.8"]}
    res, _, _ = run(ip, "%mlops model trust churn@v1 --reason reviewed")
    assert res.result.action == "trust"


@pytest.mark.parametrize(("line", "needle"), [
    ("model", "unknown action"),
    ("model frobnicate", "unknown action 'frobnicate'"),
    ("model register clf", "--name"),
    ("model register nosuchvar --name x", "no notebook variable named 'nosuchvar'"),
    ("model register clf --name ../x", "invalid model name"),
    ("model show nope@v1", "no model named 'nope'"),
    ("model load churn@v1 --as 1x", "--as needs a variable name"),
    ("model trust churn@v1", "--reason"),
    ("model history churn --at 2026-01-01", "--at needs --alias"),
    ("serve", "REF"),
    ("serve stop", "no model server running"),
    ("serve nope@production --port 0", "no model named 'nope'"),
    ("serve churn@v1 --host 0.0.0.0 --port 0", "without a token"),
])
def test_magic_bad_input_is_one_line(ip: Any, line: str, needle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_SERVE_TOKEN", raising=False)
    run(ip, "%mlops model register clf --name churn --signature X")
    res, out, err = run(ip, f"%mlops {line}")
    text = out + err
    assert not res.success and needle in text, text
    assert "Traceback" not in text and len([ln for ln in text.splitlines() if ln.strip()]) <= 2


def test_magic_serve_status_stop(ip: Any) -> None:
    run(ip, "%mlops model register clf --name churn --signature X")
    run(ip, "%mlops model promote churn@v1 production")
    res, out, _ = run(ip, "%mlops serve churn@production --port 0")
    assert res.success and "serving churn@production at http://127.0.0.1:" in out, out
    url = out.split(" at ", 1)[1].split()[0]
    r = httpx.post(url + "/v1/models/churn/production/predict", json={"records": [{"a": 0.1, "b": 0.9}]})
    assert r.status_code == 200 and r.json()["version"] == 1
    res, _, _ = run(ip, "%mlops serve status")
    assert res.result[0]["running"] and res.result[0]["serving"] == {"churn@production": "churn@v1"}
    res, out, _ = run(ip, "%mlops serve stop")
    assert "stopped" in out
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/health", timeout=2)


def _register_two(mlops_home: Path) -> None:
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.8], [0.9, 0.1]])
    clf = LogisticRegression().fit(X, [0, 1, 0, 1])
    mj.models.register(clf, "churn", signature=X, run=False, metrics={"auc": 0.7})
    mj.models.register(clf, "churn", signature=X, run=False, metrics={"auc": 0.9})


def test_cli_model_commands_and_exit_codes(mlops_home: Path, tmp_path: Path) -> None:
    _register_two(mlops_home)
    code, out, _ = cli("model", "list")
    assert code == 0 and "churn" in out and "v2" in out
    assert cli("model", "promote", "churn@v1", "production", "--reason", "first")[0] == 0
    code, _, err = cli("model", "promote", "churn@v2", "production", "--expect", "none")
    assert code == 1 and "someone else moved it" in err
    assert cli("model", "rules", "churn", "production", "--require", "auc>=0.95")[0] == 0
    code, _, err = cli("model", "promote", "churn@v2", "production")
    assert code == 1 and "refused by its rules" in err
    assert cli("model", "promote", "churn@v2", "production", "--force", "--reason", "drill")[0] == 0
    code, out, _ = cli("model", "history", "churn", "--alias", "production")
    assert code == 0 and "drill" in out
    code, out, _ = cli("model", "show", "churn@production")
    assert code == 0 and "churn@v2" in out and "auc" in out
    code, out, _ = cli("model", "show", "churn@production", "--json")
    assert code == 0 and '"ref": "churn@v2"' in out
    code, _, err = cli("model", "show", "nope@v1")
    assert code == 2 and "no model named 'nope'" in err
    code, out, _ = cli("model", "export", "churn@v2", str(tmp_path))
    exported = tmp_path / "churn-v2.skops"
    assert code == 0 and exported.is_file()
    code, out, _ = cli("model", "register", str(exported), "--name", "copy")
    assert code == 0 and "copy@v1" in out
    assert cli("model", "trust", "copy@v1", "--reason", "ok")[0] == 0
    assert mj.models.get("copy@v1").trusted


def test_cli_export_is_atomic_refuses_overwrite_and_bad_paths(mlops_home: Path, tmp_path: Path) -> None:
    _register_two(mlops_home)
    missing = tmp_path / "nonexistent" / "x.skops"
    code, out, err = cli("model", "export", "churn@v1", str(missing))
    assert code == 2 and "Traceback" not in err and str(missing.parent) in err
    assert "does not exist" in err and not missing.parent.exists()
    dest = tmp_path / "m.skops"
    dest.write_bytes(b"precious")
    code, _, err = cli("model", "export", "churn@v1", str(dest))
    assert code == 2 and "already exists" in err and "--force" in err
    assert dest.read_bytes() == b"precious"
    assert cli("model", "export", "churn@v1", str(dest), "--force")[0] == 0
    assert dest.read_bytes() == mj.get_store().blobs.get_bytes(mj.models.get("churn@v1").blob)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # no temp left
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if not os.access(ro, os.W_OK):  # root writes anywhere
            code, _, err = cli("model", "export", "churn@v1", str(ro / "x.skops"))
            assert code == 2 and "cannot write" in err and "Traceback" not in err
    finally:
        os.chmod(ro, 0o700)


def test_cli_serve_refuses_public_bind_without_token(mlops_home: Path) -> None:
    _register_two(mlops_home)
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_SERVE_TOKEN"}
    p = subprocess.run([sys.executable, "-m", "mlops_jupyter", "serve", "churn@v1", "--host", "0.0.0.0"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "without a token" in p.stderr and "Traceback" not in p.stderr
