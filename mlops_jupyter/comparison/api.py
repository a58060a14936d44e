"""``mj.compare(...)``: models scored on one holdout with paired intervals, or runs side by side.

Models: every version is scored on the same rows; each metric gets a bootstrap
percentile interval, each difference a paired interval and test (paired bootstrap on one
shared resample; exact McNemar for accuracy; DeLong for ROC AUC), and the comparison
says in words whether the challenger (every model after the first) beats the baseline.
Runs: the runs panel (params, metrics, curves) — the same object ``%mlops compare``
shows for runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops_jupyter.comparison import stats as st
from mlops_jupyter.comparison.resolve import resolve_holdout, resolve_refs
from mlops_jupyter.comparison.result import Comparison, MetricDelta, SliceRow
from mlops_jupyter.comparison.score import Scored, score_all
from mlops_jupyter.errors import UsageError

__all__ = ["compare", "compare_models", "PRIMARY"]

#: the metric the verdict is about, per task
PRIMARY = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}
CORRECTIONS = ("holm", "bh")
MAX_SLICE_VALUES = 20


def compare(
    *refs: Any,
    holdout: Any = None,
    label: str | None = None,
    slices: Sequence[str] | str | None = None,
    metric: str | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    correction: str = "holm",
    seed: int = 0,
    names: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    differing: bool = False,
) -> Any:
    """Compare model versions on one holdout, or runs side by side.

    ``refs``: model refs (``churn@v3``, ``churn@production``), ``ModelVersion`` objects
    or fitted estimators — or runs (id, unique prefix, name, ``Run``). A mix is refused.
    The first model is the baseline (champion), the others challengers.

    Models: ``holdout`` is a dataset ref or a DataFrame and ``label`` its label column
    (default: the holdout recorded with a version, tags ``holdout`` and ``label``).
    ``slices``: columns to break the primary ``metric`` down by (categorical columns by
    value, numeric ones in quartiles), p-values corrected with ``correction``
    (``holm`` or ``bh``). Returns a :class:`Comparison` (``.to_frame()``, ``.winner``,
    ``.deltas``, rich display).

    Runs: ``metrics`` limits the plotted metrics, ``differing`` shows only the
    parameters that differ. Returns the runs comparison panel.
    """
    cands = resolve_refs(refs, names)
    if cands[0].kind == "run":
        if holdout is not None or label or slices:
            raise UsageError("compare: holdout, label and slices apply to models; runs are "
                             "compared by their logged params and metrics")
        from mlops_jupyter.comparison.runs import RunsComparison

        return RunsComparison([c.obj for c in cands], metrics=metrics, differing=differing)
    return compare_models(cands, holdout=holdout, label=label, slices=slices, metric=metric,
                          n_boot=n_boot, alpha=alpha, correction=correction, seed=seed)


def _check_options(n_boot: int, alpha: float, correction: str) -> None:
    if not isinstance(n_boot, int) or isinstance(n_boot, bool) or not 0 <= n_boot <= 100_000:
        raise UsageError(f"compare: n_boot must be an integer from 0 to 100000, got {n_boot!r}")
    if not isinstance(alpha, float | int) or not 0 < alpha < 0.5:
        raise UsageError(f"compare: alpha must be between 0 and 0.5, got {alpha!r}")
    if correction not in CORRECTIONS:
        raise UsageError(f"compare: correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")


def compare_models(cands: list[Any], *, holdout: Any, label: str | None, slices: Any,
                   metric: str | None, n_boot: int, alpha: float, correction: str,
                   seed: int) -> Comparison:
    _check_options(n_boot, alpha, correction)
    frame, label, source = resolve_holdout(cands, holdout, label)
    slice_cols = _slice_columns(slices, frame, label)
    sc = score_all(cands, frame, label, extra=slice_cols)
    higher = st.REGRESSION_METRICS if sc.task == "regression" else st.CLASSIFICATION_METRICS
    # each model's rows sorted by score once: point AUCs, DeLong, curves, slices, bootstrap
    orders = ([st.descending(p) for p in sc.probas]
              if sc.task == "binary" and all(p is not None for p in sc.probas) else None)
    point = [st.point_metrics("regression" if sc.task == "regression" else "classification",
                              sc.y, p, pr, None if orders is None else orders[j])
             for j, (p, pr) in enumerate(zip(sc.probas, sc.preds, strict=True))]
    names = [m for m in higher if all(m in pt for pt in point)]
    primary = metric or PRIMARY[sc.task]
    if primary not in names:
        raise UsageError(f"compare: no metric {primary!r} for these models; metrics: {', '.join(names)}")
    z = _z(alpha)
    boot = None
    if n_boot:
        boot = st.paired_bootstrap("regression" if sc.task == "regression" else "classification",
                                   sc.y, sc.probas, sc.preds, b=n_boot, seed=seed, orders=orders)
    auc_cov = None
    if "roc_auc" in names and sc.task == "binary":  # multiclass (one-vs-rest): bootstrap
        _, auc_cov = st.delong(sc.y, list(sc.probas), orders)
    ci: list[dict[str, tuple[float, float]]] = []
    for j in range(len(cands)):
        row = {}
        for m in names:
            if boot is not None and m in boot.values[j]:
                row[m] = _percentile(boot.values[j][m], alpha)
            elif m == "roc_auc" and auc_cov is not None:  # n_boot=0: DeLong's variance
                se = float(np.sqrt(max(auc_cov[j, j], 0.0)))
                row[m] = (point[j][m] - z * se, point[j][m] + z * se)
            else:
                row[m] = (float("nan"), float("nan"))
        ci.append(row)
    deltas = []
    for j in range(1, len(cands)):
        for m in names:
            deltas.append(_delta(sc, point, boot, auc_cov, j, m, higher[m], alpha, z,
                                 [c.label for c in cands]))
    slice_rows = _slices(sc, frame, slice_cols, primary, higher[primary], correction,
                         [c.label for c in cands], orders)
    dis_n, dis_rows = _disagreements(sc, frame, label)
    lineage = None
    if len(cands) == 2 and all(c.version is not None for c in cands):
        from mlops_jupyter.comparison.lineage import lineage_diff

        lineage = lineage_diff(cands[0].version, cands[1].version)
    return Comparison(
        labels=[c.label for c in cands], refs=[getattr(c.version, "ref", None) for c in cands],
        task=sc.task, classes=[str(x) for x in sc.classes], n_rows=len(sc.y), label=label,
        holdout=source, metrics=names, higher_is_better={m: higher[m] for m in names},
        primary=primary, point=point, ci=ci, deltas=deltas, alpha=alpha, n_boot=n_boot,
        slices=slice_rows, slice_columns=slice_cols, correction=correction,
        disagreements=dis_n, disagreement_rows=dis_rows, notes=sc.notes, lineage=lineage,
        curves=_curves(sc, orders), seed=seed,
    )


def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))


def _percentile(v: np.ndarray, alpha: float) -> tuple[float, float]:
    v = v[np.isfinite(v)]
    if not len(v):
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(v, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def _delta(sc: Scored, point: list[dict[str, float]], boot: Any, auc_cov: Any, j: int,
           m: str, higher: bool, alpha: float, z: float, labels: list[str]) -> MetricDelta:
    d = point[j][m] - point[0][m]
    lo = hi = p = float("nan")
    test = "paired bootstrap"
    if m == "roc_auc" and auc_cov is not None:
        var = auc_cov[0, 0] + auc_cov[j, j] - 2 * auc_cov[0, j]
        se = float(np.sqrt(max(var, 0.0)))
        lo, hi = d - z * se, d + z * se
        from scipy.stats import norm

        p = float(2 * norm.sf(abs(d) / se)) if se > 0 else (1.0 if d == 0 else 0.0)
        test = "DeLong"
    elif boot is not None and m in boot.values[j]:
        diff = boot.values[j][m] - boot.values[0][m]
        lo, hi = _percentile(diff, alpha)
        fin = diff[np.isfinite(diff)]
        if len(fin):
            p = float(min(1.0, 2 * min((fin <= 0).mean(), (fin >= 0).mean())))
            if np.all(fin == 0):
                p = 1.0
    if m == "accuracy":
        a_only, b_only, p = st.mcnemar(sc.preds[0] == sc.y, sc.preds[j] == sc.y)
        test = f"exact McNemar ({a_only} vs {b_only} discordant)"
    return MetricDelta(metric=m, baseline=labels[0], challenger=labels[j], delta=d, lo=lo, hi=hi,
                       p_value=p, test=test, higher_is_better=higher,
                       significant=bool(np.isfinite(p) and p < alpha))


def _slice_columns(slices: Any, frame: Any, label: str) -> list[str]:
    if slices is None:
        return []
    cols = [s.strip() for s in slices.split(",")] if isinstance(slices, str) else list(slices)
    cols = [c for c in cols if c]
    bad = [c for c in cols if c not in frame.columns or c == label]
    if bad:
        raise UsageError(f"compare: slice column(s) {', '.join(map(repr, bad))} not in the "
                         f"holdout; columns: {', '.join(str(c) for c in frame.columns if c != label)}")
    return cols


def _groups(frame: Any, col: str) -> list[tuple[str, np.ndarray]]:
    import pandas as pd

    s = frame[col]
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if numeric and s.nunique(dropna=True) > 10:
        binned = pd.qcut(s, 4, duplicates="drop")
        keys = binned.astype(str).where(binned.notna(), "missing")
    else:
        keys = s.astype("string").fillna("missing")
    out = []
    counts = keys.value_counts()
    for k in counts.index[:MAX_SLICE_VALUES]:
        out.append((str(k), np.flatnonzero((keys == k).to_numpy())))
    return out


def _slice_stat(sc: Scored, idx: np.ndarray, m: str, j: int,
                orders: list[np.ndarray] | None = None) -> tuple[float, float, float]:
    """(baseline value, challenger value, p-value of the difference) on rows ``idx``
    (sorted); ``orders``: each model's rows by descending score, restricted here."""
    y = sc.y[idx]
    sub = None if orders is None else [st.sub_order(orders[i], idx, len(sc.y)) for i in (0, j)]
    if m == "roc_auc" and sc.task == "binary":
        if len(np.unique(y)) < 2:
            return float("nan"), float("nan"), float("nan")
        aucs, cov = st.delong(y, [sc.probas[0][idx], sc.probas[j][idx]], sub)
        var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
        from scipy.stats import norm

        d = aucs[1] - aucs[0]
        p = float(2 * norm.sf(abs(d) / np.sqrt(var))) if var > 0 else (1.0 if d == 0 else 0.0)
        return float(aucs[0]), float(aucs[1]), p
    if sc.task == "regression":
        from scipy.stats import ttest_rel

        e0 = (sc.preds[0][idx] - y) ** 2
        e1 = (sc.preds[j][idx] - y) ** 2
        task = "regression"
        v0 = st.point_metrics(task, y, None, sc.preds[0][idx]).get(m, float("nan"))
        v1 = st.point_metrics(task, y, None, sc.preds[j][idx]).get(m, float("nan"))
        p = float(ttest_rel(e1, e0).pvalue) if len(idx) > 2 and np.any(e1 != e0) else 1.0
        return v0, v1, p
    c0, c1 = sc.preds[0][idx] == y, sc.preds[j][idx] == y
    task = "classification"
    p0 = None if sc.probas[0] is None else sc.probas[0][idx]
    p1 = None if sc.probas[j] is None else sc.probas[j][idx]
    v0 = st.point_metrics(task, y, p0, sc.preds[0][idx], sub and sub[0]).get(m, float("nan"))
    v1 = st.point_metrics(task, y, p1, sc.preds[j][idx], sub and sub[1]).get(m, float("nan"))
    return v0, v1, st.mcnemar(c0, c1)[2]


