"""The package's outer promises: public surface, light import, layering, lint, README/CI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import mlops_jupyter as mj

ROOT = Path(__file__).resolve().parents[1]


def test_public_surface_in_sync() -> None:
    for name in mj.__all__:
        assert getattr(mj, name) is not None, name
    with pytest.raises(AttributeError):
        mj.no_such_thing  # noqa: B018


def test_one_exception_tree() -> None:
    from mlops_jupyter import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.MlopsError)


def test_import_is_light() -> None:
    code = (
        "import sys, mlops_jupyter; heavy = [m for m in ('pandas', 'sqlalchemy', 'numpy', 'sklearn', "
        "'scipy', 'papermill', 'fastapi', 'ipywidgets') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_layering_contracts_hold() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_ruff_clean() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "mlops_jupyter", "tests"], cwd=ROOT,
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:]


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    m = re.search(r"<!-- test-command -->\s*```(?:console|bash|sh)?\s*\n(?:\$ )?(.+?)\n```", readme)
    assert m, "README.md must show the test command after <!-- test-command -->"
    assert m.group(1).strip() in ci


def test_cli_entry_points() -> None:
    out = subprocess.run([sys.executable, "-m", "mlops_jupyter", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "runs" in out.stdout and "doctor" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "mlops_jupyter", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
