"""``mj.monitors``: stored monitors per model alias, checked window by window.

A monitor is defined once (:func:`add`): the model alias it watches, the reference (by
default the model's training data, found through lineage) summarised into a binned
profile, the dataset that receives current data (e.g. the served-input log of ``mlops
serve --log-inputs``), thresholds, delayed labels for performance, alert channels and
optionally a retrain template with promotion rules. Each :func:`run` reads only the
dataset versions added since the previous check (the watermark), compares them with the
stored profile in O(new rows), saves the check (and its drift report, so
``mj.drift_history`` lists it), sends alerts past their cooldown and, when configured,
closes the loop (see :mod:`.loop`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from mlops_jupyter.errors import NotFoundError, UsageError
from mlops_jupyter.monitors import alerts as alerts_mod

__all__ = ["add", "run", "run_all", "list_monitors", "history", "MonitorResult", "get"]

_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PROFILES: dict[str, dict[str, Any]] = {}  # digest -> profile (immutable, content-addressed)
PREDICTION_COL = "served_prediction"


def _store() -> Any:
    from mlops_jupyter.tracking.session import get_store

    return get_store()


def parse_duration(text: Any, what: str = "every") -> float:
    """``"30s"``, ``"15m"``, ``"1h"``, ``"1d"`` or a number of seconds -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool) and text > 0:
        return float(text)
    if isinstance(text, str) and text.strip():
        t = text.strip().lower()
        unit = _DURATION.get(t[-1])
        try:
            value = float(t[:-1]) * unit if unit else float(t)
        except ValueError:
            value = -1
        if value > 0 and math.isfinite(value):
            return value
    raise UsageError(f"{what} must be a duration such as 30s, 15m, 1h, 1d (or seconds), not {text!r}")


@dataclass
class MonitorResult:
    """One check: the verdict, what was sent, and what the loop did."""

    monitor: str
    check_id: str | None
    status: str  # ok | drift | perf | empty | error
    rows: int = 0
    report: Any = None
    performance: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    loop: Any = None
    error: str | None = None

    @property
    def drifted(self) -> bool:
        return self.status in ("drift", "perf")

    def summary(self) -> str:
        head = f"{self.monitor}: {self.status.upper()} ({self.rows:,} new rows)"
        if self.report is not None:
            head += " - " + self.report.summary()
        if self.performance:
            p = self.performance
            head += (f"; {p['metric']} {p['reference']:.4g} -> {p['current']:.4g} "
                     f"on {p['rows']} labelled rows")
        if self.error:
            head += f"; error: {self.error}"
        for a in self.alerts:
            head += f"\n  alert {a['channel']} {a['status']}" + (f": {a['error']}" if a.get("error") else "")
        if self.loop is not None:
            head += "\n" + self.loop.summary()
        return head

    def __repr__(self) -> str:
        return f"<MonitorResult {self.monitor} {self.status} rows={self.rows}>"

    def _repr_html_(self) -> str:
        from mlops_jupyter.display.html import badge, card, esc

        body = f"<pre>{esc(self.summary())}</pre>"
        if self.loop is not None:
            body += self.loop.timeline_html()
        return card(f"Monitor {esc(self.monitor)} {badge(self.status.upper())}", body)