def _slices(sc: Scored, frame: Any, cols: list[str], m: str, higher: bool, correction: str,
            labels: list[str], orders: list[np.ndarray] | None = None) -> list[SliceRow]:
    rows: list[SliceRow] = []
    for col in cols:
        for value, idx in _groups(frame, col):
            for j in range(1, len(labels)):
                v0, v1, p = _slice_stat(sc, idx, m, j, orders)
                rows.append(SliceRow(column=col, value=value, n=len(idx), metric=m,
                                     baseline=v0, challenger=v1, delta=v1 - v0, p_value=p,
                                     p_adjusted=float("nan"), challenger_label=labels[j]))
    ps = [r.p_value for r in rows]
    ok = [i for i, p in enumerate(ps) if np.isfinite(p)]
    if ok:
        adj = st.ADJUST[correction]([ps[i] for i in ok])
        for i, a in zip(ok, adj, strict=True):
            rows[i].p_adjusted = float(a)
    sign = 1.0 if higher else -1.0
    # worse for the challenger first (most negative improvement), NaN last
    rows.sort(key=lambda r: (not np.isfinite(r.delta), sign * r.delta if np.isfinite(r.delta) else 0))
    return rows


def _disagreements(sc: Scored, frame: Any, label: str, sample: int = 10) -> tuple[int, Any]:
    if sc.task == "regression":
        tol = 0.1 * float(np.std(sc.y)) if len(sc.y) > 1 else 0.0
        mask = np.abs(sc.preds[1] - sc.preds[0]) > tol
    else:
        mask = np.zeros(len(sc.y), dtype=bool)
        for p in sc.preds[1:]:
            mask |= p != sc.preds[0]
    idx = np.flatnonzero(mask)
    rows = frame.iloc[idx[:sample]].copy()
    for k, p in enumerate(sc.preds):
        col = f"prediction {k + 1}"
        rows[col] = (p[idx[:sample]] if sc.task == "regression"
                     else [sc.classes[int(i)] for i in p[idx[:sample]]])
    return int(mask.sum()), rows


