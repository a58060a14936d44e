"""Static HTML and the Vega-Lite chart of a :class:`~mlops_jupyter.comparison.result.Comparison`.

Pure rendering from the comparison's numbers; every label, column name and value shown
goes through :func:`~mlops_jupyter.display.html.esc`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mlops_jupyter.comparison.result import METRIC_NAMES, _fmt, _p, _signed
from mlops_jupyter.display import charts as ch
from mlops_jupyter.display.html import CSS, esc, fmt_value

if TYPE_CHECKING:
    from mlops_jupyter.comparison.result import Comparison

__all__ = ["comparison_chart", "comparison_html"]

MAX_SLICE_ROWS = 30


def _name(m: str) -> str:
    return METRIC_NAMES.get(m, m)


def _verdict_html(c: Comparison) -> str:
    out = []
    for d in c.deltas:
        if d.metric != c.primary:
            continue
        color = "#2e7d32" if d.better == d.challenger else ("#c62828" if d.better else "#555")
        out.append(f'<div class="mj-verdict" style="font-size:14px;font-weight:600;color:{color}">'
                   f"{esc(d.sentence(c.alpha))}</div>")
    return "".join(out)


def _metric_table(c: Comparison) -> str:
    level = round(100 * (1 - c.alpha))
    head = "<th>metric</th>" + "".join(f"<th>{esc(lab)}</th>" for lab in c.labels)
    if len(c.labels) > 1:
        head += "".join(f"<th>Δ {esc(lab)} − {esc(c.labels[0])}</th><th>p</th>"
                        for lab in c.labels[1:])
    body = []
    for m in c.metrics:
        arrow = "↑" if c.higher_is_better[m] else "↓"
        cells = [f"<th>{esc(_name(m))} {arrow}</th>"]
        for j in range(len(c.labels)):
            lo, hi = c.ci[j][m]
            cells.append(f"<td>{esc(_fmt(c.point[j][m]))} <span class=\"mj-dim\">"
                         f"[{esc(_fmt(lo))}, {esc(_fmt(hi))}]</span></td>")
        for d in (d for d in c.deltas if d.metric == m):
            style = ""
            if d.better is not None:
                style = (' style="background:#e8f5e9"' if d.better == d.challenger
                         else ' style="background:#ffebee"')
            cells.append(f"<td{style} title=\"{esc(d.test)}\">{esc(_signed(d.delta))} "
                         f"<span class=\"mj-dim\">[{esc(_fmt(d.lo))}, {esc(_fmt(d.hi))}]</span></td>"
                         f"<td>{esc(_p(d.p_value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    boot = f"{c.n_boot:,} paired bootstrap resamples" if c.n_boot else "no bootstrap"
    auc = ("ROC AUC: DeLong" if c.task == "binary"
           else "ROC AUC: one-vs-rest, macro" if "roc_auc" in c.metrics else "")
    note = (f'<div class="mj-dim">{level}% intervals: {esc(boot)}{f" ({auc})" if auc else ""}; '
            f"accuracy difference: exact McNemar test.</div>")
    return (f'<table class="mj-t mj-metrics"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>{note}')


def _slices_html(c: Comparison) -> str:
    if not c.slices:
        return ""
    rows = c.slices[:MAX_SLICE_ROWS]
    multi = len(c.labels) > 2
    head = ("<th>slice</th><th>rows</th>" + ("<th>challenger</th>" if multi else "")
            + f"<th>{esc(c.labels[0])}</th><th>challenger</th><th>Δ</th><th>p ({esc(c.correction)})</th>")
    body = []
    for r in rows:
        worse = math.isfinite(r.delta) and (r.delta < 0) == c.higher_is_better[r.metric] and r.delta != 0
        sig = math.isfinite(r.p_adjusted) and r.p_adjusted < c.alpha
        style = ' style="background:#ffebee"' if worse and sig else ""
        body.append(
            f"<tr{style}><td>{esc(r.column)} = {esc(r.value)}</td><td>{r.n:,}</td>"
            + (f"<td>{esc(r.challenger_label)}</td>" if multi else "")
            + f"<td>{esc(_fmt(r.baseline))}</td><td>{esc(_fmt(r.challenger))}</td>"
            f"<td>{esc(_signed(r.delta))}</td><td>{esc(_p(r.p_adjusted))}</td></tr>")
    more = (f'<div class="mj-dim">{len(c.slices) - MAX_SLICE_ROWS} more slices in '
            "comparison.slices_frame()</div>" if len(c.slices) > MAX_SLICE_ROWS else "")
    return (f"<h4>{esc(_name(c.primary))} by slice <span class=\"mj-dim\">(challenger worse "
            f"first; red: significantly worse after {esc(c.correction)} correction)</span></h4>"
            f'<table class="mj-t mj-slices"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>{more}')


def _disagreement_html(c: Comparison) -> str:
    share = c.disagreements / c.n_rows if c.n_rows else 0.0
    what = ("predict different classes" if c.task != "regression"
            else "differ by more than 10% of the label's standard deviation")
    html = (f"<h4>Where they disagree</h4><div>{c.disagreements:,} of {c.n_rows:,} rows "
            f"({share:.1%}) {esc(what)}.</div>")
    df = c.disagreement_rows
    if df is not None and len(df):
        cols = list(df.columns)[-12:] if len(df.columns) > 12 else list(df.columns)
        head = "".join(f"<th>{esc(col)}</th>" for col in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(fmt_value(v, 4))}</td>" for v in row) + "</tr>"
            for row in df[cols].itertuples(index=False))
        html += (f'<table class="mj-t mj-disagree"><thead><tr>{head}</tr></thead>'
                 f"<tbody>{body}</tbody></table>")
    return html


def comparison_html(c: Comparison) -> str:
    title = " vs ".join(esc(lab) for lab in c.labels)
    parts = [f"<h4>Comparing {title} <span class=\"mj-dim\">on {esc(c.holdout)} · "
             f"{c.n_rows:,} rows · label {esc(c.label)} · {esc(c.task)}</span></h4>",
             _verdict_html(c), _metric_table(c)]
    if c.notes:
        parts.append('<div class="mj-dim">' + "<br>".join(esc(n) for n in c.notes) + "</div>")
    parts.append(_slices_html(c))
    if len(c.labels) > 1:
        parts.append(_disagreement_html(c))
    if c.lineage is not None:
        from mlops_jupyter.comparison.lineage import lineage_html

        parts.append(lineage_html(c.lineage))
    return f'{CSS}<div class="mj mj-compare"><div class="mj-card">{"".join(parts)}</div></div>'


def comparison_chart(c: Comparison) -> ch.Chart:
    scale = ch.color_scale(c.labels)
    specs: list[dict[str, Any]] = []
    rows = []
    for j, lab in enumerate(c.labels):
        for m in c.metrics:
            lo, hi = c.ci[j][m]
            rows.append({"model": lab, "metric": _name(m), "value": _r(c.point[j][m]),
                         "lo": _r(lo), "hi": _r(hi)})
    specs.append(ch.intervals(rows, group="metric", value="value", lo="lo", hi="hi",
                              color="model", title=f"Metrics with {round(100 * (1 - c.alpha))}% CI",
                              pick="metric", pick_name="metric_pick", scale=scale,
                              x_title="metric value"))
    cv = c.curves
    if "roc" in cv:
        data = [{"model": lab, "fpr": x, "tpr": y}
                for lab, pts in zip(c.labels, cv["roc"], strict=True) for x, y in pts]
        specs.append(ch.lines(data, x="fpr", y="tpr", color="model", title="ROC curve",
                              x_title="false positive rate", y_title="true positive rate",
                              scale=scale, diagonal=True, unit_domain=True))
        data = [{"model": lab, "recall": x, "precision": y}
                for lab, pts in zip(c.labels, cv["pr"], strict=True) for x, y in pts]
        specs.append(ch.lines(data, x="recall", y="precision", color="model",
                              title="Precision–recall curve", scale=scale, unit_domain=True))
        data = [{"model": lab, **b} for lab, bins in zip(c.labels, cv["calibration"], strict=True)
                for b in bins]
        cal = ch.dots(data, x="predicted", y="observed", color="model", lo="lo", hi="hi",
                      title="Calibration (Clopper–Pearson 95%)", x_title="mean predicted probability",
                      y_title="observed positive rate", scale=scale)
        cal["layer"].insert(0, {"data": {"values": [{"_d": 0}, {"_d": 1}]},
                                "mark": {"type": "line", "strokeDash": [4, 4], "color": "#aaa"},
                                "encoding": {"x": {"field": "_d", "type": "quantitative"},
                                             "y": {"field": "_d", "type": "quantitative"}}})
        specs.append(cal)
    if "confusion" in cv:
        data = [{"model": lab, "actual": c.classes[a], "predicted": c.classes[p], "count": int(n)}
                for lab, mat in zip(c.labels, cv["confusion"], strict=True)
                for a, row in enumerate(mat) for p, n in enumerate(row)]
        specs.append(ch.heatmaps(data, x="predicted", y="actual", value="count", facet="model",
                                 title="Confusion matrices",
                                 size=max(90, min(150, 300 // max(1, len(c.labels))))))
    if "residuals" in cv:
        data = [{"model": lab, "predicted": _r(p), "actual": _r(a), "residual": _r(a - p)}
                for lab, r in zip(c.labels, cv["residuals"], strict=True)
                for a, p in zip(r["actual"], r["predicted"], strict=True)]
        specs.append(ch.scatter(data, x="predicted", y="residual", color="model",
                                title="Residuals vs predicted", scale=scale, zero_rule="y"))
        specs.append(ch.scatter(data, x="actual", y="predicted", color="model",
                                title="Predicted vs actual", scale=scale, identity=True))
    if c.slices:
        data = [{"slice column": r.column, "slice": f"{r.value} (n={r.n})",
                 "delta": _r(r.delta), "challenger": r.challenger_label}
                for r in c.slices if math.isfinite(r.delta)]
        if data:
            specs.append(ch.bars(data, category="slice", value="delta", sign_colors=True,
                                 title=f"Δ {_name(c.primary)} by slice (challenger − baseline)",
                                 pick="slice column", pick_name="slice_pick"))
    return ch.Chart(ch.concat(specs, columns=2), title=f"comparison of {', '.join(c.labels)}")


def _r(x: float) -> float | None:
    return round(float(x), 5) if x is not None and math.isfinite(x) else None