# --------------------------------------------------------------------------- define
def add(
    name: str,
    model: str,
    current: str,
    *,
    every: str | float = "1h",
    alerts: list[str] | None = None,
    retrain: str | dict[str, Any] | None = None,
    reference: str | None = None,
    columns: list[str] | None = None,
    label: str | None = None,
    labels: str | None = None,
    key: str | None = None,
    metric: str | None = None,
    max_drop: float = 0.05,
    cooldown: str | float = "1h",
    allow_private: bool = False,
    smtp: dict[str, Any] | None = None,
    start: str = "all",
    replace: bool = False,
) -> Any:
    """Define (or with ``replace=True`` redefine) the monitor ``name`` on ``model``.

    ``current`` is the dataset whose new versions each check reads (``start="all"``:
    from its first version; ``"new"``: only versions added after now). ``labels`` is a
    dataset of delayed labels joined to the current rows on ``key`` (performance
    monitoring: alert when ``metric`` drops by more than ``max_drop``). ``retrain``
    names a template (``"retrain"``) or a dict ``{"template", "dataset", "alias",
    "metric", "min_improvement", "replay_tolerance", "parameters"}``.
    """
    from mlops_jupyter import datasets, models
    from mlops_jupyter.monitoring.api import _resolve
    from mlops_jupyter.monitoring.profile import build_profile
    from mlops_jupyter.names import entity_name

    name = entity_name(name, kind="monitor name")
    mv = models.get(model)
    if not isinstance(current, str) or not current.strip():
        raise UsageError("current must name the dataset that receives the data to check")
    current = entity_name(current.partition("@")[0], kind="dataset name")
    if start not in ("all", "new"):
        raise UsageError(f"start must be 'all' or 'new', not {start!r}")
    ref = _resolve(reference if reference is not None else f"model:{mv.ref}", "reference")
    label = label or ref.label
    feats = columns or ref.features or [c for c in ref.frame.columns if c != label]
    spec: dict[str, Any] = {
        "every_s": parse_duration(every), "alerts": [str(alerts_mod.parse_channel(a)) for a in (alerts or [])],
        "cooldown_s": parse_duration(cooldown, "cooldown"), "columns": [str(c) for c in feats],
        "label": label, "labels": labels, "key": key, "metric": metric,
        "max_drop": float(max_drop), "allow_private": bool(allow_private), "smtp": smtp or {},
        "retrain": _retrain_spec(retrain, mv),
    }
    if labels is not None and not key:
        raise UsageError("labels= needs key= (the column that joins labels to served rows)")
    frame = ref.frame
    profile = build_profile(frame, feats)
    model_obj = ref.model if ref.model is not None else models.load(mv.ref)
    pred = _predict(model_obj, frame[feats])
    if pred is not None:
        profile["prediction"] = build_profile(pred.to_frame(PREDICTION_COL))
        if label and label in frame.columns:
            spec["reference_metric"] = _metric(spec, frame[label], pred)
    watermark: dict[str, Any] = {"version": 0}
    if start == "new":
        try:
            watermark["version"] = datasets.get(f"{current}@latest").version
        except NotFoundError:
            pass
    st = _store()
    rec = st.create_monitor(
        name=name, model=model, current=current,
        spec=spec, reference=json.dumps(profile, allow_nan=False).encode(),
        reference_ref=ref.ref, replace=replace)
    st.set_monitor_watermark(rec.id, watermark)
    return st.get_monitor(name)


def _retrain_spec(retrain: Any, mv: Any) -> dict[str, Any] | None:
    if retrain is None or retrain is False:
        return None
    spec = {"template": retrain} if isinstance(retrain, str) else dict(retrain)
    if not isinstance(spec.get("template", "retrain"), str):
        raise UsageError("retrain must be a template name/path or a dict with 'template'")
    out = {"template": spec.get("template", "retrain"), "dataset": spec.get("dataset"),
           "alias": spec.get("alias", "production"), "metric": spec.get("metric", "auc"),
           "min_improvement": float(spec.get("min_improvement", 0.0)),
           "replay_tolerance": str(spec.get("replay_tolerance", "1%")),
           "parameters": dict(spec.get("parameters") or {}), "gates": list(spec.get("gates") or []),
           "model_name": mv.name,
           "holdout": spec.get("holdout"), "label": spec.get("label")}
    if out["holdout"] is not None and not isinstance(out["holdout"], str):
        raise UsageError("retrain 'holdout' must be a dataset reference (e.g. churn-holdout@v1)")
    if not out["dataset"]:
        raise UsageError("retrain needs a 'dataset': the newer labelled data to train on")
    return out


def _predict(model: Any, X: Any) -> Any:
    import numpy as np
    import pandas as pd

    try:
        pred = np.asarray(model.predict(X))
    except Exception:  # noqa: BLE001 - a model that cannot score its own data: no prediction profile
        return None
    return pd.Series(pred.reshape(len(X), -1)[:, 0], name=PREDICTION_COL)


def _metric(spec: dict[str, Any], y: Any, pred: Any) -> dict[str, Any] | None:
    import numpy as np
    import pandas as pd

    y = pd.Series(y).reset_index(drop=True)
    pred = pd.Series(pred).reset_index(drop=True)
    keep = y.notna() & pred.notna()
    if not keep.any():
        return None
    y, pred = y[keep], pred[keep]
    name = spec.get("metric")
    numeric_target = pd.api.types.is_float_dtype(y) and y.nunique() > 20
    if name is None:
        name = "rmse" if numeric_target else "accuracy"
    if name == "rmse":
        value = float(np.sqrt(np.mean((pd.to_numeric(pred) - pd.to_numeric(y)) ** 2)))
    elif name == "mae":
        value = float(np.mean(np.abs(pd.to_numeric(pred) - pd.to_numeric(y))))
    elif name == "accuracy":
        value = float(np.mean(pred.astype(str).to_numpy() == y.astype(str).to_numpy()))
    else:
        raise UsageError(f"monitor metric {name!r}: accepted accuracy, rmse, mae")
    return {"metric": name, "value": value, "rows": int(len(y))}


