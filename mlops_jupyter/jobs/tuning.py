"""``mj.tune``: Optuna search over a template's typed parameters, trials as jobs.

One driver talks to Optuna (ask / tell); trials are ordinary jobs on the chosen executor
(``local`` processes or Dask workers), so a trial is a papermill job like any other:
recorded, gated, its output notebook stored. Why a driver rather than ``study.optimize``
in every worker: a single writer needs no shared Optuna storage to coordinate, so the
study can persist to a JournalStorage file next to the store (or to PostgreSQL, given as
``storage=``) without SQLite's locking problems (Optuna's own advice: never SQLite for
parallel trials). Pruning reads the intermediate points the template logs
(``mj.log_metric(metric, v, step=k)``) from the store while the trial runs; a pruned
trial's job is stopped (recorded KILLED, reason ``Pruned``).

Records: a parent job (kind ``tune``) and a parent run (``tune-<template>``) whose child
runs are the trials' runs. The best parameters are logged on the parent run; when the
template declares ``model_name``, trials run with ``model_name="-"`` (no registration)
and one final job refits the best parameters and registers the model: a candidate
version, tagged with the tuning, never promoted.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_jupyter.errors import UsageError
from mlops_jupyter.jobs import api, executors, fanout
from mlops_jupyter.jobs import space as space_mod
from mlops_jupyter.jobs.job import Job
from mlops_jupyter.jobs.runner import Terminated
from mlops_jupyter.store.sql.jobs import JOB_FAILED, JOB_FINISHED, JOB_KILLED

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
MAX_TRIALS = 10_000
PRUNE_EVERY = 1.0  # seconds between reads of running trials' intermediate metrics


@dataclass
class TrialRecord:
    number: int
    params: dict[str, Any]
    job_id: str
    state: str = "RUNNING"  # COMPLETE | PRUNED | FAIL
    value: float | None = None
    run_id: str | None = None
    reason: str = ""
    steps_seen: int = -1


@dataclass
class Tuning:
    """A finished search: the study, the parent job and run, each trial, the best."""

    study: Any
    parent: Job
    parent_run_id: str
    metric: str
    direction: str
    trials: list[TrialRecord]
    candidate: str | None = None  # the registered model version, e.g. "churn@v4"
    refit: Job | None = None
    _importances: dict[str, float] | None = field(default=None, repr=False)

    @property
    def importances(self) -> dict[str, float]:
        """fANOVA parameter importances, computed on first use (it fits a forest, which
        costs seconds: not a price every search should pay before it returns)."""
        if self._importances is None:
            self._importances = _compute_importances(self.study)
        return self._importances

    @property
    def ok(self) -> bool:
        return any(t.state == "COMPLETE" for t in self.trials)

    @property
    def best(self) -> TrialRecord | None:
        done = [t for t in self.trials if t.state == "COMPLETE" and t.value is not None]
        if not done:
            return None
        pick = max if self.direction == "maximize" else min
        return pick(done, key=lambda t: t.value)  # type: ignore[arg-type,return-value]

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best.params) if self.best else {}

    @property
    def best_value(self) -> float | None:
        return self.best.value if self.best else None

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"trial": t.number, "state": t.state, self.metric: t.value,
                              **{f"params.{k}": v for k, v in t.params.items()},
                              "job": t.job_id[:8], "run": (t.run_id or "")[:8], "reason": t.reason}
                             for t in self.trials])

    def summary(self) -> str:
        n = {s: sum(t.state == s for t in self.trials) for s in ("COMPLETE", "PRUNED", "FAIL")}
        lines = [f"tune {self.parent.record.id[:8]} {self.parent.record.name}: {len(self.trials)} trials "
                 f"({n['COMPLETE']} complete, {n['PRUNED']} pruned, {n['FAIL']} failed); "
                 f"{self.direction} {self.metric}"]
        b = self.best
        if b is not None:
            params = " ".join(f"{k}={v!r}" for k, v in b.params.items())
            lines.append(f"best      trial {b.number}: {self.metric}={b.value:.6g}  {params}")
        lines.append(f"run       {self.parent_run_id[:8]} (parent of the trials' runs)")
        if self.candidate:
            lines.append(f"candidate {self.candidate} (registered, not promoted)")
        if self._importances:
            lines.append("importance " + ", ".join(f"{k}={v:.2f}" for k, v in self._importances.items()))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def panel(self) -> dict[str, Any]:
        """The Vega-Lite v5 spec: optimisation history, importances, parallel coordinates."""
        from mlops_jupyter.jobs import tune_panel

        return tune_panel.spec(self)

    def chart(self) -> Any:
        """The panel's charts as one output: the live Vega-Lite spec and its static SVG."""
        from mlops_jupyter.jobs import tune_panel

        return tune_panel.chart(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from mlops_jupyter.jobs import tune_panel

        return tune_panel.mimebundle(self)

    def _ipython_display_(self) -> None:
        # two outputs: JupyterLab ranks text/html above Vega-Lite, so a single bundle
        # carrying both would never draw the charts live
        from IPython.display import display

        from mlops_jupyter.jobs import tune_panel

        display({"text/html": tune_panel.html(self), "text/plain": self.summary()}, raw=True)
        display(self.chart())

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent.to_dict(), "parent_run": self.parent_run_id, "metric": self.metric,
                "direction": self.direction, "best_params": self.best_params, "best_value": self.best_value,
                "candidate": self.candidate, "importances": self.importances,
                "trials": [t.__dict__ for t in self.trials]}


