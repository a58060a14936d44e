"""`mlops drift` (exit codes for CI) and `%mlops drift` call the same mj.drift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import mlops_jupyter as mj
from mlops_jupyter.cli import main


def _df(shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1, 3000), "c": rng.choice(list("abc"), 3000)})


def test_cli_exit_codes_and_json(mlops_home, tmp_path, capsys) -> None:
    mj.datasets.add(_df(0, 0), name="train")
    _df(0.5, 1).to_csv(tmp_path / "shifted.csv", index=False)
    _df(0.0, 2).to_csv(tmp_path / "same.csv", index=False)
    assert main(["drift", "train@v1", str(tmp_path / "shifted.csv"), "--fail-on-drift"]) == 1
    assert "DRIFT" in capsys.readouterr().out
    assert main(["drift", "train@v1", str(tmp_path / "same.csv"), "--fail-on-drift"]) == 0
    assert main(["drift", "train@v1", str(tmp_path / "shifted.csv")]) == 0  # report only
    capsys.readouterr()
    assert main(["drift", "train@v1", str(tmp_path / "shifted.csv"), "--json", "--no-save"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["columns"] and any(c["drifted"] for c in doc["columns"])
    assert main(["drift", "missing@v1", str(tmp_path / "same.csv")]) == 2
    assert "neither a dataset" in capsys.readouterr().err
    assert main(["drift-history", "dataset:train"]) == 0
    assert len(mj.drift_history("train")) == 3  # --no-save kept out


def test_magic_drift_uses_notebook_variables() -> None:
    from IPython.testing import globalipapp

    globalipapp.start_ipython()  # returns None when another test started it first
    ip = globalipapp.get_ipython()
    ip.user_ns.update(ref_df=_df(0, 3), new_df=_df(0.7, 4))
    from mlops_jupyter.magics.drift import VERBS

    report = VERBS["drift"].handler(ip, ["ref_df", "new_df", "--columns", "x"], None)
    assert report.drifted_columns == ["x"] and [c.column for c in report.columns] == ["x"]
    import pytest
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="not a variable"):
        VERBS["drift"].handler(ip, ["ref_df", "nosuchvar"], None)
    with pytest.raises(UsageError, match="Usage"):
        VERBS["drift"].handler(ip, ["ref_df"], None)


def test_unreadable_table_files_are_one_clear_error(mlops_home, tmp_path, capsys) -> None:
    mj.datasets.add(_df(0, 0), name="train")
    (tmp_path / "bad.parquet").write_bytes(b"garbage")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01binary")
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "bad.json").write_text("{bad json")
    for name in ("bad.parquet", "bin.csv", "empty.csv", "bad.json", "missing.csv"):
        path = str(tmp_path / name)
        assert main(["drift", "train@v1", path]) == 2, name
        err = capsys.readouterr().err
        assert "Traceback" not in err and name in err
        assert main(["dataset", "validate", path, "train@v1"]) == 2, name
        err = capsys.readouterr().err
        assert "Traceback" not in err and name in err


def test_unusable_data_is_exit_2_not_drift(mlops_home, tmp_path, capsys) -> None:
    """The real engine is fed data it cannot compare (no stub): exit 2 with its message,
    never exit 1 ("drift") or 0, and no report saved."""
    pd.DataFrame({"x": [1.0, 2.0, 3.0] * 10}).to_csv(tmp_path / "cur.csv", index=False)
    mj.datasets.add(pd.DataFrame({"x": [1.0, 2.0, 3.0] * 10}), name="ok")
    code = main(["drift", "ok@v1", str(tmp_path / "cur.csv"), "--fail-on-drift"])
    assert code == 0
    saved = len(mj.drift_history("ok"))
    capsys.readouterr()
    mixed = tmp_path / "mixed.json"  # JSON keeps numbers and text apart in one column
    mixed.write_text(json.dumps([{"x": v} for v in [1.5, "a", 2.5] * 10]))
    assert main(["drift", "ok@v1", str(mixed), "--fail-on-drift"]) == 2
    err = capsys.readouterr().err
    assert "column 'x' in the current data mixes value types (float, str)" in err
    assert "Traceback" not in err
    assert len(mj.drift_history("ok")) == saved
