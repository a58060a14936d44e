"""Finding and loading the project's definitions (``features/*.py``).

**Loading a definition file runs its code**, like importing a module. So only files
inside the project's ``features/`` folder are loaded (the folder beside ``.mlops/``),
never a path given by a request; a file or folder that is a symlink leading outside
the project, or a name that is not a plain ``*.py`` file, is refused.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path

from mlops_jupyter.errors import UsageError
from mlops_jupyter.features.definition import FeatureView

FOLDER = "features"
_LOADED: dict[tuple[tuple[str, str], ...], dict[str, FeatureView]] = {}
_LOCK = threading.Lock()


def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the store's ``.mlops`` (the working directory's project when
    the store is remote)."""
    if start is not None:
        return Path(start).expanduser().resolve()
    from mlops_jupyter.config import find_home
    from mlops_jupyter.tracking import session

    home = session.get_store().config.home
    home = Path(home) if home is not None else find_home()
    return home.resolve().parent


def definition_files(root: Path) -> list[Path]:
    """The ``*.py`` files of ``root/features`` (sorted), every one checked to stay inside."""
    folder = root / FOLDER
    if not folder.exists():
        return []
    real_root = root.resolve()
    if not _inside(folder.resolve(), real_root):
        raise UsageError(f"{FOLDER}/ leads outside the project ({real_root}): refusing to load it")
    out = []
    for p in sorted(folder.glob("*.py")):
        if p.name.startswith(("_", ".")):
            continue
        real = p.resolve()
        if not _inside(real, real_root) or not real.is_file():
            raise UsageError(f"{FOLDER}/{p.name} leads outside the project: refusing to load it")
        out.append(p)
    return out


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def load_views(root: Path, only: str | os.PathLike[str] | None = None) -> dict[str, FeatureView]:
    """Every view defined in the project's definition files, by name.

    ``only`` restricts loading to one file, which must be one of those files.
    """
    files = definition_files(root)
    if only is not None:
        wanted = (root / only).resolve() if not Path(only).is_absolute() else Path(only).resolve()
        match = [p for p in files if p.resolve() == wanted]
        if not match:
            raise UsageError(
                f"{str(only)!r} is not a definition file of this project; files: "
                + (", ".join(f"{FOLDER}/{p.name}" for p in files) or f"none under {root / FOLDER}")
            )
        files = match
    # the same file contents are not executed again (a server computing raw inputs
    # calls this per request); any edit, even of the same size, is a new key
    from blake3 import blake3

    key = tuple((str(p), blake3(p.read_bytes()).hexdigest()) for p in files)
    with _LOCK:
        if key in _LOADED:
            return dict(_LOADED[key])
    views: dict[str, FeatureView] = {}
    for path in files:
        rel = f"{FOLDER}/{path.name}"
        for v in _load_file(path):
            if v.name in views:
                raise UsageError(
                    f"feature view {v.name!r} is defined twice: in {views[v.name].path} and {rel}"
                )
            views[v.name] = FeatureView(**{**v.__dict__, "path": rel})
    with _LOCK:
        _LOADED[key] = views
        while len(_LOADED) > 8:
            _LOADED.pop(next(iter(_LOADED)))
    return dict(views)


def _load_file(path: Path) -> list[FeatureView]:
    mod_name = f"mlops_features_{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise UsageError(f"cannot load {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # inspect.getsource finds functions through it
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's code: report it as theirs, in one line
        sys.modules.pop(mod_name, None)
        raise UsageError(
            f"{FOLDER}/{path.name} failed to load: {type(e).__name__}: {e}"
        ) from e
    return [v for v in vars(module).values() if isinstance(v, FeatureView)]