# -- checks ---------------------------------------------------------------------------------
def _direction(direction: object) -> str:
    d = str(direction).lower().strip() if isinstance(direction, str) else ""
    d = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}.get(d, "")
    if not d:
        raise UsageError(f"direction must be 'max' or 'min', got {direction!r}")
    return d


def _positive_int(name: str, value: object, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise UsageError(f"{name} must be an integer from 1 to {high}, got {value!r}")
    return value


def _sampler(name: object, seed: int | None, dims: list[space_mod.Dimension]) -> Any:
    import optuna

    if name not in SAMPLERS:
        raise UsageError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        if any(d.kind != "choice" for d in dims):
            raise UsageError("sampler 'grid' needs every dimension to be choice:...")
        return optuna.samplers.GridSampler({d.name: list(d.choices) for d in dims}, seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, len(dims) * 2)))


def _pruner(name: object) -> Any:
    import optuna

    if name in (None, "none", False):
        return optuna.pruners.NopPruner()
    if name != "median":
        raise UsageError(f"pruner must be one of {', '.join(PRUNERS)}, got {name!r}")
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)


def _storage(storage: object, parallel: int, tune_id: str) -> Any:
    """Where the study persists: a JournalStorage file beside an embedded store, in memory
    for a remote store, or the RDB / Optuna storage the caller gives (never SQLite with
    parallel trials)."""
    import optuna

    if storage is None:
        from mlops_jupyter.store import current_config

        home = current_config().home
        if home is None:
            return None
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        folder = os.path.join(str(home), "optuna")
        os.makedirs(folder, exist_ok=True)
        return JournalStorage(JournalFileBackend(os.path.join(folder, f"{tune_id}.journal")))
    if isinstance(storage, str):
        if storage.startswith("sqlite") and parallel > 1:
            raise UsageError("an SQLite Optuna storage cannot take parallel trials (Optuna's own "
                             "advice); leave storage unset or give a PostgreSQL URL")
        if "://" not in storage:
            raise UsageError(f"storage must be a database URL such as postgresql+psycopg://…, got {storage!r:.80}")
        return optuna.storages.RDBStorage(storage)
    return storage


