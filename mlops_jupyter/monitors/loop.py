"""The closed loop: drift found -> retrain -> compare -> replay -> promote -> served.

Each step is recorded (with its time, outcome and the ids it produced) on the monitor
check that started it, so one check links to its job, run, model version and promotion
audit, and :meth:`LoopResult.timeline_html` shows them as one panel.

1. the retrain template runs as a papermill job on the newer data (``promote=False``:
   the template only trains, scores both versions on the same holdout and registers
   the challenger; a challenger that loses is registered as rejected);
2. challenger vs champion: :data:`COMPARATOR` decides, on the same holdout and metric.
   The default reads the metrics the template logged for both; the comparison issue's
   ``mj.compare`` (paired CIs) can be plugged in with :func:`set_comparator`;
3. replay: the challenger's job is re-executed in a fresh kernel (``reproduce``, which
   registers nothing) and its metrics must fall within the tolerance;
4. promotion by the alias's rules (``mj.models.promote`` checks them, compare-and-set
   on the champion seen at step 2), with a reason naming the check, job and scores;
5. a running ``mlops serve`` sees the alias move, loads and warms the new version in
   the background (the old one answers meanwhile) and switches; nothing to restart.

Any failure stops the loop: the challenger is rejected, nothing is promoted, and the
caller sends a ``retrain_failed`` alert.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops_jupyter.errors import MlopsError, NotFoundError

__all__ = ["Decision", "LoopResult", "close_loop", "set_comparator", "COMPARATOR",
           "paired_comparator", "metrics_comparator"]


@dataclass
class Decision:
    """The comparison's verdict: promote the challenger or keep the champion."""

    promote: bool
    reason: str
    challenger: float | None = None
    champion: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def metrics_comparator(champion: Any, challenger: Any, run: Any, spec: dict[str, Any]) -> Decision:
    """Default: the scores the retrain template logged for both versions on the same
    seeded holdout of the same data (``candidate_<metric>``, ``production_<metric>``)."""
    metric = spec["metric"]
    m = {k: v.last for k, v in run.metrics.items()}
    cand, prod = m.get(f"candidate_{metric}"), m.get(f"production_{metric}")
    if cand is None:
        return Decision(False, f"the retrain run logged no candidate_{metric}")
    if champion is None:
        return Decision(True, f"no version held the alias; challenger {metric}={cand:.4f}", cand)
    sign = -1 if metric in ("rmse", "mae", "loss", "log_loss") else 1
    gain = sign * (cand - prod) if prod == prod else float("nan")  # NaN-safe
    ok = gain == gain and gain > 0 and gain >= spec.get("min_improvement", 0.0)
    return Decision(ok, f"challenger {metric}={cand:.4f} vs champion {prod:.4f} on the same "
                    f"holdout (improvement {gain:+.4f}, policy >= {spec.get('min_improvement', 0.0)})",
                    cand, prod, {"improvement": gain})


#: the loop's metric names -> mj.compare's
_COMPARE_METRICS = {"auc": "roc_auc", "roc_auc": "roc_auc", "pr_auc": "pr_auc", "accuracy": "accuracy",
                    "f1": "f1", "log_loss": "log_loss", "brier": "brier", "rmse": "rmse",
                    "mae": "mae", "r2": "r2"}


def paired_comparator(champion: Any, challenger: Any, run: Any, spec: dict[str, Any]) -> Decision:
    """Both versions scored by ``mj.compare`` on the retrain spec's ``holdout`` dataset:
    the challenger is promoted only when it is *significantly* better on the metric
    (paired test: DeLong for AUC, McNemar for accuracy, paired bootstrap otherwise) and
    its gain clears ``min_improvement``. A difference inside the noise keeps the champion."""
    from mlops_jupyter.comparison.api import compare

    metric = _COMPARE_METRICS.get(spec["metric"])
    if metric is None:
        return Decision(False, f"metric {spec['metric']!r} cannot be compared on a holdout; "
                        f"accepted: {', '.join(sorted(_COMPARE_METRICS))}")
    if champion is None:
        return metrics_comparator(champion, challenger, run, spec)
    try:
        cmp = compare(champion.ref, challenger.ref, holdout=spec["holdout"],
                      label=spec.get("label"), metric=metric, seed=0)
        d = cmp.delta(metric)
    except MlopsError as e:
        return Decision(False, f"the comparison on {spec['holdout']} failed: {e}")
    gain = d.delta if d.higher_is_better else -d.delta
    ok = d.better == d.challenger and gain >= spec.get("min_improvement", 0.0)
    policy = f"policy: significantly better and gain >= {spec.get('min_improvement', 0.0)}"
    return Decision(ok, f"{d.sentence()} ({policy})", None, None,
                    {"delta": d.delta, "lo": d.lo, "hi": d.hi, "p_value": d.p_value, "test": d.test,
                     "holdout": spec["holdout"]})


def default_comparator(champion: Any, challenger: Any, run: Any, spec: dict[str, Any]) -> Decision:
    """The paired comparison when the retrain spec names a ``holdout``; else the scores
    the template logged."""
    if spec.get("holdout"):
        return paired_comparator(champion, challenger, run, spec)
    return metrics_comparator(champion, challenger, run, spec)


#: (champion ModelVersion | None, challenger ModelVersion, retrain Run, retrain spec) -> Decision
COMPARATOR: Callable[[Any, Any, Any, dict[str, Any]], Decision] = default_comparator


def set_comparator(fn: Callable[[Any, Any, Any, dict[str, Any]], Decision] | None) -> None:
    """Plug in another comparison (e.g. ``mj.compare`` with confidence intervals);
    ``None`` restores the default."""
    global COMPARATOR
    COMPARATOR = fn or default_comparator


