"""compute_drift: check the inputs, compare column by column, build the report.

Columns are processed independently (two at a time on a thread pool: numpy's sorts
and merges release the GIL), and each column's data is dropped as soon as its small
summary is made, so memory grows with the length of one column, not with the frame.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UsageError
from . import _prepare as prep
from . import stats as st
from .methods import AUTO, CATEGORICAL, NUMERIC, get_method
from .report import ColumnDrift, DriftReport, SchemaChange

__all__ = ["compute_drift", "MAX_CATEGORIES", "TOP_CATEGORIES", "MISSING_FLOOR", "holm",
           "auto_verdict"]

#: categorical columns with more distinct values than this (both sides together) are
#: compared on their TOP_CATEGORIES most frequent values plus one "other" bucket
MAX_CATEGORIES = 1000
TOP_CATEGORIES = 100
#: a change of the missing-value share counts as drift when it is significant (chi-square
#: 2x2, p < AUTO.alpha) and at least this large (5 points of the rows)
MISSING_FLOOR = 0.05
#: categories shown in a report's bar chart (the rest are summed as "other")
DISPLAY_CATEGORIES = 20
OTHER = "(other)"
#: a high-cardinality column whose reference has at least this many distinct values
#: per row is reported as ID-like (new values are expected; repeats that vanish are not)
ID_LIKE_SHARE = 0.5


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Iterable[Any] | None = None,
    method: str | Mapping[Any, str] = "auto",
    threshold: float | None = None,
    column_thresholds: float | Mapping[Any, float] | None = None,
    categorical: Iterable[Any] | None = None,
    *,
    title: str = "Data drift",
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column.

    Parameters
    ----------
    columns:
        Columns to compare. Default: every column of ``reference``; columns only in
        ``current`` are then listed in the schema section but not compared. Listed
        columns missing on either side are schema drift.
    method:
        ``"auto"`` (significance test AND effect-size floor, see docs/drift.md), or one
        of ``"ks"``, ``"wasserstein"``, ``"psi"``, ``"chi2"``, ``"jensenshannon"``, or a
        registered plug-in. A method that only applies to one kind of column (``ks`` to
        numeric ones, ``chi2`` to categorical ones) is used for that kind and ``auto``
        for the other. A mapping ``{column: method}`` chooses per column (unlisted
        columns use ``auto``); there a method must fit its column.
    threshold:
        Dataset verdict. Default (``None``): the report is drifted when ANY compared
        column drifted (each column's test is corrected for the number of columns with
        Holm's method and must clear an effect-size floor, so wide tables neither hide
        strong drift nor raise false alarms), or when a column is missing or changed
        type. A number in (0, 1] keeps the older rule: drifted when at least this share
        of the compared columns drifted.
    column_thresholds:
        Statistic threshold per column ``{column: value}``, or one value for all: the
        p-value cut for ``ks``/``chi2``/``auto`` (default 0.05), the distance cut for
        ``psi``/``wasserstein``/``jensenshannon`` (default 0.1).
    categorical:
        Columns to treat as categories whatever their dtype (e.g. integer codes).
    """
    started = time.perf_counter()
    ref = _as_frame(reference, "reference")
    cur = _as_frame(current, "current")
    share = _share_threshold(threshold)
    if len(ref) == 0:
        raise UsageError("the reference data is empty (0 rows); drift needs a reference "
                         "sample of at least 2 rows")
    if len(ref) < 2:
        raise UsageError("the reference data has 1 row; drift needs a reference sample "
                         "of at least 2 rows to describe a distribution")
    if len(cur) == 0:
        raise UsageError("the current data is empty (0 rows); there is nothing to compare")

    names, schema_rows, changes = _select_columns(ref, cur, columns)
    methods = _resolve_methods(method, names, ref, cur)
    thresholds = _resolve_thresholds(column_thresholds, names, ref, cur)
    forced = _resolve_categorical(categorical, ref, cur)

    def run(name: Any) -> tuple[ColumnDrift, SchemaChange | None]:
        return _column(name, ref[name], cur[name], methods[name], thresholds.get(name),
                       name in forced)

    workers = max(1, min(2, os.cpu_count() or 1, len(names)))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mj-drift") as pool:
            results = list(pool.map(run, names))
    else:
        results = [run(n) for n in names]
    cols = list(schema_rows)
    for col, change in results:
        cols.append(col)
        if change is not None:
            changes.append(change)
    _holm(cols)
    if not cols:
        raise UsageError("no columns to compare (the column list is empty)")
    mname = method if isinstance(method, str) else "per-column"
    return DriftReport(
        columns=cols,
        threshold=share,
        method=mname,
        n_reference=len(ref),
        n_current=len(cur),
        schema=changes,
        options={
            "alpha": AUTO.alpha,
            "numeric_floor": AUTO.numeric_floor,
            "categorical_floor": AUTO.categorical_floor,
            "missing_floor": MISSING_FLOOR,
            "max_categories": MAX_CATEGORIES,
            "top_categories": TOP_CATEGORIES,
            "multiple_testing": "holm",
            "verdict": "any column" if share is None else f"share >= {share:g}",
        },
        title=title,
        elapsed=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------- inputs
def _as_frame(obj: Any, side: str) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, pd.Series):
        return obj.to_frame(name=obj.name if obj.name is not None else "value")
    raise UsageError(f"{side} must be a pandas DataFrame, not {type(obj).__name__}")


