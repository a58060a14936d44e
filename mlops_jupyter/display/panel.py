"""A live panel from static sections: each object's HTML, one tab per section.

Domain objects (model cards, jobs) keep one source of truth — their escaped HTML
sections — and offer both views from it: ``_repr_html_`` joins the sections (what
executed notebooks keep), ``.widget()`` puts them in ipywidgets tabs for a live kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlops_jupyter.display.html import CSS


def tabs(title_html: str, sections: Sequence[tuple[str, str]]) -> Any:
    """An ipywidgets panel: the title, then one tab per non-empty (label, html) section."""
    import ipywidgets as w

    shown = [(label, html) for label, html in sections if html]
    tab = w.Tab(children=[w.HTML(f'{CSS}<div class="mj">{html}</div>') for _, html in shown])
    tab.titles = tuple(label for label, _ in shown)
    return w.VBox([w.HTML(f'{CSS}<div class="mj"><h4>{title_html}</h4></div>'), tab])


__all__ = ["tabs"]
