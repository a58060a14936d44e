"""Finding templates: a name (``train``) or a path to a notebook.

Search order for a name, first match wins (so a team can override a built-in):

1. folders given explicitly (``--path DIR``, ``paths=[...]``);
2. folders in ``MLOPS_TEMPLATES`` (``os.pathsep``-separated, a team's shared folder);
3. the templates shipped with the package: ``mlops_jupyter/_templates`` in a wheel, or
   the repository's ``templates/`` folder in an editable install.

A value that names an existing ``.ipynb`` file (or contains a path separator) is used as
a path instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import NotFoundError, UsageError
from mlops_jupyter.jobs.parameters import Param, ParametersCell, inspect_notebook

ENV_TEMPLATES = "MLOPS_TEMPLATES"
MAX_TEMPLATE_BYTES = 50 << 20


@dataclass
class Template:
    """A notebook that can run as a job."""

    name: str
    path: Path
    source: str  # builtin | team | path | <folder given>
    description: str = ""
    parameters: ParametersCell = field(default_factory=lambda: ParametersCell(False, None, {}))

    @property
    def params(self) -> dict[str, Param]:
        return self.parameters.params

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def _repr_html_(self) -> str:
        from mlops_jupyter.jobs.display import template_card

        return template_card(self)


def builtin_dirs() -> list[Path]:
    """The packaged templates, then the repository's (editable install)."""
    pkg = Path(__file__).resolve().parent.parent
    out = []
    for candidate in (pkg / "_templates", pkg.parent / "templates"):
        if candidate.is_dir() and candidate not in out:
            out.append(candidate)
    return out


def search_dirs(paths: list[str | os.PathLike[str]] | None = None) -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
    for p in paths or ():
        d = Path(p).expanduser()
        if not d.is_dir():
            raise UsageError(f"template folder {str(d)!r} does not exist or is not a folder")
        out.append((d.resolve(), str(p)))
    for p in (os.environ.get(ENV_TEMPLATES) or "").split(os.pathsep):
        if p.strip():
            d = Path(p.strip()).expanduser()
            if d.is_dir():
                out.append((d.resolve(), "team"))
    out.extend((d, "builtin") for d in builtin_dirs())
    return out


def read_notebook(path: Path) -> Any:
    """The notebook at ``path`` as an nbformat v4 node, or a clear UsageError."""
    import nbformat

    try:
        size = path.stat().st_size
    except OSError as e:
        raise NotFoundError(f"cannot read template {str(path)!r}: {e.strerror or e}") from None
    if size > MAX_TEMPLATE_BYTES:
        raise UsageError(f"template {str(path)!r} is larger than {MAX_TEMPLATE_BYTES >> 20} MB")
    try:
        data = path.read_text(encoding="utf-8")
        nb = nbformat.reads(data, as_version=4)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{str(path)!r} is not a readable Jupyter notebook: {str(e)[:200]}") from None
    if not isinstance(nb.get("cells"), list):
        raise UsageError(f"{str(path)!r} is not a Jupyter notebook (no cells)")
    return nb


def describe(nb: Any) -> str:
    """The first line of the first markdown cell, without heading marks."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            for line in src.splitlines():
                line = line.strip().lstrip("#").strip()
                if line:
                    return line
    return ""


def load(path: Path, name: str | None = None, source: str = "path") -> Template:
    nb = read_notebook(path)
    label = name or path.stem
    return Template(
        name=label, path=path, source=source, description=describe(nb),
        parameters=inspect_notebook(nb, where=f"template {label!r}"),
    )


def _looks_like_path(ref: str) -> bool:
    return ref.endswith(".ipynb") or os.sep in ref or "/" in ref or (os.altsep or "/") in ref


def resolve(ref: str | os.PathLike[str], paths: list[str | os.PathLike[str]] | None = None) -> Template:
    """The template named ``ref`` (a name or a notebook path)."""
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)
    if not isinstance(ref, str) or not ref.strip():
        raise UsageError(f"template must be a name such as 'train' or a notebook path, got {ref!r}")
    ref = ref.strip()
    if "\x00" in ref:
        raise UsageError("template name contains a NUL character")
    if _looks_like_path(ref) or Path(ref).is_file():
        p = Path(ref).expanduser()
        if not p.is_file():
            raise NotFoundError(f"template file {ref!r} does not exist")
        if p.suffix != ".ipynb":
            raise UsageError(f"template {ref!r} is not a notebook (.ipynb)")
        return load(p.resolve(), source="path")
    for folder, source in search_dirs(paths):
        candidate = folder / f"{ref}.ipynb"
        if candidate.is_file():
            return load(candidate, name=ref, source=source)
    known = sorted({t.name for t in discover(paths)})
    raise NotFoundError(
        f"no template named {ref!r}; templates: {', '.join(known) or '(none found)'} "
        f"(or give a path to a notebook; team folders come from --path or ${ENV_TEMPLATES})"
    )


def discover(paths: list[str | os.PathLike[str]] | None = None) -> list[Template]:
    """Every template visible from here, a shadowed name listed once (the winner)."""
    seen: dict[str, Template] = {}
    for folder, source in search_dirs(paths):
        for nb_path in sorted(folder.glob("*.ipynb")):
            name = nb_path.stem
            if name in seen or name.startswith((".", "_")):
                continue
            try:
                seen[name] = load(nb_path, name=name, source=source)
            except (UsageError, NotFoundError, json.JSONDecodeError) as e:
                seen[name] = Template(name=name, path=nb_path, source=source,
                                      description=f"(unreadable: {e})")
    return list(seen.values())
