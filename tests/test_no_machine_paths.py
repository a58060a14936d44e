"""No path of the author's machine in the repository.

Benchmarks once looked for competitors at absolute paths that existed on one machine
only, and a test used such a path as sample data: on a fresh clone they silently
skipped. Every tracked file (``git ls-files``) is scanned for absolute paths under
``/work/``, ``/root/`` and ``/home/<user>/`` (``/home/you/`` is the documentation's
placeholder). Competitors are found through ``tests/benchmarks/_envs.py`` instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: an absolute path of a machine: under work, root or home/<user>, at the file system root
MACHINE_PATH = re.compile(r"(?<![\w.~$-])/(?:work|root|home/(?!you/)[A-Za-z0-9_.-]+)/[\w.-]")


def _tracked() -> list[Path]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / p for p in out.decode().split("\0") if p]


def test_pattern_catches_machine_paths_and_spares_others() -> None:
    w, r, h = "/" + "work", "/" + "root", "/" + "home"  # split: this file must not match itself
    for bad in (f"{w}/bench-mlflow/bin/python", f'"{r}/.cache/x"', f"see {h}/alice/proj/a.py",
                f"PATH={w}/venv/bin"):
        assert MACHINE_PATH.search(bad), bad
    for fine in ("/home/you/project/.mlops", "https://example.com/work/x", "tests/work/a",
                 "~/work/x", "$HOME/work/x", "a/root/b", "/tmp/work/x"):
        assert not MACHINE_PATH.search(fine), fine


def test_no_tracked_file_names_a_machine_path() -> None:
    hits = []
    for path in _tracked():
        if not path.is_file():
            continue  # deleted in the work tree, still in the index
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary
        for n, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:120]}")
    assert not hits, "machine-specific paths in tracked files:\n" + "\n".join(hits)