def _share_threshold(threshold: float | None) -> float | None:
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise UsageError(f"threshold must be a number in (0, 1], not {threshold!r}")
    t = float(threshold)
    if not 0.0 < t <= 1.0:
        raise UsageError(f"threshold is the share of drifted columns that makes the dataset "
                         f"drifted; it must be in (0, 1], not {threshold!r}")
    return t


def _names_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        value = [value]
    out: list[Any] = []
    for v in value:
        if v not in out:
            out.append(v)
    return out


def _check_unique(frame: pd.DataFrame, names: list[Any], side: str) -> None:
    dup = frame.columns[frame.columns.duplicated()]
    bad = [n for n in names if n in set(dup)]
    if bad:
        raise UsageError(f"column {bad[0]!r} appears more than once in the {side} data; "
                         "rename the duplicates first")


def _select_columns(ref, cur, columns):
    ref_set, cur_set = set(ref.columns), set(cur.columns)
    changes: list[SchemaChange] = []
    if columns is None:
        wanted = list(dict.fromkeys(ref.columns))
        for c in dict.fromkeys(cur.columns):
            if c not in ref_set:
                changes.append(SchemaChange(str(c), "new_in_current", None,
                                            str(cur[c].dtype) if c in cur_set else None, False))
    else:
        wanted = _names_list(columns, "columns")
        unknown = [c for c in wanted if c not in ref_set and c not in cur_set]
        if unknown:
            avail = ", ".join(map(str, list(dict.fromkeys([*ref.columns, *cur.columns]))[:30]))
            raise UsageError(f"unknown column {unknown[0]!r}: it is in neither frame "
                             f"(columns: {avail})")
    names, schema_rows = [], []
    for c in wanted:
        if c in ref_set and c in cur_set:
            names.append(c)
            continue
        issue = "missing_in_current" if c in ref_set else "missing_in_reference"
        dr = str(ref[c].dtype) if c in ref_set else None
        dc = str(cur[c].dtype) if c in cur_set else None
        changes.append(SchemaChange(str(c), issue, dr, dc, True))
        schema_rows.append(ColumnDrift(
            column=str(c), kind=None, method="schema", drifted=True, severity=math.inf,
            dtype_reference=dr, dtype_current=dc, schema=issue,
            note="column " + ("missing from the current data" if c in ref_set
                              else "missing from the reference data"),
        ))
    _check_unique(ref, names, "reference")
    _check_unique(cur, names, "current")
    return names, schema_rows, changes


def _resolve_methods(method, names, ref, cur) -> dict[Any, tuple[str, bool]]:
    """Per column: (method name, chosen for this column explicitly?)."""
    if isinstance(method, str):
        name = method.strip().lower()
        if name != "auto":
            name = get_method(name).name  # validates, resolves aliases
        return {n: (name, False) for n in names}
    if not isinstance(method, Mapping):
        raise UsageError(f"method must be a name or a {{column: method}} mapping, not "
                         f"{type(method).__name__}")
    known = set(ref.columns) | set(cur.columns)
    for k in method:
        if k not in known:
            raise UsageError(f"method= names column {k!r}, which is in neither frame")
    out = {}
    for n in names:
        m = method.get(n, "auto")
        m = m.strip().lower() if isinstance(m, str) else m
        out[n] = ("auto", False) if m == "auto" else (get_method(m).name, True)
    return out


