"""The one way tests write a template notebook: a tagged parameters cell, then the body."""

from __future__ import annotations

from pathlib import Path

import nbformat


def template(path: Path, params: str, *bodies: str) -> Path:
    """Write a python3 notebook at ``path``: ``params`` as the papermill-tagged
    parameters cell, then one code cell per body; returns ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, *(nbformat.v4.new_code_cell(b) for b in bodies)]
    nbformat.write(nb, str(path))
    return path
