"""The runs table (``%mlops runs``) and the runs comparison, static first.

Displaying a view shows plain outputs only — the static ``text/html`` and, for a sweep,
a Vega-Lite chart (parallel coordinates) with its static SVG — never a widget: in a
trusted notebook the widget MIME type outranks every other output, and reopened without
its kernel (no saved widget state) it becomes "Error displaying widget: model not found"
(ipywidgets#3773). ``.widget()`` gives the interactive panel on request (sort, filter,
limit, differing params); its bundle carries the static HTML too, so nbconvert and
papermill outputs show the table instead of ``VBox(...)``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops_jupyter.comparison.runs import RunsComparison
from mlops_jupyter.display.html import esc
from mlops_jupyter.display.panel import split_display, with_static
from mlops_jupyter.display.runs import runs_table_html

if TYPE_CHECKING:
    import pandas as pd


__all__ = ["CompareView", "RunsView", "live_kernel"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
MAX_CHART_RUNS = 500


def live_kernel() -> bool:
    """True inside an ipykernel that can talk to widgets (not a terminal IPython)."""
    ip_mod = sys.modules.get("IPython")
    ip = ip_mod.get_ipython() if ip_mod is not None else None
    if ip is None or getattr(ip, "kernel", None) is None:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class _View:
    _widget: Any = None

    def to_html(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_widget(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def widget(self) -> Any:
        """The interactive panel (built once); its output also carries the static HTML."""
        if self._widget is None:
            self._widget = with_static(self._build_widget(), self.to_html)
        return self._widget

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": repr(self), "text/html": self.to_html()}


class RunsView(_View):
    """The runs table (``%mlops runs``); ``.df`` is the underlying DataFrame."""

    def __init__(
        self, experiment: str | None = None, sort: str | None = None,
        ascending: bool | None = None, filter: str | None = None,  # noqa: A002
        limit: int | None = 100, differing: bool | None = None,
    ) -> None:
        self.experiment = experiment
        self.sort = sort
        self.ascending = ascending
        self.filter = filter
        self.limit = limit
        self.differing = differing
        self.total = 0
        self.df = self._query()

    def _query(self) -> pd.DataFrame:
        from mlops_jupyter.display.runs import metric_direction
        from mlops_jupyter.tracking.query import BASE_COLUMNS, runs

        ascending = self.ascending
        if ascending is None and self.sort and self.sort not in BASE_COLUMNS:
            ascending = metric_direction(self.sort) == "min"  # best first
        df = runs(self.experiment, self.filter, sort=self.sort, ascending=ascending)
        self.total = len(df)
        return df.head(self.limit) if self.limit else df

    def _note(self) -> str | None:
        bits = []
        if self.experiment:
            bits.append(f"experiment {self.experiment}")
        if self.filter:
            bits.append(f"filter {self.filter}")
        if self.sort:
            bits.append(f"sorted by {self.sort}")
        if self.limit and self.total > self.limit:
            bits.append(f"first {self.limit} of {self.total}")
        return " · ".join(bits) or None

    def to_html(self) -> str:
        return runs_table_html(self.df, differing=self.differing, note=self._note())

    def chart(self) -> Any:
        """Parallel coordinates (numeric parameters -> the sorted, else first, metric)
        over the runs shown, or None with fewer than 3 runs or no varying parameter."""
        from mlops_jupyter.display import charts as ch
        from mlops_jupyter.display.runs import metric_direction

        df = self.df.head(MAX_CHART_RUNS)
        metrics = [c[8:] for c in df.columns
                   if c.startswith("metrics.") and not c.endswith((".min", ".max"))]
        if len(df) < 3 or not metrics:
            return None
        target = self.sort if self.sort in metrics else metrics[0]
        col = f"metrics.{target}.{metric_direction(target)}"
        col = col if col in df.columns else f"metrics.{target}"
        import pandas as pd

        dims = []
        for c in (c for c in df.columns if c.startswith("params.")):
            v = pd.to_numeric(df[c], errors="coerce")
            if v.notna().all() and v.nunique() > 1:
                dims.append(c)
        if not dims:
            return None
        dims = dims[:8]
        rows = [{**{d[7:]: float(v) for d, v in zip(dims, vals[:-1], strict=True)},
                 target: None if pd.isna(vals[-1]) else float(vals[-1])}
                for vals in df[[*dims, col]].apply(pd.to_numeric, errors="coerce").itertuples(index=False)]
        spec = ch.parallel_coordinates(rows, [d[7:] for d in dims] + [target], color=target,
                                       title=f"parameters → {target} ({len(rows)} runs)")
        return ch.Chart(ch.concat([spec]), title=f"parallel coordinates → {target}")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        chart = self.chart()
        if chart is not None:
            display(chart)

    def __repr__(self) -> str:
        return f"<RunsView {len(self.df)} runs{' · ' + self._note() if self._note() else ''}>"

    def _build_widget(self) -> Any:
        import ipywidgets as w

        metric_cols = [
            c[8:] for c in self.df.columns
            if c.startswith("metrics.") and not c.endswith((".min", ".max"))
        ]
        sort_options = [("newest first", "")] + [(m, m) for m in metric_cols] + [
            ("name", "name"), ("duration", "duration_s"), ("status", "status"),
        ]
        sort = w.Dropdown(options=sort_options, value=self.sort if self.sort in {v for _, v in sort_options} else "",
                          description="sort", layout=w.Layout(width="220px"))
        # string values: a Dropdown whose value is None shows a blank box
        order_of = {None: "best", True: "asc", False: "desc"}
        asc = w.Dropdown(options=[("best first", "best"), ("ascending", "asc"), ("descending", "desc")],
                         value=order_of.get(self.ascending, "best"), layout=w.Layout(width="120px"))
        filt = w.Text(value=self.filter or "", placeholder="metrics.auc > 0.8 and params.model == 'rf'",
                      description="filter", continuous_update=False, layout=w.Layout(width="380px"))
        limit = w.BoundedIntText(value=self.limit or 100, min=1, max=100_000, description="limit",
                                 layout=w.Layout(width="150px"))
        diff = w.Checkbox(value=bool(self.differing), description="differing params only", indent=False)
        out = w.HTML(value=self.to_html())

        def refresh(_change: Any = None) -> None:
            self.sort = sort.value or None
            self.ascending = {"best": None, "asc": True, "desc": False}[asc.value]
            self.filter = filt.value.strip() or None
            self.limit = limit.value
            self.differing = diff.value
            try:
                self.df = self._query()
                out.value = self.to_html()
            except Exception as e:  # noqa: BLE001 - a bad filter is shown, not raised
                out.value = f'<div class="mj"><span style="color:#c62828">{esc(e)}</span></div>' + out.value

        for control in (sort, asc, filt, limit, diff):
            control.observe(refresh, names="value")
        refresh_btn = w.Button(description="refresh", layout=w.Layout(width="90px"),
                               tooltip="re-read the store")
        refresh_btn.on_click(lambda _b: refresh())
        bar = w.HBox([sort, asc, limit, diff, refresh_btn])
        box = w.VBox([bar, filt, out])
        return split_display(box, w.VBox([bar, filt]), out, "runs table")


class CompareView(RunsComparison):
    """Runs side by side (``%mlops compare RUN RUN``) with ``.widget()``: pick the
    plotted metrics, show differing parameters only."""

    _widget: Any = None

    def __init__(self, refs: Sequence[str], metrics: Sequence[str] | None = None,
                 differing: bool = False) -> None:
        from mlops_jupyter.tracking.query import get_run

        super().__init__([get_run(r) for r in refs], metrics=metrics, differing=differing)

    def _panel_html(self) -> str:
        c = self.chart()
        return self.to_html() + (c.to_html() if c is not None else "")

    def widget(self) -> Any:
        if self._widget is None:
            self._widget = with_static(self._build_widget(), self._panel_html)
        return self._widget

    def _build_widget(self) -> Any:
        import ipywidgets as w

        keys = sorted({k for r in self.runs for k in r.metrics})
        pick = w.SelectMultiple(options=keys, value=tuple(self.metrics or keys),
                                description="metrics", rows=min(6, max(2, len(keys))))
        diff = w.Checkbox(value=self.differing, description="differing params only", indent=False)
        out = w.HTML(value=self._panel_html())

        def refresh(_change: Any = None) -> None:
            self.metrics = list(pick.value) or None
            self.differing = diff.value
            out.value = self._panel_html()

        pick.observe(refresh, names="value")
        diff.observe(refresh, names="value")
        bar = w.HBox([pick, diff])
        return split_display(w.VBox([bar, out]), bar, out, "runs comparison")