def _resolve_thresholds(column_thresholds, names, ref, cur) -> dict[Any, float]:
    if column_thresholds is None:
        return {}

    def check(v: Any, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise UsageError(f"column threshold {where} must be a positive number, not {v!r}")
        return float(v)

    if isinstance(column_thresholds, Mapping):
        known = set(ref.columns) | set(cur.columns)
        out = {}
        for k, v in column_thresholds.items():
            if k not in known:
                raise UsageError(f"column_thresholds names column {k!r}, which is in neither frame")
            out[k] = check(v, f"for {k!r}")
        return out
    v = check(column_thresholds, "")
    return {n: v for n in names}


def _resolve_categorical(categorical, ref, cur) -> set[Any]:
    if categorical is None:
        return set()
    names = _names_list(categorical, "categorical")
    known = set(ref.columns) | set(cur.columns)
    for n in names:
        if n not in known:
            raise UsageError(f"categorical= names column {n!r}, which is in neither frame")
    return set(names)


# --------------------------------------------------------------------------- one column
def _column(name, rs: pd.Series, cs: pd.Series, method: tuple[str, bool],
            threshold: float | None, forced_cat: bool) -> tuple[ColumnDrift, SchemaChange | None]:
    col = str(name)
    br = prep.base_kind(rs, col, "reference")
    bc = prep.base_kind(cs, col, "current")
    change = None
    if br.kind != bc.kind and "empty" not in (br.kind, bc.kind):
        change = SchemaChange(col, "kind_changed", br.dtype, bc.dtype, True)
        return ColumnDrift(
            column=col, kind=None, method="schema", drifted=True, severity=math.inf,
            dtype_reference=br.dtype, dtype_current=bc.dtype, schema="kind_changed",
            note=f"type changed: {br.kind} ({br.dtype}) in reference, "
                 f"{bc.kind} ({bc.dtype}) in current",
        ), change
    if br.dtype != bc.dtype:
        change = SchemaChange(col, "dtype_changed", br.dtype, bc.dtype, False)
    if br.kind == "empty" and bc.kind == "empty":
        return _all_missing(col, len(rs), len(cs), br, bc), change
    eff = bc if br.kind == "empty" else br
    eff_c = br if bc.kind == "empty" else bc
    if forced_cat or eff.kind in prep.CATEGORICAL_BASES:
        return _categorical(col, rs, cs, eff, eff_c, method, threshold, br, bc), change
    rv = prep.numeric_values(rs, eff) if br.kind != "empty" else np.full(len(rs), np.nan)
    cv = prep.numeric_values(cs, eff_c) if bc.kind != "empty" else np.full(len(cs), np.nan)
    if eff.integer and prep.is_low_cardinality(rv):
        return _categorical(col, pd.Series(rv), pd.Series(cv), eff, eff_c, method, threshold,
                            br, bc, note="integer codes spanning < "
                            f"{prep.LOW_CARDINALITY_SPAN} values: compared as categories"), change
    return _numeric(col, rv, cv, eff, method, threshold, br, bc), change


def _all_missing(col, n_r, n_c, br, bc) -> ColumnDrift:
    del n_r, n_c
    return ColumnDrift(
        column=col, kind=None, method="none", drifted=False, severity=0.0,
        missing_reference=1.0, missing_current=1.0, missing_p_value=1.0,
        dtype_reference=br.dtype, dtype_current=bc.dtype,
        note="all values missing on both sides: nothing to compare",
    )


def _missing(miss_r: int, n_r: int, miss_c: int, n_c: int) -> tuple[float, float, float, bool]:
    fr, fc = miss_r / n_r, miss_c / n_c
    p = st.missing_rate_pvalue(miss_r, n_r, miss_c, n_c)
    return fr, fc, p, (p < AUTO.alpha and abs(fc - fr) >= MISSING_FLOOR)


def _one_side_empty(col, kind, n_r, n_c, miss_r, miss_c, br, bc) -> ColumnDrift:
    fr, fc, p, _ = _missing(miss_r, n_r, miss_c, n_c)
    side = "current" if n_c == miss_c else "reference"
    return ColumnDrift(
        column=col, kind=kind, method="none", drifted=True, severity=math.inf,
        missing_reference=fr, missing_current=fc, missing_p_value=p, missing_drifted=True,
        n_reference=n_r - miss_r, n_current=n_c - miss_c,
        dtype_reference=br.dtype, dtype_current=bc.dtype,
        note=f"all values missing in the {side} data only",
    )


def _decide(kind: str, stats: dict[str, Any], method: tuple[str, bool],
            threshold: float | None, data: Callable[[], tuple[Any, Any]]):
    """-> (method, statistic, score, threshold, drifted, severity, note)"""
    name, explicit = method
    if name != "auto":
        m = get_method(name)
        if kind not in m.kinds:
            if explicit:
                raise UsageError(f"drift method {name!r} does not apply to {kind} columns")
            name = "auto"
    if name == "auto":
        p_key, e_key, floor = AUTO.tests(kind)
        alpha = AUTO.alpha if threshold is None else threshold
        test = "KS" if kind == NUMERIC else "chi2"
        eff = "W/std" if kind == NUMERIC else "JS"
        cands = [] if stats.get("id_like") else [(stats[p_key], stats[e_key], floor, test, eff)]
        cands += [(t["p_value"], t["effect"], t["floor"], t["test"], "excess")
                  for t in stats.get("subtests", [])]
        # several tests on one column: Bonferroni inside the column, then Holm across
        # columns (in _holm); the test reported is the most significant one whose
        # effect clears its floor
        k = len(cands)
        big = [c for c in cands if c[1] >= c[2]]
        p, e, fl, test, eff = min(big or cands, key=lambda c: c[0])
        p = min(1.0, p * k)
        stats["auto"] = {"p_value": p, "effect": e, "floor": fl, "alpha": alpha,
                         "test": test, "effect_name": eff}
        drifted, sev, note = _auto_verdict(stats["auto"], p)
        return "auto", p_key if k == 1 or test in ("KS", "chi2") else "p_value", p, alpha, \
            drifted, sev, note
    thr = m.default_threshold if threshold is None else threshold
    if m.func is not None:
        ref_data, cur_data = data()
        score = float(m.func(ref_data, cur_data))
        stats[m.name] = score
    else:
        score = stats[m.statistic]
    drifted = m.is_drift(score, thr)
    op = ("<" if drifted else ">=") if m.lower_is_drift else (">=" if drifted else "<")
    return (m.name, m.statistic if m.func is None else m.name, score, thr, drifted,
            m.severity(score, thr), f"{m.name} {score:.3g} {op} {thr:g}")


def _auto_verdict(a: dict[str, Any], p_adj: float) -> tuple[bool, float, str]:
    """(drifted, severity, note) of the auto rule for a (Holm-adjusted) p-value."""
    alpha, e, fl = a["alpha"], a["effect"], a["floor"]
    sig, big = p_adj < alpha, e >= fl
    sev_p = get_method("ks").severity(p_adj, alpha)
    sev_e = e / fl if fl > 0 else math.inf
    held = f" (adjusted from {a['p_value']:.3g})" if p_adj != a["p_value"] else ""
    note = (f"{a['test']} p={p_adj:.3g}{held} {'<' if sig else '>='} {alpha:g}; "
            f"{a['effect_name']}={e:.3g} {'>=' if big else '<'} {fl:g}")
    return bool(sig and big), min(sev_p, sev_e), note


def _holm(cols: list[ColumnDrift]) -> None:
    """Holm's step-down correction over the columns the auto rule decided.

    Each auto column's p-value is multiplied by the number of columns still in play
    (smallest p first, made monotone); a column then drifts when its adjusted p-value
    is below alpha AND its effect clears the floor. This bounds the chance of any
    false alarm in the table by alpha, whatever its width, which is what lets the
    dataset verdict be "any column drifted".
    """
    auto = [c for c in cols if c.method == "auto" and isinstance(c.stats.get("auto"), dict)]
    m = len(auto)
    if m <= 1:
        return
    order = sorted(auto, key=lambda c: c.stats["auto"]["p_value"])
    running = 0.0
    for i, c in enumerate(order):
        a = c.stats["auto"]
        running = max(running, min(1.0, (m - i) * a["p_value"]))
        drifted, sev, note = _auto_verdict(a, running)
        a["p_adjusted"] = running
        c.score = running
        tail = c.note[len(_auto_verdict(a, a["p_value"])[2]):]
        c.note = note + tail
        if c.missing_drifted:
            sev = max(sev, c.severity)
        c.drifted = bool(drifted or c.missing_drifted)
        c.severity = sev if c.drifted else min(sev, math.nextafter(1.0, 0.0))


def _finish(col, kind, stats, method, threshold, data, n_r, n_c, miss_r, miss_c, br, bc,
            histogram, note_extra="", unseen=(None, None, [])) -> ColumnDrift:
    mname, skey, score, thr, drifted, sev, note = _decide(kind, stats, method, threshold, data)
    fr, fc, mp, mdrift = _missing(miss_r, n_r, miss_c, n_c)
    if mdrift:
        sev = max(sev, abs(fc - fr) / MISSING_FLOOR)
        note += f"; missing {fr:.1%} -> {fc:.1%}"
    if note_extra:
        note += f" ({note_extra})"
    return ColumnDrift(
        column=col, kind=kind, method=mname, drifted=bool(drifted or mdrift), severity=sev,
        statistic=skey, score=score, threshold=thr, stats=stats,
        n_reference=n_r - miss_r, n_current=n_c - miss_c,
        missing_reference=fr, missing_current=fc, missing_p_value=mp, missing_drifted=mdrift,
        unseen_count=unseen[0], unseen_share=unseen[1], unseen_examples=list(unseen[2]),
        histogram=histogram, dtype_reference=br.dtype, dtype_current=bc.dtype, note=note,
    )


def _numeric(col, rv, cv, base, method, threshold, br, bc) -> ColumnDrift:
    n_r, n_c = rv.size, cv.size
    sa, nan_a, inf_a = st.sorted_finite(rv)
    del rv
    sb, nan_b, inf_b = st.sorted_finite(cv)
    del cv
    miss_r, miss_c = nan_a + inf_a, nan_b + inf_b
    kind_label = "datetime" if base.kind == "datetime" else NUMERIC
    if sa.size == 0 and sb.size == 0:
        return _all_missing(col, n_r, n_c, br, bc)
    if sa.size == 0 or sb.size == 0:
        return _one_side_empty(col, kind_label, n_r, n_c, miss_r, miss_c, br, bc)
    ns = st.numeric_stats(sa, sb)
    stats: dict[str, Any] = {
        "ks_statistic": ns.ks_statistic, "ks_p_value": ns.ks_p_value,
        "wasserstein": ns.wasserstein, "wasserstein_norm": ns.wasserstein_norm, "psi": ns.psi,
        "mean_reference": ns.reference_mean, "mean_current": ns.current_mean,
        "std_reference": ns.reference_std, "std_current": ns.current_std,
        "out_of_range_share": float(
            (np.searchsorted(sb, sa[0], "left") + sb.size - np.searchsorted(sb, sa[-1], "right"))
            / sb.size),
    }
    edges = st.histogram_edges(sa, sb)
    hist = {
        "type": "numeric",
        "datetime": base.kind == "datetime",
        "edges": [float(e) for e in edges],
        "reference": _props(st.binned_counts(sa, edges)),
        "current": _props(st.binned_counts(sb, edges)),
    }
    extra = []
    if inf_a or inf_b:
        extra.append(f"{inf_a + inf_b} infinite values counted as missing")
    if ns.reference_std == 0:
        extra.append("constant in reference")
    out = _finish(col, NUMERIC, stats, method, threshold, lambda: (sa, sb), n_r, n_c,
                  miss_r, miss_c, br, bc, hist, "; ".join(extra))
    out.kind = kind_label  # datetimes are compared as numbers; only the label differs
    return out


def _categorical(col, rs, cs, base_r, base_c, method, threshold, br, bc,
                 note: str = "") -> ColumnDrift:
    rc, miss_r = prep.category_counts(rs, base_r)
    cc, miss_c = prep.category_counts(cs, base_c)
    n_r, n_c = len(rs), len(cs)
    if rc.sum() == 0 and cc.sum() == 0:
        return _all_missing(col, n_r, n_c, br, bc)
    if rc.sum() == 0 or cc.sum() == 0:
        return _one_side_empty(col, CATEGORICAL, n_r, n_c, miss_r, miss_c, br, bc)
    idx = rc.index.union(cc.index, sort=False)
    r = rc.reindex(idx, fill_value=0).to_numpy(dtype=np.int64)
    c = cc.reindex(idx, fill_value=0).to_numpy(dtype=np.int64)
    labels = [prep.label_text(v) for v in idx]
    # unseen: in current, never in reference
    unseen_mask = r == 0
    order = np.argsort(-c[unseen_mask], kind="stable")[:5]
    unseen_labels = [labels[i] for i in np.flatnonzero(unseen_mask)[order]]
    unseen = (int(unseen_mask.sum()), float(c[unseen_mask].sum() / c.sum()), unseen_labels)
    extra = [note] if note else []
    n_cat = len(idx)
    other = None
    n_ref_cats, n_cur_cats = int((r > 0).sum()), int((c > 0).sum())
    subtests: list[dict[str, Any]] = []
    id_like = False
    if n_cat > MAX_CATEGORIES:
        subtests = st.coverage_tests(r, c)
        id_like = n_ref_cats >= ID_LIKE_SHARE * r.sum()
        r, c, labels = _bucket(r, c, labels, TOP_CATEGORIES)
        other = labels[-1]
        if id_like:
            extra.append(f"ID-like ({n_ref_cats:,} distinct values in {int(r.sum()):,} "
                         f"reference rows): compared on new and lost values only; "
                         f"{unseen[1]:.0%} of current values are new")
        else:
            extra.append(f"{n_cat:,} categories: compared on the top {TOP_CATEGORIES} + other, "
                         "and on lost and new categories")
    cs_ = st.categorical_stats(r, c)
    stats: dict[str, Any] = {
        "chi2": cs_.chi2, "chi2_p_value": cs_.chi2_p_value, "dof": cs_.dof,
        "js_distance": cs_.js_distance, "psi": cs_.psi,
        "categories_reference": n_ref_cats, "categories_current": n_cur_cats,
    }
    if subtests:
        stats["subtests"] = subtests
        stats["id_like"] = id_like
    dr, dc, dl = (_bucket(r, c, labels, DISPLAY_CATEGORIES, other)
                  if len(labels) > DISPLAY_CATEGORIES + 1 else (r, c, labels))
    hist = {"type": "categorical", "labels": dl, "reference": _props(dr), "current": _props(dc)}
    out = _finish(col, CATEGORICAL, stats, method, threshold, lambda: (r, c), n_r, n_c,
                  miss_r, miss_c, br, bc, hist, "; ".join(extra), unseen)
    if id_like:
        out.role = "id"
    return out


def _bucket(r: np.ndarray, c: np.ndarray, labels: list[str], k: int, other: str | None = None):
    """Keep the k categories with the largest combined share; sum the rest as "other".

    ``other`` names an existing bucket (from an earlier bucketing) that must stay the
    other bucket rather than compete as a category.
    """
    weight = r / max(r.sum(), 1) + c / max(c.sum(), 1)
    is_other = np.array([lb == other for lb in labels]) if other is not None else None
    if is_other is not None:
        weight = np.where(is_other, -1.0, weight)
    top = np.sort(np.argsort(-weight, kind="stable")[:k])
    if is_other is not None:
        top = top[~is_other[top]]
    rest = np.ones(r.size, dtype=bool)
    rest[top] = False
    if other is None:
        other = OTHER
        taken = {labels[i] for i in top}
        while other in taken:
            other = f"({other})"
    return (np.append(r[top], r[rest].sum()), np.append(c[top], c[rest].sum()),
            [labels[i] for i in top] + [other])


def _props(counts: np.ndarray) -> list[float]:
    total = float(np.sum(counts))
    if total <= 0:
        return [0.0] * len(counts)
    return [round(float(x) / total, 6) for x in counts]


#: public names for the binned checks of monitors (monitoring.profile)
holm = _holm
auto_verdict = _auto_verdict
