"""The competitors' environments: where their interpreters are, and how to build them.

Each competitor runs in its own virtual environment (they pin their own dependencies:
Evidently 0.7 needs pandas < 3, MLflow pins half of PyPI), built inside the repository
under ``.bench-envs/NAME`` (git-ignored) at the versions the README table names. A
benchmark asks :func:`python_for` for an interpreter: the environment variable wins
(``MLFLOW_PYTHON=...``), then the built environment; when neither exists,
:func:`missing` says which command fixes it. No path of any particular machine is
written here.

To add a competitor (Feast, Optuna, ...): add one :class:`Env` to ``ENVS``; run_all.py
builds it and every benchmark can ask for it by name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENVS_DIR = Path(os.environ.get("MLOPS_BENCH_ENVS", REPO / ".bench-envs"))


@dataclass(frozen=True)
class Env:
    name: str
    label: str  # as the README table names it, with the pinned version
    packages: list[str] = field(default_factory=list)
    var: str = ""  # environment variable pointing at an interpreter (overrides the build)
    check: str = ""  # Python code that must run in the interpreter (an import)

    @property
    def env_var(self) -> str:
        return self.var or f"{self.name.upper()}_PYTHON"


ENVS: dict[str, Env] = {
    e.name: e
    for e in [
        Env("mlflow", "MLflow 3.17", ["mlflow==3.17.2", "scikit-learn>=1.4", "pandas>=2.2"],
            check="import mlflow, sklearn"),
        Env("papermill", "papermill 2.7", ["papermill==2.7.0", "ipykernel>=6.25"],
            check="import papermill"),
        Env("dvc", "DVC 3.67", ["dvc==3.67.1"], check="import dvc"),
        # Evidently 0.7 uses a pandas internal that pandas 3 removed
        Env("evidently", "Evidently 0.7.23", ["evidently==0.7.23", "pandas>=2.2,<3", "pyarrow>=14"],
            check="import evidently, pandas"),
        Env("trackio", "trackio 0.43", ["trackio==0.43.0"], check="import trackio"),
        # hooks for later issues (uncomment with the version the README names):
        Env("feast", "Feast 0.67", ["feast==0.67.0"], check="import feast"),
        # Env("optuna", "Optuna 4.x", ["optuna==4.x"], check="import optuna"),
    ]
}


def _bin(env_dir: Path, name: str) -> Path:
    return env_dir / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def built_python(name: str) -> Path:
    return _bin(ENVS_DIR / name, "python")


def python_for(name: str) -> str | None:
    """The interpreter with competitor ``name`` installed, or None (see :func:`missing`)."""
    env = ENVS[name]
    explicit = os.environ.get(env.env_var)
    if explicit:
        return explicit
    py = built_python(name)
    built = py.exists() and (ENVS_DIR / name / ".pins").exists()  # not a half-built one
    return str(py) if built else None


def executable_for(name: str, program: str) -> str | None:
    """A console script (``dvc``, ``mlflow``, ``papermill``) beside that interpreter."""
    py = python_for(name)
    if py is None:
        return None
    exe = Path(py).parent / program
    return str(exe) if exe.exists() else None


def missing(name: str) -> str:
    """The message a benchmark prints when a competitor is absent: what to run."""
    env = ENVS[name]
    return (
        f"{env.label}: not measured (no interpreter). Build it with "
        f"`python tests/benchmarks/run_all.py --build {name} --build-only`, "
        f"or set {env.env_var}=/path/to/python with {' '.join(env.packages)} installed"
    )


def build(name: str, *, quiet: bool = False) -> Path:
    """Create ``.bench-envs/NAME`` and install the pinned packages (idempotent)."""
    env = ENVS[name]
    target = ENVS_DIR / name
    py = built_python(name)
    stamp = target / ".pins"
    pins = "\n".join(env.packages)
    if py.exists() and stamp.exists() and stamp.read_text() == pins and _works(str(py), env):
        return py
    ENVS_DIR.mkdir(parents=True, exist_ok=True)
    (ENVS_DIR / ".gitignore").write_text("*\n")  # never committed, even without .gitignore
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    q = ["-q"] if quiet else []
    subprocess.run([str(py), "-m", "pip", "install", *q, "--upgrade", "pip"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", *q, *env.packages], check=True)
    if not _works(str(py), env):
        raise RuntimeError(f"{env.label}: built at {target}, but `{env.check}` fails there")
    stamp.write_text(pins)
    return py


def _works(py: str, env: Env) -> bool:
    if not env.check:
        return True
    return subprocess.run([py, "-c", env.check], capture_output=True).returncode == 0


def status() -> list[tuple[str, str, str]]:
    """(name, label, where or why not) for every known competitor."""
    out = []
    for name, env in ENVS.items():
        py = python_for(name)
        out.append((name, env.label, py if py else "missing"))
    return out


if __name__ == "__main__":  # python tests/benchmarks/_envs.py: where each competitor is
    for name, label, where in status():
        print(f"{name:10} {label:18} {where}")
    sys.exit(0)