# -- the search -----------------------------------------------------------------------------
def tune(
    template: str | os.PathLike[str],
    space: Mapping[str, Any],
    metric: str,
    *,
    direction: str = "max",
    trials: int = 20,
    parameters: Mapping[str, Any] | None = None,
    executor: str | executors.Executor | None = None,
    parallel: int = 2,
    sampler: str = "tpe",
    pruner: str | None = "median",
    seed: int | None = None,
    timeout: float | None = None,
    gates: Iterable[str] | str | None = None,
    kernel: str | None = None,
    paths: list[str | os.PathLike[str]] | None = None,
    experiment: str | None = None,
    register: bool = True,
    storage: Any = None,
    study_name: str | None = None,
    progress: bool = True,
    from_text: bool = False,
) -> Tuning:
    """Search ``space`` (``{"n_estimators": "int:10..500:log"}``) for the best ``metric``.

    Each trial runs ``template`` as a job on ``executor`` (``"local"``, ``"dask"``,
    ``"dask:ADDRESS"``), ``parallel`` at a time; TPE by default, median pruning on the
    metric's intermediate steps. Returns a :class:`Tuning` (rich display: optimisation
    history, parameter importances, parallel coordinates). Never promotes a model.
    """
    from mlops_jupyter.names import experiment_name

    _metric_name(metric)
    direction = _direction(direction)
    trials = _positive_int("trials", trials, MAX_TRIALS)
    parallel = _positive_int("parallel", parallel, 64)
    if not isinstance(executor, executors.Executor):
        executors.parse(executor)
    fixed = dict(parameters or {})
    base = api.prepare(template, fixed, gates, None, kernel, timeout, paths=paths, from_text=from_text)
    dims = space_mod.build(space, base.declared, repr(base.name))
    overlap = sorted(set(fixed) & {d.name for d in dims})
    if overlap:
        raise UsageError(f"parameters {overlap} are both fixed and tuned")
    fixed = dict(base.values)
    if "model_name" in base.declared.params:
        trial_fixed = {**fixed, "model_name": "-"}  # trials register nothing; the refit does
    else:
        trial_fixed = fixed
    exp = experiment_name(experiment) if experiment else None
    declared_exp = base.declared.params.get("experiment")
    run_exp = exp or (fixed.get("experiment") if isinstance(fixed.get("experiment"), str) else None) or (
        declared_exp.default if declared_exp is not None and isinstance(declared_exp.default, str) else None)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    smp, prn = _sampler(sampler, seed, dims), _pruner(pruner)
    from mlops_jupyter.store import current_config
    from mlops_jupyter.tracking import session
    from mlops_jupyter.tracking.session import get_store

    ex = executors.get(executor, parallel, in_process=True)
    try:
        ex.check_store(current_config())
        st = get_store()
        digest, _ = st.put_blob_bytes(base.template_bytes)
        tune_id = uuid.uuid4().hex
        stor = _storage(storage, parallel, tune_id)
        study = optuna.create_study(storage=stor, sampler=smp, pruner=prn, direction=direction,
                                    study_name=study_name or f"{base.name}-{tune_id[:8]}",
                                    load_if_exists=study_name is not None)
        _fail_orphaned_trials(study)
        parent = st.create_job(
            kind="tune", name=base.name, template=base.template, template_digest=digest,
            parameters={"space": {d.name: d.spec() for d in dims}, "fixed": fixed},
            gates=[{"expr": g.expr} for g in base.gates], kernel=base.kernel, timeout=timeout,
            cells_total=trials, job_id=tune_id, parent_id=os.environ.get(api.ENV_JOB_ID) or None,
            details={"metric": metric, "direction": direction, "sampler": sampler,
                     "pruner": pruner or "none", "executor": ex.describe(), "parallel": parallel},
        )
        prun = session.start_run(
            name=f"tune-{base.name}", experiment=run_exp or None,
            params={**{f"space.{d.name}": d.spec() for d in dims}, "metric": metric,
                    "direction": direction, "trials": trials, "sampler": sampler},
            system_tags={"mlops.tune": tune_id},
        )
        try:
            records = _search(study, dims, base, template, trial_fixed, metric, trials, ex, parent.id,
                              prun.id, exp, progress, paths, gates, kernel, timeout, st)
        except (Terminated, KeyboardInterrupt) as e:
            st.finish_job(parent.id, JOB_KILLED, ended_by="signal",
                          error={"type": "Terminated", "message": str(e) or "interrupted"})
            prun.end(status="KILLED")
            raise
        result = Tuning(study, Job(parent), prun.id, metric, direction, records)
        _log_parent(prun, result, st)
        if register and result.best is not None:
            _refit(result, base, template, fixed, ex, exp, progress, paths, gates, kernel, timeout, st)
        prun.end()
        ok = result.ok
        final = st.finish_job(
            parent.id, JOB_FINISHED if ok else JOB_FAILED, cells_done=len(records),
            error=None if ok else {"type": "TuneFailed", "message": "no trial completed with metric "
                                   f"{metric!r}: {_first_reason(records)}"},
            details={**parent.details, "best_params": result.best_params, "best_value": result.best_value,
                     "candidate": result.candidate, "parent_run": prun.id},
        )
        result.parent = Job(final)
        return result
    finally:
        if ex is not executor:
            ex.close()


