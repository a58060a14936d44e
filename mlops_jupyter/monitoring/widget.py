"""Live ipywidgets panel for a drift report (optional; ipywidgets imported lazily).

The panel filters the per-column table (all / drifted / schema) and shows one column
in detail. It renders from the same binned summaries as the static HTML, so it is as
light; the static HTML remains the notebook's default display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from .report import DriftReport

__all__ = ["drift_widget"]


def drift_widget(report: DriftReport):
    """Build the panel; raises UsageError when ipywidgets is not installed."""
    try:
        import ipywidgets as w
    except ImportError:  # pragma: no cover - ipywidgets is a dependency
        raise UsageError("the drift panel needs ipywidgets (pip install ipywidgets); "
                         "the static report is report._repr_html_()") from None
    from dataclasses import replace

    from .render import column_detail_html, report_html

    filt = w.ToggleButtons(options=["all", "drifted", "schema"], value="all",
                           description="show")
    names = [c.column for c in report.sorted_columns()]
    pick = w.Dropdown(options=names, description="column", value=names[0] if names else None)
    table_out = w.HTML()
    detail_out = w.HTML()

    def refresh_table(*_):
        cols = report.columns
        if filt.value == "drifted":
            cols = [c for c in cols if c.drifted]
        elif filt.value == "schema":
            cols = [c for c in cols if c.schema is not None]
        table_out.value = report_html(replace(report, columns=cols)) if cols else \
            "<i>no such columns</i>"

    def refresh_detail(*_):
        if pick.value is not None:
            detail_out.value = column_detail_html(report[pick.value])

    filt.observe(refresh_table, names="value")
    pick.observe(refresh_detail, names="value")
    refresh_table()
    refresh_detail()
    return w.VBox([filt, table_out, pick, detail_out])
