"""Live panels for ``%mlops runs`` and ``%mlops compare``, with a static fallback.

Each view's ``_repr_mimebundle_`` returns ``text/plain`` and the static ``text/html``
(what papermill/nbconvert outputs keep and what nbconvert shows when no widget state was
saved) and, in a live ipykernel with ipywidgets, the widget view as well, which a live
front end renders in preference: controls to sort, filter, limit and show differing
parameters only (runs), or to choose the plotted metrics (compare).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops_jupyter.display.html import esc
from mlops_jupyter.display.runs import compare_html, runs_table_html

if TYPE_CHECKING:
    import pandas as pd

    from mlops_jupyter.store.entities import Run

__all__ = ["CompareView", "RunsView", "live_kernel"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


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
        """The interactive panel (built once)."""
        if self._widget is None:
            self._widget = self._build_widget()
        return self._widget

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self), "text/html": self.to_html()}
        if live_kernel():
            try:
                wb = self.widget()._repr_mimebundle_()
            except Exception:  # noqa: BLE001 - the static view is still there
                wb = None
            if wb and WIDGET_MIME in wb:
                bundle[WIDGET_MIME] = wb[WIDGET_MIME]
        return bundle


class RunsView(_View):
    """The runs table (``%mlops runs``); ``.df`` is the underlying DataFrame."""

    def __init__(
        self, experiment: str | None = None, sort: str | None = None,
        ascending: bool | None = None, filter: str | None = None,  # noqa: A002
        limit: int | None = 100, differing: bool = False,
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
        asc = w.Dropdown(options=[("best first", None), ("ascending", True), ("descending", False)],
                         value=self.ascending, layout=w.Layout(width="120px"))
        filt = w.Text(value=self.filter or "", placeholder="metrics.auc > 0.8 and params.model == 'rf'",
                      description="filter", continuous_update=False, layout=w.Layout(width="380px"))
        limit = w.BoundedIntText(value=self.limit or 100, min=1, max=100_000, description="limit",
                                 layout=w.Layout(width="150px"))
        diff = w.Checkbox(value=self.differing, description="differing params only", indent=False)
        out = w.HTML(value=self.to_html())

        def refresh(_change: Any = None) -> None:
            self.sort = sort.value or None
            self.ascending = asc.value
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
        return w.VBox([w.HBox([sort, asc, limit, diff, refresh_btn]), filt, out])


class CompareView(_View):
    """Runs side by side (``%mlops compare``); ``.runs`` are the ``Run`` entities."""

    def __init__(self, refs: Sequence[str], metrics: Sequence[str] | None = None,
                 differing: bool = False) -> None:
        from mlops_jupyter.tracking.query import get_run, metric_history

        self.runs: list[Run] = [get_run(r) for r in refs]
        self.metrics = list(metrics) if metrics else None
        self.differing = differing
        if self.metrics:
            known = {k for r in self.runs for k in r.metrics}
            unknown = [m for m in self.metrics if m not in known]
            if unknown:
                from mlops_jupyter.errors import UsageError

                raise UsageError(
                    f"no metric {', '.join(map(repr, unknown))} in these runs; metrics: "
                    f"{', '.join(sorted(known)) or '(none)'}"
                )
        self.histories: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for r in self.runs:
            series: dict[str, list[tuple[float, float]]] = {}
            for p in metric_history(r.id):
                series.setdefault(p.key, []).append((p.step, p.value))
            self.histories[r.id] = series

    def to_html(self) -> str:
        return compare_html(self.runs, self.histories, metrics=self.metrics,
                            differing=self.differing)

    def __repr__(self) -> str:
        return "<CompareView " + " ".join(r.short_id for r in self.runs) + ">"

    def _build_widget(self) -> Any:
        import ipywidgets as w

        keys = sorted({k for r in self.runs for k in r.metrics})
        pick = w.SelectMultiple(options=keys, value=tuple(self.metrics or keys),
                                description="metrics", rows=min(6, max(2, len(keys))))
        diff = w.Checkbox(value=self.differing, description="differing params only", indent=False)
        out = w.HTML(value=self.to_html())

        def refresh(_change: Any = None) -> None:
            self.metrics = list(pick.value) or None
            self.differing = diff.value
            out.value = self.to_html()

        pick.observe(refresh, names="value")
        diff.observe(refresh, names="value")
        return w.VBox([w.HBox([pick, diff]), out])
