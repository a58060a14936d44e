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
    box = w.VBox([w.HTML(f'{CSS}<div class="mj"><h4>{title_html}</h4></div>'), tab])
    static = (f'{CSS}<div class="mj"><h4>{title_html}</h4>'
              + "".join(f"<h4>{label}</h4>{html}" for label, html in shown) + "</div>")
    return with_static(box, static)


def with_static(box: Any, html: Any) -> Any:
    """Make a widget's output carry ``text/html`` beside the widget view.

    ``html`` is a string or a function returning one (called when the output is made,
    so it shows the panel's state then). nbconvert drops a widget view that has no saved
    state and falls back to this HTML; without it, only ``VBox(...)`` text remains.
    """
    plain = getattr(box, "_mj_plain_bundle", None) or box._repr_mimebundle_
    box._mj_plain_bundle = plain

    def bundle(**kwargs: Any) -> Any:
        out = plain(**kwargs)
        if out is None:
            return out
        data = out[0] if isinstance(out, tuple) else out
        data["text/html"] = html() if callable(html) else html
        return out

    box._repr_mimebundle_ = bundle
    return box


def split_display(box: Any, controls: Any, content: Any, label: str) -> Any:
    """Show ``box`` as a plain HTML output (the ``content`` widget's HTML, kept up to
    date through its display id) followed by the ``controls`` widget alone.

    The content then lives in a static output that a saved notebook, an nbconvert or
    papermill export show with or without widget state; only the control bar needs a
    live kernel. ``box`` stays a normal widget for code that inspects its children.
    """
    import uuid

    def show() -> None:
        from IPython.display import display, update_display

        did = f"mj-{uuid.uuid4().hex}"
        display({"text/html": content.value, "text/plain": label}, raw=True, display_id=did)
        display(with_static(controls, f'<div class="mj-dim">[{label}: the controls need a '
                                      "live kernel]</div>"))

        def refresh(change: Any) -> None:
            update_display({"text/html": change["new"], "text/plain": label}, raw=True,
                           display_id=did)

        content.observe(refresh, names="value")

    box._ipython_display_ = show
    return box


__all__ = ["split_display", "tabs", "with_static"]
