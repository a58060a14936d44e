"""The tours say what their code does (issue 10: the registry tour's promotion rule)."""

from __future__ import annotations

import json
import re
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _cells(name: str) -> list[tuple[str, str]]:
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]


def test_registry_tour_text_and_code_agree_on_the_promotion_rule() -> None:
    cells = _cells("registry.ipynb")
    text = " ".join(src for kind, src in cells if kind == "markdown")
    code = " ".join(src for kind, src in cells if kind == "code")
    said = re.search(r"production needs `auc >= ([0-9.]+)`", text)
    done = re.search(r'set_rules\("churn", "production", require=\["auc>=([0-9.]+)"\]', code)
    assert said and done, "the tour must state and set the production rule"
    assert float(said.group(1)) == float(done.group(1))
    beat = re.search(r'beat="(\w+)"', code)
    assert beat and "beat its current holder" in text
