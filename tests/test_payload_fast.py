"""The per-column fast check (issue 16) never certifies a column the cell-by-cell rules
would refuse: property-based over mixed JSON values, every column type, small and large
columns (Python and numpy paths)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_jupyter.models.payload import _check_value, _column_ok
from mlops_jupyter.models.signature import Column

COLUMNS = [
    Column("f", "float", "float64"), Column("fn", "float", "float64", nullable=True),
    Column("i", "integer", "int64"), Column("u", "integer", "uint8"),
    Column("b", "boolean", "bool"), Column("s", "string", "object"),
    Column("c", "category", "category", categories=("a", "b", 1)),
    Column("d", "datetime", "datetime64[ns]"), Column("x", "any"),
]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**53, 2**53 + 1, -(2**53), 2**63, -(2**63) - 1, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["a", "b", "z", "\ud800", "2020-01-01"]),
    st.text(max_size=3), st.lists(st.integers(), max_size=1),
)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(VALUES, min_size=1, max_size=40), pad=st.sampled_from([0, 40]))
def test_fast_check_agrees_with_the_cell_rules(values: list[Any], pad: int) -> None:
    for col in COLUMNS:
        vals = values + values[:1] * pad  # past 32 values: the numpy path
        if _column_ok(col, vals):
            bad = [v for v in vals if _check_value(col, v) is not None]
            assert not bad, (col, bad[:3])


def test_typical_columns_take_the_fast_path() -> None:
    assert _column_ok(Column("f", "float", "float64"), [0.5, 1, -2.0] * 20)
    assert _column_ok(Column("i", "integer", "int64"), list(range(100)))
    assert _column_ok(Column("c", "category", "category", categories=("a", "b")), ["a", "b"] * 30)
    assert not _column_ok(Column("f", "float", "float64"), [0.5, True])
    assert not _column_ok(Column("f", "float", "float64"), [0.5, "1.5"])