def _curves(sc: Scored, orders: list[np.ndarray] | None = None) -> dict[str, Any]:
    """Downsampled data for the charts (ROC, PR, confusion, calibration, residuals)."""
    out: dict[str, Any] = {"task": sc.task}
    if sc.task == "binary" and all(p is not None for p in sc.probas):
        out["roc"], out["pr"], out["calibration"] = [], [], []
        for j, p in enumerate(sc.probas):
            fpr, tpr, rec, prec = st.curve_points(sc.y, p, None if orders is None else orders[j])
            out["roc"].append(_thin(fpr, tpr))
            out["pr"].append(_thin(rec, prec))
            out["calibration"].append(st.calibration_bins(sc.y, p))
    if sc.task != "regression":
        k = len(sc.classes)
        out["confusion"] = [np.bincount(sc.y.astype(int) * k + pr.astype(int),
                                        minlength=k * k).reshape(k, k).tolist() for pr in sc.preds]
    else:
        rng = np.random.default_rng(0)
        take = rng.choice(len(sc.y), size=min(len(sc.y), 1500), replace=False)
        out["residuals"] = [{"actual": sc.y[take].tolist(), "predicted": pr[take].tolist()}
                            for pr in sc.preds]
    return out


def _thin(x: np.ndarray, y: np.ndarray, n: int = 200) -> list[tuple[float, float]]:
    if len(x) > n:
        keep = np.unique(np.r_[np.linspace(0, len(x) - 1, n).astype(int), len(x) - 1])
        x, y = x[keep], y[keep]
    return [(round(float(a), 5), round(float(b), 5)) for a, b in zip(x, y, strict=True)]