def get(name: str) -> Any:
    return _store().get_monitor(name)


def list_monitors() -> Any:
    """Every monitor with its last check (DataFrame)."""
    import pandas as pd

    st = _store()
    rows = []
    for m in st.list_monitors():
        last = st.list_monitor_checks(m.id, limit=1)
        rows.append({"name": m.name, "model": m.model, "current": m.current,
                     "every_s": m.spec.get("every_s"), "alerts": ", ".join(m.spec.get("alerts", [])),
                     "retrain": (m.spec.get("retrain") or {}).get("template"),
                     "last_check": pd.Timestamp(last[0].at, unit="s", tz="UTC") if last else None,
                     "last_status": last[0].status if last else None,
                     "next_version": m.watermark.get("version", 0) + 1})
    return pd.DataFrame(rows, columns=["name", "model", "current", "every_s", "alerts", "retrain",
                                       "last_check", "last_status", "next_version"])


def history(name: str, column: str | None = None) -> Any:
    """Every check of a monitor, oldest first (DataFrame); with ``column``, that
    column's score and verdict over time."""
    import pandas as pd

    st = _store()
    m = st.get_monitor(name)
    checks = st.list_monitor_checks(m.id)
    rows = []
    for c in checks:
        row = {"check_id": c.id, "at": pd.Timestamp(c.at, unit="s", tz="UTC"), "status": c.status,
               "drifted": c.drifted, "rows": c.rows, "share": c.summary.get("share"),
               "prediction_drifted": c.summary.get("prediction_drifted"),
               "performance": (c.summary.get("performance") or {}).get("current"),
               "report_id": c.report_id, "job_id": c.job_id, "model_version": c.model_version,
               "promoted": c.promoted}
        if column is not None:
            col = (c.summary.get("columns") or {}).get(column)
            if col is None and c.status not in ("empty", "error"):
                known = ", ".join((c.summary.get("columns") or {}).keys())
                raise NotFoundError(f"monitor {name!r} has no column {column!r}; columns: {known}")
            row.update({"column": column, "p_value": (col or {}).get("p"),
                        "effect": (col or {}).get("effect"),
                        "column_drifted": (col or {}).get("drifted")})
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- check
def _profile(st: Any, digest: str) -> dict[str, Any]:
    p = _PROFILES.get(digest)
    if p is None:
        p = json.loads(st.read_blob(digest))
        if len(_PROFILES) > 4096:
            _PROFILES.clear()
        _PROFILES[digest] = p
    return p


def _window(st: Any, m: Any) -> tuple[Any, list[int]]:
    """The current data added since the last check: every newer dataset version."""
    import pandas as pd

    from mlops_jupyter import datasets

    after = int(m.watermark.get("version", 0))
    try:
        recs = [r for r in st.list_dataset_versions(m.current) if r.version > after]
    except NotFoundError:
        recs = []
    if not recs:
        return None, []
    frames = []
    for r in recs:  # the records are in hand: read them without resolving refs again
        if r.kind == "dataframe":
            frames.append(datasets.api.read_frame(r))
        else:
            f = datasets.load(f"{m.current}@v{r.version}", as_frame=True)
            if hasattr(f, "columns"):
                frames.append(f)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return frame, [r.version for r in recs]


