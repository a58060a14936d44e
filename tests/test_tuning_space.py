"""The search-space grammar and the executor specs: every bad input one clear error."""

from __future__ import annotations

import pytest

from mlops_jupyter.errors import UsageError
from mlops_jupyter.jobs import executors, space
from mlops_jupyter.jobs.parameters import inspect_cell

DECLARED_SRC = '''
from typing import Literal
n_estimators = 100
lr = 0.1
model: Literal["rf", "linear"] = "rf"
name = "x"
'''


def declared():
    from mlops_jupyter.jobs.parameters import ParametersCell

    return ParametersCell(True, 0, inspect_cell(DECLARED_SRC))


@pytest.mark.parametrize("spec, kind, low, high, log", [
    ("int:10..500:log", "int", 10, 500, True),
    ("int:1..5", "int", 1, 5, False),
    ("float:1e-4..1:log", "float", 1e-4, 1, True),
    ("float: 0.1 .. 0.9", "float", 0.1, 0.9, False),
])
def test_ranges_parse(spec, kind, low, high, log):
    d = space.parse_spec("x", spec)
    assert (d.kind, d.low, d.high, d.log) == (kind, low, high, log)
    assert space.parse_spec("x", d.spec()) == d  # the spec round-trips


def test_choice_converts_to_declared_type():
    dims = space.build({"model": "choice:rf,linear", "n_estimators": "choice:10,20"}, declared(), "'t'")
    assert dims[0].choices == ("rf", "linear")
    assert dims[1].choices == (10, 20)
    assert space.build({"model": ["linear"]}, declared(), "'t'")[0].choices == ("linear",)


@pytest.mark.parametrize("spec, words", [
    ("int:500..10", "LOW must be below HIGH"),
    ("int:1.5..3", "whole numbers"),
    ("float:0..1:log", "above 0"),
    ("float:1..2:cubic", "unknown option"),
    ("int:1..10:step=0", "positive"),
    ("int:1..100:log:step=2", "cannot be combined"),
    ("normal:0..1", "not a spec"),
    ("choice:a,,b", "non-empty"),
    ("float:nan..1", "not a spec"),
    ("", "expected a spec"),
    (3, "expected a spec"),
])
def test_bad_specs_get_one_clear_error(spec, words):
    with pytest.raises(UsageError) as e:
        space.parse_spec("x", spec)
    assert words in str(e.value) and "accepted:" in str(e.value)


def test_specs_checked_against_the_template():
    with pytest.raises(UsageError, match="cannot tune 'depth'.*n_estimators"):
        space.build({"depth": "int:1..3"}, declared(), "'t'")
    with pytest.raises(UsageError, match="int range does not fit"):
        space.build({"name": "int:1..3"}, declared(), "'t'")
    with pytest.raises(UsageError, match="float range does not fit"):
        space.build({"n_estimators": "float:1..3"}, declared(), "'t'")
    with pytest.raises(UsageError, match="must be one of 'rf', 'linear'"):
        space.build({"model": "choice:rf,svm"}, declared(), "'t'")
    with pytest.raises(UsageError, match="space must map"):
        space.build({}, declared(), "'t'")


def test_space_pairs_from_the_command_line():
    assert space.parse_pairs(["n=int:1..5", "m=choice:a,b"]) == {"n": "int:1..5", "m": "choice:a,b"}
    with pytest.raises(UsageError, match="NAME=SPEC"):
        space.parse_pairs(["int:1..5"])
    with pytest.raises(UsageError, match="given twice"):
        space.parse_pairs(["n=int:1..5", "n=int:1..6"])


@pytest.mark.parametrize("spec, parsed", [
    (None, ("local", None)), ("local", ("local", None)), ("dask", ("dask", None)),
    ("dask:tcp://10.0.0.1:8786", ("dask", "tcp://10.0.0.1:8786")), ("DASK", ("dask", None)),
])
def test_executor_specs(spec, parsed):
    assert executors.parse(spec) == parsed


@pytest.mark.parametrize("spec, words", [
    ("ray", "unknown executor 'ray'; accepted: dask, local"),
    ("dask:", "empty address"),
    ("", "executor must be"),
    (5, "executor must be"),
    ("dask:\x00", "executor must be"),
])
def test_bad_executor_specs(spec, words):
    with pytest.raises(UsageError, match=words.replace("(", r"\(")):
        executors.parse(spec)


def test_local_executor_takes_no_address():
    with pytest.raises(UsageError, match="takes no address"):
        executors.get("local:somewhere")
