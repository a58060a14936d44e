"""Rendering helpers shared by every rich display (static HTML that survives nbconvert).

All user text passes through :func:`esc`; nothing here builds HTML from unescaped input.
Live ipywidgets panels live in :mod:`mlops_jupyter.widgets` and embed this HTML.
"""

from mlops_jupyter.display.html import (
    CSS,
    badge,
    card,
    esc,
    fmt_duration,
    fmt_value,
    kv_table,
    sparkline_svg,
    table,
)

__all__ = [
    "CSS",
    "badge",
    "card",
    "esc",
    "fmt_duration",
    "fmt_value",
    "kv_table",
    "sparkline_svg",
    "table",
]
