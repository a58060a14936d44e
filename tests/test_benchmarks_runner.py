"""run_all.py's machinery (the benchmarks themselves run on demand, not here): discovery
by convention, rows collected from a child script, budgets turned into exit status,
competitors found by env var or built env, and the missing one named with its fix."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent / "benchmarks"


@pytest.fixture
def mods(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCH))
    for name in ("_envs", "_table", "run_all"):
        sys.modules.pop(name, None)
    return importlib.import_module("run_all"), importlib.import_module("_envs")


def test_discovers_every_bench_script(mods) -> None:  # type: ignore[no-untyped-def]
    run_all, _ = mods
    found = run_all.discover()
    assert {"tracking", "datasets", "drift", "jobs", "magics", "serving"} <= set(found)
    assert all(p.name == f"bench_{n}.py" for n, p in found.items())


def test_rows_and_budgets_from_a_child_script(mods, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_all, _ = mods
    script = tmp_path / "bench_fake.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(BENCH)!r})
        import _table
        _table.row("fast thing", "1 ms", "them: 9 ms (9× slower)", ratio=9.0, budget="<= 2 ms", ok=True, order=1)
        _table.row("slow thing", "5 s", "", budget="< 2 s", ok=_table.quick(), order=2)
        sys.exit(_table.exit_code())
    """))
    rows_file = tmp_path / "rows.jsonl"
    code, _ = run_all.run_one("fake", script, rows_file, quick=False, timeout=120)
    assert code == 1  # the second budget was missed
    code_quick, _ = run_all.run_one("fake", script, tmp_path / "quick.jsonl", quick=True, timeout=120)
    assert code_quick == 0
    import json

    rows = [{**json.loads(x), "bench": "fake"} for x in rows_file.read_text().splitlines()]
    assert [r["work"] for r in rows] == ["fast thing", "slow thing"]
    table = run_all.render(rows, [("fake", code, 1.0)], "today")
    assert "| work | mlops-jupyter | the alternative |" in table
    assert "| fast thing | 1 ms | them: 9 ms (9× slower) |" in table
    assert "| slow thing | 5 s | — |" in table
    assert "| fake | < 2 s; <= 2 ms | BUDGET MISSED |" in table
    assert "cores, Python 3." in table and "(today)" in table
    crashed = run_all.render([], [("boom", 1, 1.0)], "today")
    assert "| boom | — | FAILED (exit 1: see its output) |" in crashed


def test_competitor_from_env_var_else_built_env_else_the_fix(
    mods, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]
    _, envs = mods
    monkeypatch.setattr(envs, "ENVS_DIR", tmp_path / "envs")
    monkeypatch.delenv("MLFLOW_PYTHON", raising=False)
    assert envs.python_for("mlflow") is None
    msg = envs.missing("mlflow")
    assert "python tests/benchmarks/run_all.py --build mlflow --build-only" in msg
    assert "MLFLOW_PYTHON=" in msg and "mlflow==" in msg
    py = envs.built_python("mlflow")
    py.parent.mkdir(parents=True)
    py.write_text("")
    assert envs.python_for("mlflow") is None  # half built: no pins stamp yet
    (tmp_path / "envs" / "mlflow" / ".pins").write_text("x")
    assert envs.python_for("mlflow") == str(py)
    monkeypatch.setenv("MLFLOW_PYTHON", "/opt/x/python")
    assert envs.python_for("mlflow") == "/opt/x/python"


def test_bad_names_are_usage_errors(mods, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    run_all, _ = mods
    assert run_all.main(["--only", "nosuch", "--no-build"]) == 2
    assert "known: " in capsys.readouterr().err
    assert run_all.main(["--build", "nosuch", "--build-only"]) == 2