def _performance(m: Any, window: Any) -> dict[str, Any] | None:
    spec = m.spec
    if not spec.get("labels") or PREDICTION_COL not in window.columns or not spec.get("reference_metric"):
        return None
    from mlops_jupyter import datasets

    key, label = spec["key"], spec.get("label") or "label"
    try:
        labels = datasets.load(spec["labels"], as_frame=True)
    except NotFoundError:
        return None
    if key not in window.columns or key not in labels.columns or label not in labels.columns:
        return None
    joined = window[[key, PREDICTION_COL]].merge(labels[[key, label]].drop_duplicates(key, keep="last"),
                                                  on=key, how="inner")
    if len(joined) == 0:
        return None
    cur = _metric(spec, joined[label], joined[PREDICTION_COL])
    refm = spec["reference_metric"]
    if cur is None:
        return None
    lower_better = refm["metric"] in ("rmse", "mae")
    drop = (cur["value"] - refm["value"]) if lower_better else (refm["value"] - cur["value"])
    rel = drop / abs(refm["value"]) if refm["value"] else drop
    return {"metric": refm["metric"], "reference": refm["value"], "current": cur["value"],
            "rows": cur["rows"], "drop": drop, "degraded": bool(rel > spec.get("max_drop", 0.05))}


def check(m: Any, *, save_report: bool = True) -> tuple[dict[str, Any], MonitorResult, dict[str, Any] | None]:
    """Compute one check of monitor record ``m`` without writing it: -> (check row,
    result, new watermark or None)."""
    from mlops_jupyter.monitoring.engine import holm
    from mlops_jupyter.monitoring.profile import check_profile

    st = _store()
    window, versions = _window(st, m)
    if window is None:
        res = MonitorResult(m.name, None, "empty")
        return {"monitor_id": m.id, "status": "empty", "rows": 0, "summary": {}}, res, None
    profile = _profile(st, m.reference_blob)
    cols = [c for c in m.spec["columns"]]
    report = check_profile(profile, window, title=f"Monitor {m.name}: {m.current} "
                           f"v{versions[0]}..v{versions[-1]} vs {m.reference_ref}")
    if "prediction" in profile and PREDICTION_COL in window.columns:
        report.prediction = check_profile(profile["prediction"], window[[PREDICTION_COL]],
                                          title="Prediction drift")
        holm([*report.columns, *report.prediction.columns])  # one family: inputs and outputs
    report.options.update(reference=m.reference_ref, current=f"{m.current}@v{versions[-1]}",
                          monitor=m.name)
    perf = _performance(m, window)
    status = "drift" if report.drifted else ("perf" if perf and perf["degraded"] else "ok")
    summary = {
        "share": report.share, "versions": [versions[0], versions[-1]],
        "prediction_drifted": report.prediction_drifted, "performance": perf,
        "drifted_columns": report.drifted_columns[:50],
        "columns": {c.column: {"p": _r(c.score), "effect": _r((c.stats.get("auto") or {}).get("effect")),
                               "drifted": c.drifted} for c in report.columns if c.column in cols},
    }
    res = MonitorResult(m.name, None, status, rows=len(window), report=report, performance=perf)
    row = {"monitor_id": m.id, "status": status, "drifted": status != "ok", "rows": len(window),
           "summary": summary}
    if save_report:
        rec = st.save_drift_report(
            report=json.dumps(report.to_dict(), allow_nan=False, sort_keys=True).encode(),
            drifted=report.drifted, share=report.share, subject_kind="model",
            subject=(m.model or "").partition("@")[0], reference=m.reference_ref,
            current=f"{m.current}@v{versions[-1]}", run_id=None)
        row["report_id"] = rec.id
    wm = dict(m.watermark, version=versions[-1])
    return row, res, wm


def _r(x: Any) -> Any:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None if x is None or math.isnan(x) else ("inf" if x > 0 else "-inf")
    return round(float(x), 6)


def _alert(m: Any, res: MonitorResult, kind: str, text: str, now: float | None = None) -> None:
    st = _store()
    now = time.time() if now is None else now
    event = {"monitor": m.name, "model": m.model, "kind": kind, "status": res.status,
             "check_id": res.check_id, "rows": res.rows, "text": text}
    for ch_text in m.spec.get("alerts", []):
        ch = alerts_mod.parse_channel(ch_text)
        key = f"{ch}|{kind}"[:128]
        last = st.last_alert_sent(m.id, ch.kind, key)
        base = {"monitor_id": m.id, "check_id": res.check_id, "channel": ch.kind,
                "target": ch.target, "key": key}
        if last is not None and now - last < m.spec.get("cooldown_s", 3600):
            st.record_alert(status="suppressed", **base)
            res.alerts.append({"channel": str(ch), "status": "suppressed"})
            continue
        try:
            alerts_mod.send(ch, event, m.spec)
        except Exception as e:  # noqa: BLE001 - recorded, never fatal to the check
            msg = f"{type(e).__name__}: {e}"[:500]
            st.record_alert(status="failed", error=msg, **base)
            res.alerts.append({"channel": str(ch), "status": "failed", "error": msg})
            continue
        st.record_alert(status="sent", **base)
        res.alerts.append({"channel": str(ch), "status": "sent"})


