"""Validation (each violation kind, schema dicts, strict mode) and diffs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.datasets import infer_schema, validate
from mlops_jupyter.errors import UsageError, ValidationError


def reference() -> pd.DataFrame:
    return pd.DataFrame({
        "age": np.arange(20, 70),  # 20..69
        "income": np.linspace(1000.0, 5000.0, 50),
        "plan": ["basic", "pro"] * 25,
        "seen": pd.date_range("2024-01-01", periods=50, freq="D"),
        "tier": pd.Categorical(["a", "b"] * 25),
    })


def kinds(report) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(report.violations["kind"])


def test_clean_data_passes(mlops_home: Path) -> None:
    mj.datasets.add(reference(), name="ref")
    r = validate(reference().iloc[5:20], "ref@v1")
    assert r.ok and r.violations.empty and "conform" in r.summary()
    assert "PASSED" in r._repr_html_()


#: what each kind of violation says (its column is in the "column" field)
MESSAGES = {
    "missing_column": "is missing",
    "extra_column": "is not in ",
    "dtype": "expected ",
    "nulls": "missing value(s)",
    "out_of_range": "outside the seen range",
    "unseen_category": "never seen before",
}


@pytest.mark.parametrize("mutate, kind, column", [
    (lambda d: d.drop(columns="plan"), "missing_column", "plan"),
    (lambda d: d.assign(extra=1), "extra_column", "extra"),
    (lambda d: d.assign(income=d["income"].astype(str)), "dtype", "income"),
    (lambda d: d.assign(age=d["age"] + 0.5), "dtype", "age"),
    (lambda d: d.assign(income=d["income"].where(d.index > 3)), "nulls", "income"),
    (lambda d: d.assign(age=d["age"] + 100), "out_of_range", "age"),
    (lambda d: d.assign(income=-d["income"]), "out_of_range", "income"),
    (lambda d: d.assign(seen=d["seen"] + pd.Timedelta(days=400)), "out_of_range", "seen"),
    (lambda d: d.assign(plan="enterprise"), "unseen_category", "plan"),
    (lambda d: d.assign(tier=pd.Categorical(["a", "z"] * 25)), "unseen_category", "tier"),
])
def test_each_violation_kind_is_caught(mlops_home: Path, mutate, kind: str, column: str) -> None:  # type: ignore[no-untyped-def]
    mj.datasets.add(reference(), name="ref")
    r = validate(mutate(reference()), "ref")
    assert not r.ok
    assert (kind, column) in set(zip(r.violations["kind"], r.violations["column"], strict=True))
    v = r.violations
    row = v[(v["kind"] == kind) & (v["column"] == column)].iloc[0]
    assert row["count"] > 0
    assert MESSAGES[kind] in row["message"], row["message"]
    assert "FAILED" in r._repr_html_()
    with pytest.raises(ValidationError) as exc:
        validate(mutate(reference()), "ref", strict=True)
    assert isinstance(exc.value.violations, pd.DataFrame) and kind in set(exc.value.violations["kind"])


def test_tolerance_widens_the_seen_range(mlops_home: Path) -> None:
    mj.datasets.add(reference(), name="ref")
    new = reference().assign(age=lambda d: d["age"] + 2)  # max 71, span 49
    assert "out_of_range" in kinds(validate(new, "ref", tolerance=0.0))
    assert validate(new, "ref", tolerance=0.05).ok  # 69 + 0.05*49 = 71.45
    with pytest.raises(UsageError, match="tolerance"):
        validate(new, "ref", tolerance=-1)


def test_int_data_satisfies_float_column_and_integral_floats_satisfy_int(mlops_home: Path) -> None:
    schema = infer_schema(reference())
    new = reference().assign(income=lambda d: d["income"].round().astype("int64"))
    assert validate(new, schema).ok
    new = reference().assign(age=lambda d: d["age"].astype("float64"))
    assert validate(new, schema).ok


def test_schema_dict_only_no_store_needed() -> None:
    schema = {"columns": {"price": "float64", "city": {"dtype": "str", "categories": ["paris"]}}}
    r = validate(pd.DataFrame({"price": ["17.99"], "city": ["rome"]}), schema)
    assert kinds(r) == ["dtype", "unseen_category"]
    assert validate(pd.DataFrame({"price": [1.5], "city": ["paris"]}), schema).ok
    full = infer_schema(reference())
    assert [c["name"] for c in full["columns"]] == list(reference().columns)
    assert validate(reference(), full).ok
    assert validate(reference().assign(x=1), full, allow_extra=True).ok
    with pytest.raises(UsageError, match="unknown dtype"):
        validate(reference(), {"columns": {"a": "floaty"}})
    with pytest.raises(UsageError, match="DataFrame"):
        validate([1, 2], full)  # type: ignore[arg-type]


def test_validate_against_file_version_without_schema(mlops_home: Path, tmp_path: Path) -> None:
    f = tmp_path / "blob.bin"
    f.write_bytes(b"\x00\x01")
    mj.datasets.add(f, name="bin")
    with pytest.raises(UsageError, match="without a table schema"):
        validate(reference(), "bin")


# -- diff -------------------------------------------------------------------------
def test_diff_by_key_reports_added_removed_changed(mlops_home: Path) -> None:
    a = reference().assign(id=range(50))
    b = a.iloc[5:].copy()  # 5 removed
    b.loc[10, "income"] = 99.0  # 1 changed
    b = pd.concat([b, a.iloc[:2].assign(id=[100, 101])], ignore_index=True)  # 2 added
    b["new_col"] = 1
    mj.datasets.add(a, name="d", key="id")
    mj.datasets.add(b, name="d", key="id")
    d = mj.datasets.diff("d@v1", "d@v2")
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (2, 5, 1)
    assert (d.rows_before, d.rows_after) == (50, 47)
    assert ("new_col", "added") in set(zip(d.schema_changes["column"], d.schema_changes["change"], strict=True))
    assert {"income"} <= set(d.stats["column"])
    html = d._repr_html_()
    assert "by key id" in html and "Schema changes" in html
    assert not d.identical and "d@v1 -> d@v2" in d.summary()


def test_diff_by_row_hash_without_key(mlops_home: Path) -> None:
    a = reference()
    b = pd.concat([a.iloc[3:], a.iloc[:1]], ignore_index=True)  # rows 1,2 removed; order changed
    mj.datasets.add(a, name="h")
    mj.datasets.add(b, name="h")
    d = mj.datasets.diff("h@v1", "h@v2")
    assert (d.rows_added, d.rows_removed) == (0, 2)
    assert len(d.removed_examples) == 2
    same = mj.datasets.diff("h@v1", "h@v1")
    assert same.identical and same.rows_added == 0


def test_diff_reports_dtype_and_category_changes(mlops_home: Path) -> None:
    a = reference()
    b = a.assign(age=a["age"].astype("float64"), plan=["basic", "gold"] * 25)
    mj.datasets.add(a, name="s")
    mj.datasets.add(b, name="s")
    d = mj.datasets.diff("s@v1", "s@v2", rows=False)
    changes = dict(zip(d.schema_changes["column"] + ":" + d.schema_changes["change"], d.schema_changes["after"], strict=True))
    assert changes["age:dtype"] == "float64"
    assert "gold" in changes["plan:categories"]
    assert d.rows_added is None