@dataclass
class LoopResult:
    steps: list[dict[str, Any]] = field(default_factory=list)
    ok: bool = True
    failed_step: str | None = None
    reason: str = ""
    job_id: str | None = None
    run_id: str | None = None
    model_version: int | None = None
    promoted: bool = False

    def step(self, name: str, ok: bool, detail: str, **ids: Any) -> None:
        self.steps.append({"step": name, "ok": ok, "detail": detail, "at": time.time(), **ids})
        if not ok and self.ok:
            self.ok, self.failed_step, self.reason = False, name, detail

    def links(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "run_id": self.run_id, "model_version": self.model_version,
                "promoted": self.promoted}

    def summary(self) -> str:
        lines = [f"  {'ok ' if s['ok'] else 'NO '} {s['step']:<9} {s['detail']}" for s in self.steps]
        return "loop:\n" + "\n".join(lines)

    def timeline_html(self) -> str:
        from mlops_jupyter.display.html import esc

        items = "".join(
            f"<li style='margin:2px 0'><b>{esc(s['step'])}</b> "
            f"<span style='color:{'#2e7d32' if s['ok'] else '#c62828'}'>{'✔' if s['ok'] else '✘'}</span> "
            f"{esc(time.strftime('%H:%M:%S', time.gmtime(s['at'])))} — {esc(s['detail'])}"
            + "".join(f" <code>{esc(k)}={esc(str(v)[:12])}</code>" for k, v in s.items()
                      if k in ("check_id", "job_id", "run_id", "model", "audit") and v)
            + "</li>" for s in self.steps)
        return f"<ol class='mj-timeline'>{items}</ol>"


def close_loop(m: Any, res: Any) -> LoopResult:
    """Run the loop for monitor record ``m`` after check ``res`` found drift."""
    from mlops_jupyter import jobs, models
    from mlops_jupyter.jobs import reproduction

    spec = m.spec["retrain"]
    out = LoopResult()
    out.step("check", True, f"{res.status} on {res.rows:,} new rows", check_id=res.check_id)
    alias = spec["alias"]
    name = spec["model_name"]
    try:
        champion = models.get(f"{name}@{alias}")
    except NotFoundError:
        champion = None
    params = {"model_name": name, "dataset": spec["dataset"], "alias": alias,
              "metric": spec["metric"], "min_improvement": spec["min_improvement"],
              "promote": False, **spec.get("parameters", {})}
    try:
        job = jobs.run(spec["template"], parameters=params, gates=spec.get("gates") or None,
                       progress=False)
    except MlopsError as e:
        out.step("retrain", False, f"the retrain job could not start: {e}")
        return out
    out.job_id = job.record.id
    if not job.ok:
        out.step("retrain", False, f"job {job.record.id[:8]} ended {job.record.status}: "
                 f"{job.describe_failure()[:300]}", job_id=job.record.id)
        return out
    run = job.run
    out.run_id = run.id if run is not None else None
    from mlops_jupyter.tracking.session import get_store

    st = get_store()
    made = st.model_versions_of_run(run.id) if run is not None else []
    if not made:
        out.step("retrain", False, "the retrain job registered no model version", job_id=job.record.id)
        return out
    challenger = models.get(f"{made[-1][0]}@v{made[-1][1]}")
    out.model_version = challenger.version
    out.step("retrain", True, f"job {job.record.id[:8]} trained {challenger.ref} on {spec['dataset']}",
             job_id=job.record.id, run_id=run.id, model=challenger.ref)
    decision = COMPARATOR(champion, challenger, run, spec)
    if not decision.promote:
        _reject(challenger, f"monitor {m.name}: {decision.reason}")
        out.step("compare", True, f"champion kept: {decision.reason}")
        return out
    out.step("compare", True, f"challenger wins: {decision.reason}")
    rep = reproduction.reproduce(run.id, tolerance=spec["replay_tolerance"], progress=False)
    if not rep.ok:
        bad = [x["metric"] for x in rep.metrics if not x["within_tolerance"] and not x.get("ignored")]
        why = (f"replay job {rep.job.record.id[:8]} ended {rep.job.record.status}" if not rep.job.ok
               else f"replay metrics outside {spec['replay_tolerance']}: {', '.join(bad)}")
        _reject(challenger, f"monitor {m.name}: {why}")
        out.step("replay", False, why, job_id=rep.job.record.id)
        return out
    out.step("replay", True, f"fresh-kernel replay within {spec['replay_tolerance']}",
             job_id=rep.job.record.id)
    reason = (f"monitor {m.name} check {res.check_id[:8]} found {res.status}; retrain job "
              f"{job.record.id[:8]}: {decision.reason}; replay within {spec['replay_tolerance']}")
    try:
        models.promote(challenger.ref, alias=alias, reason=reason,
                       expected_current=champion.version if champion else None)
    except MlopsError as e:  # a promotion rule, or the alias moved meanwhile
        _reject(challenger, f"monitor {m.name}: not promoted: {e}")
        out.step("promote", False, f"not promoted: {e}")
        return out
    out.promoted = True
    out.step("promote", True, f"{name}@{alias} -> {challenger.ref} (audited)", model=challenger.ref)
    out.step("serve", True, f"running servers load and warm {challenger.ref} in the background "
             f"and switch {name}@{alias} to it once it is ready (the old version answers meanwhile)")
    return out


def _reject(mv: Any, reason: str) -> None:
    from mlops_jupyter import models

    try:
        models.reject(mv.ref, reason=reason, source="monitor")
    except MlopsError:  # already rejected, or holds an alias: nothing more to do
        pass
