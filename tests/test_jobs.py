"""Jobs without a kernel: parameter validation and injection, gates, output paths,
template discovery. (Execution paths are in test_jobs_exec.py.)"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest

from mlops_jupyter.errors import InvalidNameError, NotFoundError, UsageError
from mlops_jupyter.jobs import api, gates, parameters, templates

PARAMS_SRC = '''
from typing import Literal
alpha = 0.5  # learning rate
n: int = 3
name = "x"
flag = False
items = [1, 2]
opts = {"a": 1}
maybe: int | None = None
kind: Literal["a", "b"] = "a"
computed = len("abc")
'''


def make_nb(path: Path, params: str | None = PARAMS_SRC, body: str = "print(alpha)") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = []
    if params is not None:
        c = nbformat.v4.new_code_cell(params)
        c.metadata["tags"] = ["parameters"]
        cells.append(c)
    cells.append(nbformat.v4.new_code_cell(body))
    nb.cells = cells
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def declared() -> parameters.ParametersCell:
    return parameters.inspect_notebook({"cells": [
        {"cell_type": "code", "source": PARAMS_SRC, "metadata": {"tags": ["parameters"]}}]})


def test_inspect_reads_types_defaults_help_and_choices(declared):
    p = declared.params
    assert p["alpha"].type == "float" and p["alpha"].default == 0.5 and p["alpha"].help == "learning rate"
    assert p["n"].type == "int"
    assert p["flag"].type == "bool"
    assert p["items"].type == "list" and p["opts"].type == "dict"
    assert p["maybe"].type == "int" and p["maybe"].optional
    assert p["kind"].choices == ("a", "b")
    assert p["computed"].type == "any" and p["computed"].default_text == 'len("abc")'
    assert "Literal" not in p  # imports are not parameters


def test_values_are_converted_to_the_declared_type(declared):
    out = parameters.validate(declared, {"alpha": "0.1", "n": "7", "flag": "true", "items": "[3]",
                                         "opts": '{"b": 2}', "maybe": "none", "name": "42"},
                              template="t", from_text=True)
    assert out == {"alpha": 0.1, "n": 7, "flag": True, "items": [3], "opts": {"b": 2},
                   "maybe": None, "name": "42"}
    assert parameters.validate(declared, {"alpha": 1, "n": 2.0}, template="t") == {"alpha": 1.0, "n": 2}


@pytest.mark.parametrize("values", [
    {"n": "3.5"}, {"n": True}, {"n": "abc"}, {"alpha": "fast"}, {"flag": "maybe"},
    {"items": "{}"}, {"opts": "[1]"}, {"kind": "c"}, {"n": None}, {"alpha": float("nan")},
    {"alpha": float("inf")}, {"items": [object()]}, {"opts": {1: 2}}, {"name": b"bytes"},
    {"n": 10**30},
])
def test_wrong_types_are_rejected(declared, values):
    with pytest.raises(UsageError):
        parameters.validate(declared, values, template="t", from_text=False)


def test_unknown_name_suggests_and_lists(declared):
    with pytest.raises(UsageError, match=r"unknown parameter 'alpah'.*did you mean 'alpha'.*accepted: alpha"):
        parameters.validate(declared, {"alpah": 1}, template="t")


@pytest.mark.parametrize("name", [
    "x = 1\nimport os", "__import__('os').system('id')", "a b", "1abc", "import", "", "a;b",
    "ａlpha",  # full-width letter: not ASCII
])
def test_injected_names_are_refused(declared, name):
    with pytest.raises(InvalidNameError):
        parameters.validate(declared, {name: 1}, template="t")


@pytest.mark.parametrize("value", [
    "'; import os; os.system('touch /tmp/pwned'); '",
    '"\n__import__("os").system("id")\n"',
    "\\\"); import os #",
    "{{7*7}} ${HOME} $(id) `id`",
    "\u2028import os\u2029",
])
def test_injected_values_stay_strings(declared, value):
    values = parameters.validate(declared, {"name": value}, template="t", from_text=True)
    text = parameters.render_assignments(values)
    tree = ast.parse(text)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign)
    assert ast.literal_eval(tree.body[0].value) == value


def test_injected_cell_follows_parameters_cell_and_replaces_old_one(tmp_path, declared):
    nb = nbformat.read(str(make_nb(tmp_path / "t.ipynb")), as_version=4)
    once = parameters.inject(nb, {"alpha": 0.9}, declared)
    twice = parameters.inject(once, {"alpha": 0.1}, declared)
    tags = [c.metadata.get("tags", []) for c in twice.cells]
    assert tags[1] == ["injected-parameters"] and sum("injected-parameters" in t for t in tags) == 1
    assert "alpha = 0.1" in twice.cells[1].source


def test_template_without_parameters_cell_refuses_parameters(tmp_path):
    path = make_nb(tmp_path / "plain.ipynb", params=None)
    tpl = templates.resolve(str(path))
    assert not tpl.parameters.found
    with pytest.raises(UsageError, match="no cell tagged 'parameters'"):
        parameters.validate(tpl.parameters, {"a": 1}, template="plain")
    assert parameters.validate(tpl.parameters, {}, template="plain") == {}


def test_parse_pairs():
    assert parameters.parse_pairs(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    for bad in (["a"], ["=1"], ["a=1", "a=2"], ["a-b=1"]):
        with pytest.raises(UsageError):
            parameters.parse_pairs(bad)


# -- gates ----------------------------------------------------------------------------
def test_gate_parsing():
    g = gates.parse("auc>=0.85")
    assert (g.metric, g.op, g.threshold) == ("auc", ">=", 0.85)
    assert gates.parse(" val/loss < 3.2e-1 ").threshold == 0.32
    for bad in ("auc", "auc>>1", "auc>=x", "__import__('os')>1", "auc>=1;rm", ">=1", "auc>=nan"):
        with pytest.raises(UsageError):
            gates.parse(bad)


class _M:
    def __init__(self, v: float) -> None:
        self.last = v


class _R:
    def __init__(self, rid: str, t: float, **metrics: float) -> None:
        self.id, self.start_time = rid, t
        self.metrics = {k: _M(v) for k, v in metrics.items()}


def test_gates_use_latest_run_that_logged_the_metric():
    runs = [_R("a" * 32, 1, auc=0.9), _R("b" * 32, 2, auc=0.7, rmse=3.0)]
    res = gates.evaluate([gates.parse("auc>=0.8"), gates.parse("rmse<3.2"), gates.parse("f1>0")], runs)
    assert [r.passed for r in res] == [False, True, False]
    assert res[0].value == 0.7 and "auc=0.7" in res[0].describe()
    assert "not logged" in res[2].reason and "auc, rmse" in res[2].reason
    assert not gates.evaluate([gates.parse("auc>0")], [_R("c" * 32, 1, auc=float("nan"))])[0].passed


# -- output paths, timeouts, kernels ---------------------------------------------------
def test_output_path_rules(mlops_home, tmp_path):
    assert api.check_output(None) is None
    assert api.check_output("out/x.ipynb") == (tmp_path / "out" / "x.ipynb").resolve()
    for bad in ("/etc/x.ipynb", "../x.ipynb", "s3://b/x.ipynb", "x.txt", "{pm}.ipynb", "-", "a\x00.ipynb"):
        with pytest.raises(UsageError):
            api.check_output(bad)
    (tmp_path / "link").symlink_to("/tmp")
    with pytest.raises(UsageError, match="outside"):
        api.check_output("link/escape.ipynb")


def test_timeout_and_kernel_checks(mlops_home):
    assert api.check_timeout("2.5") == 2.5
    for bad in (0, -1, "x", float("nan"), True, [1]):
        with pytest.raises(UsageError):
            api.check_timeout(bad)
    with pytest.raises(UsageError, match="kernel 'no-such-kernel' is not installed; installed kernels: .*python3"):
        api.pick_kernel({"metadata": {}}, "no-such-kernel")


# -- templates ------------------------------------------------------------------------
def test_builtin_templates_are_found_with_parameters():
    found = {t.name: t for t in templates.discover()}
    assert {"train", "evaluate", "retrain", "drift_report", "eda"} <= set(found)
    for t in found.values():
        assert t.parameters.found and t.params and t.description, t.name
        assert all(p.help for p in t.params.values()), t.name


def test_team_folder_overrides_and_missing_template(tmp_path, monkeypatch):
    team = tmp_path / "team"
    team.mkdir()
    make_nb(team / "train.ipynb")
    monkeypatch.setenv("MLOPS_TEMPLATES", str(team))
    assert templates.resolve("train").source == "team"
    with pytest.raises(NotFoundError, match="no template named 'trian'; templates: .*train"):
        templates.resolve("trian")
    with pytest.raises(NotFoundError):
        templates.resolve("missing/dir/x.ipynb")
    (tmp_path / "bad.ipynb").write_text("{not json")
    with pytest.raises(UsageError, match="not a readable Jupyter notebook"):
        templates.resolve(str(tmp_path / "bad.ipynb"))
    (tmp_path / "bad.py").write_text("x=1")
    with pytest.raises(UsageError, match="not a notebook"):
        templates.resolve(str(tmp_path / "bad.py"))


def test_cli_usage_errors_exit_2_and_record_nothing(mlops_home, tmp_path, capsys):
    from mlops_jupyter.cli import main
    from mlops_jupyter.tracking.session import get_store

    nb = make_nb(tmp_path / "t.ipynb")
    for argv in (["run", "nope"], ["run", str(nb), "-p", "alpah=1"], ["run", str(nb), "-p", "n=x"],
                 ["run", str(nb), "--gate", "auc>>1"], ["run", str(nb), "--output", "/etc/x.ipynb"],
                 ["run", str(nb), "--kernel", "nope"], ["run", str(nb), "--timeout", "-1"],
                 ["run", str(nb), "-p", "x=1\nimport os"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("mlops run: error: ") and "Traceback" not in err
    assert get_store().list_jobs() == []


def test_cli_templates_lists_parameters(mlops_home, capsys):
    from mlops_jupyter.cli import main

    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    assert "train  [builtin]" in out and "-p n_estimators=100  (int)" in out
    assert main(["templates", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {t["name"] for t in data} >= {"train", "eda"}


def test_cli_dry_run(mlops_home, tmp_path, capsys):
    from mlops_jupyter.cli import main

    nb = make_nb(tmp_path / "t.ipynb")
    assert main(["run", str(nb), "-p", "alpha=0.2", "--dry-run"]) == 0
    assert "nothing was run" in capsys.readouterr().out


def test_parameter_values_are_bounded_like_run_parameters() -> None:
    from mlops_jupyter.errors import UsageError
    from mlops_jupyter.jobs import parameters
    from mlops_jupyter.tracking.values import MAX_VALUE_CHARS

    assert parameters.MAX_TEXT == MAX_VALUE_CHARS
    parameters.check_jsonlike("x" * MAX_VALUE_CHARS)
    with pytest.raises(UsageError, match="limit of a run parameter"):
        parameters.check_jsonlike("x" * (MAX_VALUE_CHARS + 1))
