"""Mask secrets in a job's output notebook before it is stored.

papermill writes the injected parameters into the notebook (``password = "…"``) and a
failing cell may print a secret in its traceback. The notebook is rewritten with every
cell source and text output passed through :func:`mlops_jupyter.redact.redact`, and the
exact values of secret-named parameters masked wherever they appear.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_jupyter.redact import MASK, is_secret_key, redact


def _scrub_text(text: str, values: list[str]) -> str:
    for v in values:
        text = text.replace(v, MASK)
    return redact(text)


def _scrub(obj: Any, values: list[str]) -> Any:
    if isinstance(obj, str):
        return _scrub_text(obj, values)
    if isinstance(obj, list):
        return [_scrub(x, values) for x in obj]
    if isinstance(obj, dict):
        return {k: _scrub(v, values) for k, v in obj.items()}
    return obj


def scrub_notebook(nb: dict[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of notebook JSON ``nb`` with secrets masked in sources and outputs."""
    values = sorted(
        {v for k, v in secrets.items() if isinstance(v, str) and len(v) >= 4 and is_secret_key(k)},
        key=len, reverse=True,
    )
    out = dict(nb)
    cells = []
    for cell in nb.get("cells", []):
        c = dict(cell)
        if "source" in c:
            c["source"] = _scrub(c["source"], values)
        if "outputs" in c:
            c["outputs"] = _scrub(c["outputs"], values)
        cells.append(c)
    out["cells"] = cells
    return out


def scrub_notebook_file(path: str | os.PathLike[str], secrets: Mapping[str, Any]) -> None:
    """Rewrite a notebook file in place (atomically) with secrets masked."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    clean = scrub_notebook(nb, secrets)
    if clean == nb:
        return
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(clean, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
