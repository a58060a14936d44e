"""The dataset verbs from the CLI and the %mlops magic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_jupyter.cli import main


def csv(tmp_path: Path, n: int = 30, name: str = "d.csv", shift: float = 0.0) -> Path:
    df = pd.DataFrame({"id": np.arange(n), "x": np.linspace(0, 1, n) + shift, "g": ["a", "b", "c"] * (n // 3)})
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_cli_add_list_show_diff_load_validate(mlops_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = csv(tmp_path)
    assert main(["dataset", "add", str(f), "--name", "raw"]) == 0
    assert "raw@v1 created" in capsys.readouterr().out
    assert main(["dataset", "add", str(f), "--name", "raw"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert main(["dataset", "add", str(csv(tmp_path, 33, name="d33.csv")), "--name", "raw", "--table", "--key", "id"]) == 0
    capsys.readouterr()
    assert main(["dataset", "list"]) == 0
    assert "raw@v2" in capsys.readouterr().out
    assert main(["dataset", "list", "raw", "--json"]) == 0
    assert [r["ref"] for r in json.loads(capsys.readouterr().out)] == ["raw@v1", "raw@v2"]
    page = tmp_path / "p.html"
    assert main(["dataset", "show", "raw@v1", "--html", str(page)]) == 0
    assert "content hash" in capsys.readouterr().out and "<svg" in page.read_text()
    assert main(["dataset", "diff", "raw@v1", "raw@v2"]) == 0
    assert "raw@v1 -> raw@v2" in capsys.readouterr().out
    out = tmp_path / "out.parquet"
    assert main(["dataset", "load", "raw@v2", "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 33
    copy = tmp_path / "copy.csv"
    assert main(["dataset", "load", "raw@v1", "--out", str(copy)]) == 0
    assert copy.read_bytes() == f.read_bytes()
    capsys.readouterr()
    assert main(["dataset", "validate", str(f), "raw@v1"]) == 0
    assert capsys.readouterr().out.startswith("OK")
    assert main(["dataset", "validate", str(csv(tmp_path, name="bad.csv", shift=5)), "raw@v1"]) == 1
    assert "out_of_range" in capsys.readouterr().out
    assert main(["dataset", "lineage", "raw@v1"]) == 0


def test_cli_errors_are_one_line_exit_2(mlops_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "add", str(tmp_path / "nope.csv"), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["dataset", "show", "ghost@v1"]) == 2
    assert "no dataset named 'ghost'" in capsys.readouterr().err
    assert main(["dataset"]) == 2
    with pytest.raises(SystemExit) as e:
        main(["dataset", "add", "x"])  # --name missing: argparse exits 2
    assert e.value.code == 2


@pytest.fixture
def ip(mlops_home: Path):  # type: ignore[no-untyped-def]
    from IPython.testing import globalipapp

    globalipapp.start_ipython()  # once per process; returns None after the first call
    shell = globalipapp.get_ipython()
    shell.run_line_magic("load_ext", "mlops_jupyter")
    yield shell
    for k in ("df", "new", "back"):
        shell.user_ns.pop(k, None)


def test_magic_verbs(ip, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from IPython.core.error import UsageError

    ip.user_ns["df"] = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]})
    v = ip.run_line_magic("mlops", "dataset add df --name mag --key a")
    assert v.ref == "mag@v1"
    f = csv(tmp_path)
    assert ip.run_line_magic("mlops", f"dataset add {f} --name magfile").kind == "file"
    assert ip.run_line_magic("mlops", "dataset list")["name"].tolist() == ["mag", "magfile"]
    assert "mag@v1" in ip.run_line_magic("mlops", "dataset show mag")._repr_html_()
    ip.run_line_magic("mlops", "dataset load mag@v1 --as back")
    assert ip.user_ns["back"]["a"].tolist() == [1, 2, 3]
    ip.user_ns["new"] = pd.DataFrame({"a": [1, 9], "b": ["x", "q"]})
    report = ip.run_line_magic("mlops", "dataset validate new mag@v1")
    assert sorted(report.violations["kind"]) == ["out_of_range", "unseen_category"]
    with pytest.raises(UsageError, match="violation"):
        ip.run_line_magic("mlops", "dataset validate new mag@v1 --strict")
    ip.user_ns["df"] = pd.DataFrame({"a": [1, 2, 4], "b": ["x", "y", "x"]})
    ip.run_line_magic("mlops", "dataset add df --name mag --key a")
    d = ip.run_line_magic("mlops", "dataset diff mag@v1 mag@v2")
    assert (d.rows_added, d.rows_removed) == (1, 1)
    for line, text in [
        ("dataset", "unknown action"),
        ("dataset frobnicate", "unknown action 'frobnicate'"),
        ("dataset add df", "--name"),
        ("dataset add nosuchvar --name x", "neither a notebook variable nor a path"),
        ("dataset show ghost", "no dataset named 'ghost'"),
        ("dataset load mag --as 1x", "variable name"),
        ("dataset validate missing mag", "no notebook variable"),
    ]:
        with pytest.raises(UsageError, match=text):
            ip.run_line_magic("mlops", line)


def test_cli_load_to_a_missing_folder_is_one_clear_error(
    mlops_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = csv(tmp_path)
    assert main(["dataset", "add", str(f), "--name", "raw"]) == 0
    assert main(["dataset", "add", str(f), "--name", "tab", "--table"]) == 0
    capsys.readouterr()
    for ref, name in (("tab@v1", "out.parquet"), ("tab@v1", "out.csv"), ("raw@v1", "out.csv")):
        out = tmp_path / "nonexistent" / "dir" / name
        assert main(["dataset", "load", ref, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "does not exist" in err and str(out.parent) in err and "Traceback" not in err
    assert not (tmp_path / "nonexistent").exists()
    out = tmp_path / "t.parquet"
    assert main(["dataset", "load", "tab@v1", "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 30
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_magic_load_prints_the_version_it_loaded(  # type: ignore[no-untyped-def]
    ip, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlops_jupyter.datasets as ds

    ip.user_ns["df"] = pd.DataFrame({"a": [1, 2, 3]})
    ip.run_line_magic("mlops", "dataset add df --name race")
    real = ds.load

    def load_then_someone_adds(ref, **kw):  # type: ignore[no-untyped-def]
        out = real(ref, **kw)
        ds.add(pd.DataFrame({"a": [7, 8, 9, 10]}), name="race")  # a concurrent add
        return out

    monkeypatch.setattr(ds, "load", load_then_someone_adds)
    capsys.readouterr()
    ip.run_line_magic("mlops", "dataset load race@latest --as back")
    assert ip.user_ns["back"]["a"].tolist() == [1, 2, 3]
    assert "back = race@v1 (3 rows" in capsys.readouterr().out
    assert ds.get("race").ref == "race@v2"