def _alert_text(m: Any, res: MonitorResult) -> str:
    if res.status == "perf" and res.performance:
        p = res.performance
        return (f"monitor {m.name} ({m.model}): {p['metric']} dropped {p['reference']:.4g} -> "
                f"{p['current']:.4g} on {p['rows']} labelled rows")
    return f"monitor {m.name} ({m.model}): {res.report.summary()}"


def run(name: str, *, retrain: bool = True, save_report: bool = True) -> MonitorResult:
    """Check monitor ``name`` once on the data added since its last check."""
    st = _store()
    m = st.get_monitor(name)
    return _run_one(st, m, retrain=retrain, save_report=save_report)


def _run_one(st: Any, m: Any, *, retrain: bool, save_report: bool) -> MonitorResult:
    try:
        row, res, wm = check(m, save_report=save_report)
    except Exception as e:  # noqa: BLE001 - one broken monitor must not stop run_all
        row = {"monitor_id": m.id, "status": "error", "rows": 0,
               "summary": {"error": f"{type(e).__name__}: {e}"[:1000]}}
        res, wm = MonitorResult(m.name, None, "error", error=row["summary"]["error"]), None
    [res.check_id] = st.add_monitor_checks([row], {m.id: wm} if wm else None)
    _after(st, m, res, retrain=retrain)
    return res


def _after(st: Any, m: Any, res: MonitorResult, *, retrain: bool) -> None:
    if res.status in ("drift", "perf"):
        _alert(m, res, res.status, _alert_text(m, res))
        if retrain and m.spec.get("retrain"):
            from mlops_jupyter.monitors import loop

            res.loop = loop.close_loop(m, res)
            st.update_monitor_check(res.check_id, **res.loop.links())
            if not res.loop.ok:
                _alert(m, res, "retrain_failed", f"monitor {m.name}: retrain loop stopped at "
                       f"{res.loop.failed_step}: {res.loop.reason}")
    elif res.status == "error":
        _alert(m, res, "error", f"monitor {m.name}: check failed: {res.error}")


def _check_safe(m: Any, save_report: bool) -> tuple[dict[str, Any], MonitorResult, dict[str, Any] | None]:
    try:
        return check(m, save_report=save_report)
    except Exception as e:  # noqa: BLE001 - recorded as an error check
        err = f"{type(e).__name__}: {e}"[:1000]
        row = {"monitor_id": m.id, "status": "error", "rows": 0, "summary": {"error": err}}
        return row, MonitorResult(m.name, None, "error", error=err), None


def _worker_init(env: dict[str, str]) -> None:
    import os

    os.environ.update(env)


def _check_many(names: list[str], save_report: bool) -> list[tuple[Any, ...]]:
    st = _store()
    return [_check_safe(st.get_monitor(n), save_report) for n in names]


def run_all(*, retrain: bool = True, save_report: bool = True,
            workers: int | None = None) -> list[MonitorResult]:
    """Check every monitor once (for cron and CI). Checks are computed first (in
    ``workers`` processes; default: one per CPU, up to 4, from 100 monitors on) and
    written in one transaction; alerts and retraining follow, in this process."""
    import os

    st = _store()
    mons = st.list_monitors()
    if workers is None:
        workers = min(4, os.cpu_count() or 1) if len(mons) >= 100 else 1
    if workers > 1 and len(mons) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        from mlops_jupyter.store import current_config

        names = [m.name for m in mons]
        size = max(1, -(-len(names) // (workers * 4)))
        chunks = [names[i:i + size] for i in range(0, len(names), size)]
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init,
                                 initargs=(dict(current_config().env()),)) as pool:
            done = [x for part in pool.map(_check_many, chunks, [save_report] * len(chunks))
                    for x in part]
    else:
        done = [_check_safe(m, save_report) for m in mons]
    rows, results, marks = [], [], {}
    for m, (row, res, wm) in zip(mons, done, strict=True):
        rows.append(row)
        results.append(res)
        if wm:
            marks[m.id] = wm
    ids = st.add_monitor_checks(rows, marks)
    for m, res, cid in zip(mons, results, ids, strict=True):
        res.check_id = cid
        _after(st, m, res, retrain=retrain)
    return results
