"""What every run records about where it ran, captured without the user asking.

Cheap facts (user, host, Python, package versions, the full environment listing) are
computed once per process. Git state is sampled at most every ``GIT_TTL`` seconds per
folder, so a loop creating many runs stays fast; a notebook user re-running a cell after
editing files gets fresh state because that takes longer than the TTL. Captured text
(the git diff) is redacted before it is stored.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlops_jupyter import _proc
from mlops_jupyter.redact import redact

GIT_TTL = 2.0
KEY_PACKAGES = (
    "numpy", "pandas", "scipy", "scikit-learn", "pyarrow", "torch", "tensorflow", "xgboost",
    "lightgbm", "ipykernel", "papermill", "mlops-jupyter",
)
ENV_JOB_ID = "MLOPS_JOB_ID"
ENV_PARENT_RUN = "MLOPS_PARENT_RUN_ID"


@dataclass
class GitState:
    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    diff: str | None = None
    root: str | None = None


@dataclass
class RunContext:
    user: str | None
    host: str
    pid: int
    pid_start: str | None
    source: str | None
    job_id: str | None
    git: GitState
    tags: dict[str, str] = field(default_factory=dict)
    #: (artifact name, bytes) to store with the run
    files: list[tuple[str, bytes]] = field(default_factory=list)


@lru_cache(maxsize=1)
def current_user() -> str | None:
    """The OS user (cheap; no package listing)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return os.environ.get("USER")


@lru_cache(maxsize=1)
def _process_facts() -> tuple[str | None, str | None, dict[str, str], bytes]:
    user = current_user()
    from importlib import metadata

    versions: dict[str, str] = {}
    freeze: list[str] = []
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if not name:
            continue
        freeze.append(f"{name}=={dist.version}")
        norm = name.lower().replace("_", "-")
        if norm in KEY_PACKAGES:
            versions[norm] = dist.version
    freeze_text = "\n".join(sorted(set(freeze), key=str.lower)) + "\n"
    return user, _proc.start_time(os.getpid()), versions, freeze_text.encode()


_git_cache: dict[str, tuple[float, GitState]] = {}


def _git(args: list[str], cwd: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state(cwd: str | None = None) -> GitState:
    cwd = cwd or os.getcwd()
    now = time.monotonic()
    hit = _git_cache.get(cwd)
    if hit and now - hit[0] < GIT_TTL:
        return hit[1]
    state = GitState()
    root = _git(["rev-parse", "--show-toplevel"], cwd)
    if root:
        state.root = root.strip()
        head = _git(["rev-parse", "HEAD"], cwd)
        state.commit = head.strip() if head else None
        br = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
        state.branch = br.strip() if br else None
        status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
        state.dirty = bool(status and status.strip())
        if state.dirty and state.commit:
            diff = _git(["diff", "HEAD", "--no-color", "--no-ext-diff"], cwd)
            state.diff = redact(diff) if diff else None
    _git_cache[cwd] = (now, state)
    return state


def notebook_path() -> str | None:
    """The notebook this kernel runs, when the front end tells the kernel."""
    ip = _ipython()
    if ip is not None:
        ns = ip.user_ns
        for var in ("__vsc_ipynb_file__", "__session__"):
            val = ns.get(var)
            if isinstance(val, str) and val:
                return val
    for var in ("JPY_SESSION_NAME", "MLOPS_NOTEBOOK_PATH"):
        val = os.environ.get(var)
        if val:
            return val
    return None


def _ipython() -> Any:
    mod = sys.modules.get("IPython")
    if mod is None:
        return None
    try:
        return mod.get_ipython()
    except Exception:  # noqa: BLE001
        return None


def script_path() -> str | None:
    if _ipython() is not None:
        return None
    main = sys.modules.get("__main__")
    f = getattr(main, "__file__", None)
    return str(Path(f).resolve()) if f else None


def capture(capture_git: bool = True) -> RunContext:
    user, pid_start, versions, freeze = _process_facts()
    git = git_state() if capture_git else GitState()
    tags = {
        "mlops.python": platform.python_version(),
        "mlops.platform": platform.platform(terse=True),
        "mlops.packages": json.dumps(versions, sort_keys=True),
    }
    if git.branch:
        tags["mlops.git.branch"] = git.branch
    nb = notebook_path()
    if nb:
        tags["mlops.notebook"] = nb
    files = [("environment/requirements.txt", freeze)]
    if git.diff:
        files.append(("code/git.diff", git.diff.encode()))
    return RunContext(
        user=user, host=_proc.hostname(), pid=os.getpid(), pid_start=pid_start,
        source=nb or script_path(), job_id=os.environ.get(ENV_JOB_ID) or None, git=git,
        tags=tags, files=files,
    )
