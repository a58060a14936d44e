"""The ``Comparison`` object: numbers, a verdict in words, and its displays.

Display (why it is built this way, ANCHORS.md): content lives in plain static outputs —
one HTML output (verdict, metric table with intervals, slices, disagreements, lineage)
and one chart output (Vega-Lite v5 with a static SVG beside it). No widget, so a saved
notebook reopened without its kernel, an nbconvert export and a papermill output show
exactly what the live notebook showed. The chart's dropdowns (metric, slice column) are
Vega-Lite parameters: they work in the browser with or without a kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Comparison", "MetricDelta", "SliceRow", "METRIC_NAMES"]

METRIC_NAMES = {
    "roc_auc": "ROC AUC", "pr_auc": "PR AUC", "accuracy": "accuracy", "f1": "F1",
    "log_loss": "log loss", "brier": "Brier score", "rmse": "RMSE", "mae": "MAE", "r2": "R²",
}


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def _signed(x: float, digits: int = 3) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:+.{digits}f}"


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


@dataclass
class MetricDelta:
    """Challenger minus baseline on one metric, with its paired interval and test."""

    metric: str
    baseline: str
    challenger: str
    delta: float
    lo: float
    hi: float
    p_value: float
    test: str
    higher_is_better: bool
    significant: bool

    @property
    def better(self) -> str | None:
        """The label of the significantly better model, or None."""
        if not self.significant or self.delta == 0:
            return None
        up = self.delta > 0
        return self.challenger if up == self.higher_is_better else self.baseline

    def sentence(self, alpha: float = 0.05) -> str:
        name = METRIC_NAMES.get(self.metric, self.metric)
        level = round(100 * (1 - alpha))
        ci = f"{_signed(self.delta)}, {level}% CI [{_fmt(self.lo)}, {_fmt(self.hi)}]"
        test = f"{self.test.split(' (')[0]} p {'=' if self.p_value >= 0.001 else ''}{_p(self.p_value)}"
        if self.better is None:
            return (f"No significant difference between {self.challenger} and {self.baseline} "
                    f"on {name}: {ci} ({test}).")
        worse = self.baseline if self.better == self.challenger else self.challenger
        return f"{self.better} is better than {worse} on {name}: {ci} ({test})."


@dataclass
class SliceRow:
    column: str
    value: str
    n: int
    metric: str
    baseline: float
    challenger: float
    delta: float
    p_value: float
    p_adjusted: float
    challenger_label: str


@dataclass
class Comparison:
    """Models scored on one holdout. ``to_frame()`` has one row per model; ``deltas``
    the paired differences; ``winner`` the model significantly better on the primary
    metric (None: no significant difference); ``verdict`` says it in words."""

    labels: list[str]
    refs: list[str | None]
    task: str
    classes: list[str]
    n_rows: int
    label: str
    holdout: str
    metrics: list[str]
    higher_is_better: dict[str, bool]
    primary: str
    point: list[dict[str, float]]
    ci: list[dict[str, tuple[float, float]]]
    deltas: list[MetricDelta]
    alpha: float
    n_boot: int
    slices: list[SliceRow]
    slice_columns: list[str]
    correction: str
    disagreements: int
    disagreement_rows: Any
    notes: list[str]
    lineage: Any
    curves: dict[str, Any]
    seed: int = 0
    _chart: Any = field(default=None, repr=False)

    # -- numbers -----------------------------------------------------------------------
    def to_frame(self) -> Any:
        """One row per model: each metric and its interval bounds (``metric_lo``/``_hi``)."""
        import pandas as pd

        rows = []
        for j, lab in enumerate(self.labels):
            row: dict[str, Any] = {"model": lab, "ref": self.refs[j], "n": self.n_rows}
            for m in self.metrics:
                row[m] = self.point[j][m]
                row[f"{m}_lo"], row[f"{m}_hi"] = self.ci[j][m]
            rows.append(row)
        return pd.DataFrame(rows)

    def deltas_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{
            "metric": d.metric, "baseline": d.baseline, "challenger": d.challenger,
            "delta": d.delta, "lo": d.lo, "hi": d.hi, "p_value": d.p_value, "test": d.test,
            "significant": d.significant, "better": d.better,
        } for d in self.deltas])

    def slices_frame(self) -> Any:
        import pandas as pd

        cols = ["column", "value", "n", "metric", "baseline", "challenger", "delta",
                "p_value", "p_adjusted", "challenger_label"]
        return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in self.slices], columns=cols)

    def delta(self, metric: str | None = None, challenger: str | None = None) -> MetricDelta:
        metric = metric or self.primary
        for d in self.deltas:
            if d.metric == metric and (challenger is None or d.challenger == challenger):
                return d
        raise KeyError(f"no delta for {metric!r}; metrics: {', '.join(self.metrics)}")

    @property
    def winner(self) -> str | None:
        """The label of the model significantly better on the primary metric than every
        other (two models: than the other), else None."""
        prim = [d for d in self.deltas if d.metric == self.primary]
        if len(prim) == 1:
            return prim[0].better
        if prim and all(d.better == d.challenger for d in prim):
            return None  # several challengers beat the baseline: no single winner
        if prim and all(d.better == self.labels[0] for d in prim):
            return self.labels[0]
        return None

    @property
    def verdict(self) -> str:
        """The primary metric's difference in words, one sentence per challenger."""
        return " ".join(d.sentence(self.alpha) for d in self.deltas if d.metric == self.primary)

    def __repr__(self) -> str:
        return (f"<Comparison {' vs '.join(self.labels)} on {self.holdout} "
                f"({self.n_rows} rows): {self.verdict}>")

    # -- display -----------------------------------------------------------------------
    def chart(self) -> Any:
        """All charts in one Vega-Lite v5 output (live) with a static SVG beside it."""
        if self._chart is None:
            from mlops_jupyter.comparison.panels import comparison_chart

            self._chart = comparison_chart(self)
        return self._chart

    def to_html(self, charts: bool = False) -> str:
        """The static panel; ``charts=True`` inlines the charts' SVG (a standalone report)."""
        from mlops_jupyter.comparison.panels import comparison_html

        html = comparison_html(self)
        if charts:
            html += self.chart().to_html()
        return html

    def _repr_html_(self) -> str:
        return self.to_html(charts=True)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display({"text/html": self.to_html(), "text/plain": repr(self)}, raw=True)
        display(self.chart())