def _fail_orphaned_trials(study: Any) -> None:
    """A resumed study may hold trials left RUNNING by a driver that died (one driver per
    study is the rule here, so they cannot be alive): fail them, or the sampler keeps
    treating them as in flight. Optuna's heartbeats do this for ``optimize`` loops only."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        try:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        except Exception:  # noqa: BLE001 - finished meanwhile
            continue


def _metric_name(metric: object) -> None:
    if not isinstance(metric, str) or not metric.strip() or len(metric) > 250 or any(
        not c.isprintable() for c in metric
    ):
        raise UsageError(f"metric must be the name of a metric the template logs, got {metric!r}")


def _first_reason(records: list[TrialRecord]) -> str:
    for r in records:
        if r.reason:
            return f"trial {r.number}: {r.reason}"
    return "no trial ran"


def _search(
    study: Any, dims: list[space_mod.Dimension], base: api.Prepared, template: Any,
    fixed: dict[str, Any], metric: str, n_trials: int, ex: executors.Executor, parent_job: str,
    parent_run: str, exp: str | None, progress: bool, paths: Any, gates: Any, kernel: Any,
    timeout: Any, st: Any,
) -> list[TrialRecord]:
    dist = {d.name: d.distribution() for d in dims}
    live: dict[str, tuple[Any, TrialRecord]] = {}
    records: list[TrialRecord] = []
    pruned: set[str] = set()
    bar = fanout._bar(n_trials, progress, f"tune {base.name}")
    asked = 0
    last_prune = 0.0
    import optuna

    prunes = not isinstance(study.pruner, optuna.pruners.NopPruner)  # else nothing to read

    def launch() -> None:
        nonlocal asked
        while asked < n_trials and len(live) < ex.slots:
            trial = study.ask(dist)
            asked += 1
            params = {k: _plain(v) for k, v in trial.params.items()}
            jid = uuid.uuid4().hex
            prep = _with_values(base, {**fixed, **params})
            rec = TrialRecord(trial.number, params, jid)
            label = " ".join(f"{k}={v!r}" for k, v in params.items())[:60]
            ex.submit(fanout.make_task(prep, jid, parent_job, exp, {api.ENV_PARENT_RUN: parent_run}, label))
            live[jid] = (trial, rec)
            records.append(rec)

    def finish(res: executors.TaskResult) -> None:
        trial, rec = live.pop(res.task.job_id)
        job_rec = fanout.settle(res)
        runs = st.search_runs(job_id=rec.job_id) if job_rec is not None else []
        main = Job(job_rec, runs=runs).run if job_rec is not None else None
        rec.run_id = main.id if main is not None else None
        value = None
        if main is not None and metric in main.metrics:
            value = main.metrics[metric].last
        if prunes and main is not None and rec.job_id not in pruned:
            # the points logged since the last read (all of them for a trial faster than
            # PRUNE_EVERY): the median pruner compares later trials with these
            report(trial, rec, main.id)
        if rec.job_id in pruned:
            rec.state, rec.reason = "PRUNED", "pruned: intermediate values below the median"
            study.tell(trial, state=_state("PRUNED"))
            if job_rec is not None:
                st.update_job(rec.job_id, error={"type": "Pruned", "message": rec.reason})
        elif job_rec is not None and job_rec.status == JOB_FINISHED and value is not None and math.isfinite(value):
            rec.state, rec.value = "COMPLETE", float(value)
            study.tell(trial, float(value))
        else:
            rec.state = "FAIL"
            if job_rec is None:
                rec.reason = "the job did not start" + (f": {res.lost}" if res.lost else "")
            elif job_rec.status != JOB_FINISHED:
                err = job_rec.error or {}
                rec.reason = f"job {job_rec.status}: {err.get('type', '')} {err.get('message', '')}"[:300]
            else:
                rec.reason = f"the job's run logged no finite {metric!r}"
            study.tell(trial, state=_state("FAIL"))
        if main is not None:
            try:
                st.set_tags(main.id, {"mlops.tune": parent_job, "mlops.tune.trial": str(rec.number),
                                      "mlops.tune.state": rec.state})
            except Exception:  # noqa: BLE001 - tags are informative
                pass
        if bar is not None:
            bar.set_postfix_str(f"best {metric}={_best(records, study.direction)}", refresh=False)
            bar.update(1)

    def report(trial: Any, rec: TrialRecord, run_id: str) -> bool:
        """Tell Optuna the intermediate points not yet reported; True when there were any."""
        points = [p for p in st.metric_history(run_id, [metric]) if p.step is not None]
        new = [p for p in sorted(points, key=lambda p: p.step) if p.step > rec.steps_seen]
        for p in new:
            if p.value is not None and math.isfinite(p.value):
                trial.report(float(p.value), int(p.step))
            rec.steps_seen = int(p.step)
        return bool(new)

    def check_pruning() -> None:
        for jid, (trial, rec) in list(live.items()):
            if jid in pruned:
                continue
            runs = st.search_runs(job_id=jid)
            if runs and report(trial, rec, runs[0].id) and trial.should_prune():
                pruned.add(jid)
                ex.cancel(jid)

    try:
        with fanout.signals_raise():
            try:
                launch()
                while live:
                    for res in ex.poll(0.3):
                        finish(res)
                    now = time.monotonic()
                    if prunes and now - last_prune >= PRUNE_EVERY:
                        last_prune = now
                        check_pruning()
                    launch()
            except (Terminated, KeyboardInterrupt):
                ex.cancel_all()
                end = time.monotonic() + fanout.CANCEL_GRACE
                while live and time.monotonic() < end:
                    try:
                        for res in ex.poll(0.5):
                            pruned.discard(res.task.job_id)
                            finish(res)
                    except (Terminated, KeyboardInterrupt):
                        continue
                raise
    finally:
        if bar is not None:
            bar.close()
    return records


def _with_values(base: api.Prepared, values: dict[str, Any]) -> api.Prepared:
    """The checked template with a trial's values (validated like any job's, without
    reading the notebook and looking up the kernel again for every trial)."""
    import dataclasses

    from mlops_jupyter.jobs import parameters as params_mod

    checked = params_mod.validate(base.declared, values, template=repr(base.name))
    return dataclasses.replace(base, values=checked)


def _state(name: str) -> Any:
    import optuna

    return getattr(optuna.trial.TrialState, name)


def _plain(v: Any) -> Any:
    import numbers

    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    return v


def _best(records: list[TrialRecord], direction: Any) -> str:
    vals = [r.value for r in records if r.value is not None]
    if not vals:
        return "-"
    maximize = "MAXIMIZE" in str(direction).upper()
    return f"{(max if maximize else min)(vals):.4g}"


def _compute_importances(study: Any) -> dict[str, float]:
    """fANOVA importances (Optuna's default); empty when too few trials to say."""
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(done) < 3:
        return {}
    try:
        imp = optuna.importance.get_param_importances(study)
    except Exception:  # noqa: BLE001 - e.g. every trial had the same params
        return {}
    return {k: float(v) for k, v in imp.items()}


def _log_parent(prun: Any, result: Tuning, st: Any) -> None:
    for t in sorted(result.trials, key=lambda t: t.number):
        if t.value is not None:
            prun.log_metric(f"trial_{result.metric}", t.value, step=t.number)
    b = result.best
    if b is None:
        return
    prun.log_metric(f"best_{result.metric}", float(b.value))  # type: ignore[arg-type]
    prun.log_params({f"best.{k}": v for k, v in b.params.items()})
    prun.flush()
    st.set_tags(prun.id, {"mlops.tune.best_trial": str(b.number), "mlops.tune.best_job": b.job_id,
                      **({"mlops.tune.best_run": b.run_id} if b.run_id else {})})


def _refit(
    result: Tuning, base: api.Prepared, template: Any, fixed: dict[str, Any],
    ex: executors.Executor, exp: str | None, progress: bool, paths: Any, gates: Any, kernel: Any,
    timeout: Any, st: Any,
) -> None:
    """Register the best trial's model: a refit job when the template takes ``model_name``
    (trials registered nothing), else the versions the best trial's run registered."""
    b = result.best
    assert b is not None
    if "model_name" not in base.declared.params:
        versions = st.model_versions_of_run(b.run_id) if b.run_id else []
        if versions:
            result.candidate = f"{versions[0][0]}@v{versions[0][1]}"
    else:
        prep = _with_values(base, {**fixed, **b.params})
        jid = uuid.uuid4().hex
        task = fanout.make_task(prep, jid, result.parent.record.id, exp,
                                {api.ENV_PARENT_RUN: result.parent_run_id}, "refit")
        fanout.drive(ex, [task], progress=progress, desc="refit best")
        refit = Job(st.get_job(jid)) if _exists(st, jid) else None
        result.refit = refit
        if refit is not None and refit.run is not None:
            versions = st.model_versions_of_run(refit.run.id)
            if versions:
                result.candidate = f"{versions[0][0]}@v{versions[0][1]}"
            st.set_tags(refit.run.id, {"mlops.tune": result.parent.record.id, "mlops.tune.refit": "best"})
    if result.candidate:
        st.set_tags(result.parent_run_id, {"mlops.tune.candidate": result.candidate})


def _exists(st: Any, jid: str) -> bool:
    from mlops_jupyter.errors import NotFoundError

    try:
        st.get_job(jid)
    except NotFoundError:
        return False
    return True
