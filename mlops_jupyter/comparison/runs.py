"""Runs side by side (``mj.compare(run_a, run_b)``, ``%mlops compare RUN RUN``).

Static HTML (overview, differing parameters, metrics with the best run marked) and one
chart output: each metric's curve over steps with axes, ticks, a legend and tooltips;
metrics with a single value per run drawn as labelled dots, not as empty line charts;
parallel coordinates (numeric parameters -> a metric) from three runs on. One colour
per run in every chart (one colour scale built from the run labels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_jupyter.display import charts as ch
from mlops_jupyter.display.runs import compare_html, metric_direction
from mlops_jupyter.errors import UsageError

__all__ = ["RunsComparison", "run_label", "runs_chart"]

MAX_POINTS = 400
MAX_CURVE_CHARTS = 6


def run_label(run: Any) -> str:
    return f"{run.id[:8]} {run.name or ''}".strip()


def _thin(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    pts = [(s, v) for s, v in points if v is not None and math.isfinite(v)]
    if len(pts) <= MAX_POINTS:
        return pts
    stride = math.ceil(len(pts) / MAX_POINTS)
    out = pts[::stride]
    if out[-1] != pts[-1]:
        out.append(pts[-1])
    return out


def runs_chart(runs: Sequence[Any], histories: Mapping[str, Mapping[str, Sequence[tuple[float, float]]]],
               metrics: Sequence[str] | None = None) -> ch.Chart | None:
    """Metric curves (several steps), labelled dots (one value per run), and parallel
    coordinates (from 3 runs with numeric parameters)."""
    labels = [run_label(r) for r in runs]
    scale = ch.color_scale(labels)
    keys = sorted({k for r in runs for k in r.metrics})
    if metrics:
        keys = [k for k in keys if k in set(metrics)]
    specs: list[dict[str, Any]] = []
    single = []
    for k in keys:
        series = {lab: _thin(histories.get(r.id, {}).get(k, [])) for r, lab in zip(runs, labels, strict=True)}
        if max((len(v) for v in series.values()), default=0) <= 1:
            for r, lab in zip(runs, labels, strict=True):
                if k in r.metrics and math.isfinite(r.metrics[k].last):
                    single.append({"run": lab, "metric": k, "value": r.metrics[k].last})
            continue
        if len(specs) >= MAX_CURVE_CHARTS:
            continue
        data = [{"run": lab, "step": s, "value": v} for lab, pts in series.items() for s, v in pts]
        specs.append(ch.lines(data, x="step", y="value", color="run", title=k, y_title=k,
                              scale=scale, points=len(data) < 60))
    if single:
        spec = ch.dots(single, x="value", y="metric", color="run", title="single-value metrics",
                       scale=scale)
        spec["layer"][0]["encoding"]["y"] = {"field": "metric", "type": "nominal", "title": None}
        specs.append(spec)
    pc = _parallel(runs, keys)
    if pc is not None:
        specs.append(pc)
    if not specs:
        return None
    return ch.Chart(ch.concat(specs, columns=2), title="runs: " + ", ".join(labels))


def _parallel(runs: Sequence[Any], keys: Sequence[str]) -> dict[str, Any] | None:
    if len(runs) < 3 or not keys:
        return None
    numeric: dict[str, list[float]] = {}
    for p in sorted({k for r in runs for k in r.params}):
        vals = []
        for r in runs:
            try:
                vals.append(float(r.params[p]))
            except (KeyError, ValueError, TypeError):
                break
        if len(vals) == len(runs) and len(set(vals)) > 1:
            numeric[p] = vals
    target = keys[0]
    if not numeric or not all(target in r.metrics for r in runs):
        return None
    dims = list(numeric)[:8] + [target]
    rows = []
    for i, r in enumerate(runs):
        row = {p: numeric[p][i] for p in dims[:-1]}
        best = getattr(r.metrics[target], metric_direction(target))
        row[target] = best
        rows.append(row)
    return ch.parallel_coordinates(rows, dims, color=target,
                                   title=f"parameters → {target}")


class RunsComparison:
    """Runs side by side; ``.runs`` are the ``Run`` entities, ``.to_frame()`` one row each."""

    def __init__(self, runs: Sequence[Any], metrics: Sequence[str] | None = None,
                 differing: bool = False) -> None:
        from mlops_jupyter.tracking.query import get_run, metric_history

        self.runs = [r if hasattr(r, "metrics") else get_run(r) for r in runs]
        self.metrics = list(metrics) if metrics else None
        self.differing = differing
        if self.metrics:
            known = {k for r in self.runs for k in r.metrics}
            unknown = [m for m in self.metrics if m not in known]
            if unknown:
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

    def to_frame(self) -> Any:
        import pandas as pd

        rows = []
        for r in self.runs:
            row: dict[str, Any] = {"run_id": r.id, "name": r.name, "status": r.status}
            row.update({f"metrics.{k}": m.last for k, m in r.metrics.items()})
            row.update({f"params.{k}": v for k, v in r.params.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_html(self) -> str:
        return compare_html(self.runs, self.histories, metrics=self.metrics,
                            differing=self.differing, curves=False)

    def chart(self) -> ch.Chart | None:
        return runs_chart(self.runs, self.histories, self.metrics)

    def _repr_html_(self) -> str:
        c = self.chart()
        return self.to_html() + (c.to_html() if c is not None else "")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display({"text/html": self.to_html(), "text/plain": repr(self)}, raw=True)
        c = self.chart()
        if c is not None:
            display(c)

    def __repr__(self) -> str:
        return "<RunsComparison " + " ".join(r.id[:8] for r in self.runs) + ">"
