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


def _secret_values(secrets: Mapping[str, Any]) -> list[str]:
    return sorted(
        {v for k, v in secrets.items() if isinstance(v, str) and len(v) >= 4 and is_secret_key(k)},
        key=len, reverse=True,
    )


def scrub_value(obj: Any, secrets: Mapping[str, Any]) -> Any:
    """``obj`` (text, or lists and dicts of it) with secrets masked."""
    return _scrub(obj, _secret_values(secrets))


def scrub_notebook(nb: dict[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of notebook JSON ``nb`` with secrets masked everywhere: cell sources,
    outputs, and metadata (papermill keeps the injected parameters there too)."""
    return _scrub(nb, _secret_values(secrets))


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
