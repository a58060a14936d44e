"""Permission errors, checked as an unprivileged user even when the suite runs as root.

Root reads and writes everything, so tests that chmod a file and expect "permission
denied" were skipped in CI (which runs as root) and never ran. Here the check runs in a
child process: as root, dropped to ``nobody`` with ``setpriv``; as any other user, as
that user. The child asserts it is not root, so the test cannot pass vacuously.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

NOBODY = 65534

PREAMBLE = textwrap.dedent(
    """
    import json, os, sys
    assert os.geteuid() != 0, "the check must not run as root"
    import mlops_jupyter as mj
    from mlops_jupyter.errors import MlopsError
    work = sys.argv[1]
    def report(**kw):
        print("RESULT " + json.dumps(kw))
    """
)


def _unprivileged_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        if os.environ.get("CI"):
            pytest.fail("setpriv (util-linux) is needed to run permission tests as nobody in CI")
        pytest.skip("running as root without setpriv: cannot drop privileges")
    prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import mlops_jupyter"],
                           cwd="/", capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        why = (f"user nobody cannot run {sys.executable} with mlops_jupyter (a folder on the way "
               f"is not traversable: chmod o+x it): {probe.stderr.strip()[-300:]}")
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return prefix


@pytest.fixture
def work() -> Iterator[Path]:
    """A folder the unprivileged child owns (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="mlops-perm-"))
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _run(body: str, work: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(HOME=str(work), MLOPS_HOME=str(work / ".mlops"), MPLCONFIGDIR=str(work / ".mpl"))
    p = subprocess.run(
        [*_unprivileged_prefix(), sys.executable, "-c", PREAMBLE + textwrap.dedent(body), str(work)],
        cwd=work, env=env, capture_output=True, text=True, timeout=180,
    )
    lines = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    assert p.returncode == 0 and lines, f"child failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return json.loads(lines[-1][len("RESULT "):])


def _root_owned(path: Path, mode: int) -> None:
    """Make ``path`` unusable by the child: another owner (as root) and ``mode``."""
    path.chmod(mode)


def test_unreadable_file_is_one_clear_error(work: Path) -> None:
    locked = work / "locked.csv"
    locked.write_text("a\n1\n")
    _root_owned(locked, 0)
    got = _run(
        """
        from pathlib import Path
        try:
            mj.datasets.add(Path(work) / "locked.csv", name="x")
            report(ok=True)
        except MlopsError as e:
            report(ok=False, type=type(e).__name__, message=str(e), listed=len(mj.datasets.list()))
        """,
        work,
    )
    assert got["ok"] is False and got["type"] == "UsageError", got
    assert "permission denied" in str(got["message"]) and "locked.csv" in str(got["message"])
    assert got["listed"] == 0  # nothing half-written


def test_unwritable_store_folder_is_a_store_error(work: Path) -> None:
    ro = work / "ro"
    ro.mkdir()
    _root_owned(ro, 0o555)
    if os.geteuid() == 0:
        os.chown(ro, 0, 0)
    got = _run(
        """
        from mlops_jupyter import store
        from mlops_jupyter.config import resolve
        from pathlib import Path
        try:
            store.open_store(resolve(home=Path(work) / "ro" / "sub" / ".mlops"))
            report(ok=True)
        except MlopsError as e:
            report(ok=False, type=type(e).__name__, message=str(e))
        """,
        work,
    )
    assert got["ok"] is False and got["type"] == "StoreError", got
    assert "ro" in str(got["message"])
    assert not (ro / "sub").exists()


def test_model_export_into_a_read_only_folder(work: Path) -> None:
    ro = work / "ro"
    ro.mkdir()
    if os.geteuid() == 0:
        os.chown(ro, 0, 0)
    _root_owned(ro, 0o555)
    got = _run(
        """
        import contextlib, io
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from mlops_jupyter.cli import main
        X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.8], [0.9, 0.1]])
        mj.models.register(LogisticRegression().fit(X, [0, 1, 0, 1]), "churn", signature=X, run=False)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["model", "export", "churn@v1", work + "/ro/x.skops"])
        report(code=code, err=err.getvalue())
        """,
        work,
    )
    assert got["code"] == 2, got
    assert "cannot write" in str(got["err"]) and "Traceback" not in str(got["err"])
    assert list(ro.iterdir()) == []  # no temporary file left behind
