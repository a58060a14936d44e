"""``mlops export mlflow --to TRACKING_URI``: leave with everything, readable by MLflow.

Written only through MLflow's own client (``MlflowClient`` with the target URI), so the
result is an ordinary MLflow store: its UI shows the runs and
``mlflow.pyfunc.load_model("models:/churn/1")`` loads the models. No MLflow run is
started; MLflow's default tracking URI points at the target only while the export runs
(see ``mlflow_source.pinned``), so a notebook that also uses MLflow keeps its settings.

- runs: name, params, tags, status, original start/end times, full metric histories
  (``log_batch``, 1,000 points per call — MLflow's limit), artifacts, and parents (the
  ``mlflow.parentRunId`` tag names the exported parent);
- models: each scikit-learn version as an MLflow sklearn-flavor model (skops format),
  registered with its description and tags, aliases pointing at the same versions.

Idempotent: each exported run carries ``mlops.run_id`` and each version
``mlops.model_version_id``; a second export to the same store finds them and adds
nothing. Which selection: with neither ``experiment`` nor ``model``, everything; with
``experiment`` only those experiments' runs; with ``model`` only those models (and the
runs their versions came from).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import MlopsError, NotFoundError
from mlops_jupyter.interop import mlflow_source as msrc
from mlops_jupyter.interop.mlflow_import import RUN_ID_TAG
from mlops_jupyter.interop.report import TransferReport
from mlops_jupyter.store.entities import RUNNING, Run
from mlops_jupyter.tracking import session

VERSION_ID_TAG = "mlops.model_version_id"
_MAX_METRICS, _MAX_PARAMS = 1000, 100  # MLflow's log_batch limits
_MAX_PARAM_VALUE, _MAX_TAG_VALUE = 6000, 8000


def export_mlflow(
    to: str,
    *,
    experiment: str | Sequence[str] | None = None,
    model: str | Sequence[str] | None = None,
    progress: bool = True,
) -> TransferReport:
    """Write runs and registered models of this store into the MLflow store ``to``.

    ``to``: ``sqlite:///mlflow.db``, an ``mlruns/`` folder, ``postgresql://…`` or an
    ``http(s)://`` tracking server. Exporting again adds nothing.
    """
    started = time.perf_counter()
    exps = [experiment] if isinstance(experiment, str) else list(experiment or [])
    names = [model] if isinstance(model, str) else list(model or [])
    target = msrc.resolve(to, for_export=True)
    client = msrc.client(target)
    st = session.get_store()
    report = TransferReport("export", msrc.store_label(st), target.shown)
    runs = _select_runs(st, exps, names, everything=not exps and not names)
    versions = _select_versions(st, names, everything=not exps and not names)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(runs) + len(versions), desc="mlflow export", unit="item",
               disable=not progress, leave=False)
    with msrc.quiet(), msrc.pinned(target.uri), msrc.mlflow_errors(f"MLflow could not write to {target.shown}"):
        try:
            exporter = _Exporter(client, st, report, bar)
            exporter.runs(runs)
            exporter.models(versions)
        finally:
            bar.close()
    report.seconds = time.perf_counter() - started
    return report


def _select_runs(st: Any, exps: list[str], models: list[str], everything: bool) -> list[Run]:
    chosen: dict[str, Run] = {}
    if everything:
        chosen.update((r.id, r) for r in st.search_runs())
    for name in exps:
        chosen.update((r.id, r) for r in st.search_runs([st.get_experiment(name).id]))
    for name in models:
        ids = [v.run_id for v in st.list_model_versions(name) if v.run_id]
        if ids:
            chosen.update((r.id, r) for r in st.search_runs(run_ids=ids))
    # parents first (a parent outside the selection comes along: children point at it)
    out: list[Run] = []
    seen: set[str] = set()

    def visit(r: Run) -> None:
        if r.id in seen:
            return
        seen.add(r.id)
        if r.parent_id:
            parent = chosen.get(r.parent_id)
            if parent is None:
                found = st.search_runs(run_ids=[r.parent_id])
                parent = found[0] if found else None
            if parent is not None:
                visit(parent)
        out.append(r)

    for r in sorted(chosen.values(), key=lambda r: r.start_time):
        visit(r)
    return out


def _select_versions(st: Any, models: list[str], everything: bool) -> list[Any]:
    names = [m.name for m in st.list_models()] if everything else models
    out = []
    for n in names:
        out.extend(sorted(st.list_model_versions(n), key=lambda v: v.version))
    return out


class _Failed(Exception):
    """One run or version MLflow would not take: reported, the export goes on."""


def _refused(e: BaseException) -> str:
    first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return f"MLflow refused it ({type(e).__name__}: {first})"


def _ms(t: float | None) -> int | None:
    return None if t is None else int(round(t * 1000))


class _Exporter:
    def __init__(self, client: Any, st: Any, report: TransferReport, bar: Any) -> None:
        self.client, self.st, self.report, self.bar = client, st, report, bar
        self.exp_ids: dict[str, str] = {}
        self.done: dict[str, dict[str, str]] = {}  # MLflow experiment id -> our id -> MLflow id

    # -- runs -------------------------------------------------------------------------
    def _experiment(self, name: str) -> str:
        if name not in self.exp_ids:
            from mlflow.entities import ViewType

            e = self.client.get_experiment_by_name(name)
            if e is not None and e.lifecycle_stage != "active":
                self.client.restore_experiment(e.experiment_id)
            eid = e.experiment_id if e is not None else self.client.create_experiment(name)
            self.exp_ids[name] = eid
            self.report.experiments.append(name)
            found = msrc.paged(self.client.search_runs, experiment_ids=[eid],
                           run_view_type=ViewType.ACTIVE_ONLY, max_results=1000)
            self.done[eid] = {
                r.data.tags[RUN_ID_TAG]: r.info.run_id for r in found if RUN_ID_TAG in r.data.tags
            }
        return self.exp_ids[name]

    def runs(self, runs: Sequence[Run]) -> None:
        for r in runs:
            eid = self._experiment(r.experiment)
            have = self.done[eid].get(r.id)
            if have is not None:
                self.report.runs_present += 1
                self.report.run_ids[r.id] = have
            else:
                try:
                    self.report.run_ids[r.id] = self._run(r, eid)
                    self.done[eid][r.id] = self.report.run_ids[r.id]
                    self.report.runs += 1
                except _Failed as e:
                    self.report.not_carried.append(f"run {r.short_id}: {e}")
            self.bar.update(1)

    def _run(self, r: Run, eid: str) -> str:
        tags = {k: v for k, v in r.tags.items() if len(v) <= _MAX_TAG_VALUE}
        for k in sorted(set(r.tags) - set(tags)):
            self.report.not_carried.append(f"run {r.short_id}: tag {k!r} is longer than MLflow allows")
        if r.parent_id:
            parent = self.report.run_ids.get(r.parent_id)
            if parent is not None:
                tags["mlflow.parentRunId"] = parent
            else:
                tags.pop("mlflow.parentRunId", None)
        for key, value in (("mlflow.user", r.user), ("mlflow.source.name", r.source),
                           ("mlflow.source.git.commit", r.git_commit)):
            if value and key not in tags:
                tags[key] = value
        if r.name:
            tags["mlflow.runName"] = r.name
        try:
            created = self.client.create_run(eid, start_time=_ms(r.start_time), tags=tags, run_name=r.name)
        except Exception as e:  # noqa: BLE001 - MLflow's own validation
            raise _Failed(_refused(e)) from None
        mid = created.info.run_id
        try:
            self._fill(r, mid)
        except BaseException as e:
            # a run left half way goes to MLflow's trash; a later export writes it again
            with contextlib.suppress(Exception):
                self.client.delete_run(mid)
            if isinstance(e, MlopsError) or not isinstance(e, Exception):
                raise
            raise _Failed(_refused(e)) from None
        return mid

    def _fill(self, r: Run, mid: str) -> None:
        from mlflow.entities import Metric, Param

        params = [Param(k, v) for k, v in r.params.items() if len(v) <= _MAX_PARAM_VALUE]
        for k in sorted(k for k, v in r.params.items() if len(v) > _MAX_PARAM_VALUE):
            self.report.not_carried.append(f"run {r.short_id}: param {k!r} is longer than MLflow allows")
        for i in range(0, len(params), _MAX_PARAMS):
            self.client.log_batch(mid, params=params[i:i + _MAX_PARAMS])
        points = self.st.metric_history(r.id)
        batch: list[Any] = []
        for p in points:
            batch.append(Metric(p.key, p.value, _ms(p.timestamp), p.step))
            if len(batch) == _MAX_METRICS:
                self.client.log_batch(mid, metrics=batch)
                batch = []
        if batch:
            self.client.log_batch(mid, metrics=batch)
        self.report.metric_points += len(points)
        self._artifacts(r, mid)
        if r.status != RUNNING:
            self.client.set_terminated(mid, r.status, end_time=_ms(r.end_time))
        self.client.set_tag(mid, RUN_ID_TAG, r.id)  # last: only a complete run counts as exported

    def _artifacts(self, r: Run, mid: str) -> None:
        arts = self.st.list_artifacts(r.id)
        if not arts:
            return
        with tempfile.TemporaryDirectory(prefix="mlops-export-") as tmp:
            for a in arts:
                dest = Path(tmp) / a.name
                try:
                    self.st.download_artifact(r.id, a.name, dest)
                except MlopsError as e:
                    self.report.not_carried.append(f"run {r.short_id}: artifact {a.name!r}: {e}")
                    continue
                parent = str(Path(a.name).parent.as_posix())
                path = None if parent == "." else parent
                if dest.is_dir():
                    self.client.log_artifacts(mid, str(dest), a.name)
                else:
                    self.client.log_artifact(mid, str(dest), path)
                self.report.artifacts += 1

    # -- models -----------------------------------------------------------------------
    def models(self, versions: Sequence[Any]) -> None:
        by_model: dict[str, list[Any]] = {}
        for v in versions:
            by_model.setdefault(v.name, []).append(v)
        for name, vs in by_model.items():
            existing = self._registered(name)
            mapping: dict[int, str] = {}
            for v in vs:
                have = existing.get(v.id)
                if have is not None:
                    self.report.model_versions_present += 1
                    mapping[v.version] = have
                else:
                    try:
                        mapping[v.version] = self._version(v)
                        self.report.model_versions.append(f"{name}/{mapping[v.version]}")
                    except MlopsError as e:
                        self.report.not_carried.append(f"model {name}@v{v.version}: {e}")
                    except Exception as e:  # noqa: BLE001 - MLflow refused this version
                        self.report.not_carried.append(f"model {name}@v{v.version}: {_refused(e)}")
                self.report.versions[f"{name}@v{v.version}"] = f"{name}/{mapping.get(v.version, '-')}"
                self.bar.update(1)
            self._aliases(name, vs, mapping)

    def _registered(self, name: str) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            desc = self._model_description(name)
            self.client.create_registered_model(name, description=desc)
            return {}
        quote = '"' if "'" in name else "'"
        found = msrc.paged(self.client.search_model_versions, filter_string=f"name = {quote}{name}{quote}",
                       max_results=1000)
        return {mv.tags[VERSION_ID_TAG]: str(mv.version) for mv in found if VERSION_ID_TAG in (mv.tags or {})}

    def _model_description(self, name: str) -> str | None:
        for m in self.st.list_models():
            if m.name == name:
                return getattr(m, "description", None)
        return None

    def _version(self, v: Any) -> str:
        from mlops_jupyter.interop.mlflow_models import save_sklearn_for_mlflow
        from mlops_jupyter.models.registry import load

        if v.flavor != "sklearn":
            raise NotFoundError(
                f"flavor {v.flavor!r} is not exported (only scikit-learn models become MLflow models)"
            )
        trusted = tuple(v.flavor_meta.get("untrusted_types") or ()) if v.trusted else ()
        model = load(f"{v.name}@v{v.version}", trusted_types=trusted)
        run_id = self.report.run_ids.get(v.run_id or "")
        if run_id is None:  # the version's run was not exported: a run to hold the files
            eid = self._experiment("mlops-models")
            run_id = self.client.create_run(eid, run_name=f"{v.name}-v{v.version}",
                                            tags={VERSION_ID_TAG: v.id}).info.run_id
            self.client.set_terminated(run_id)
        artifact_path = f"models/{v.name}-v{v.version}"
        with tempfile.TemporaryDirectory(prefix="mlops-export-model-") as tmp:
            folder = Path(tmp) / "model"
            save_sklearn_for_mlflow(model, folder, requirements=v.requirements, trusted_types=trusted)
            self.client.log_artifacts(run_id, str(folder), artifact_path)
        source = f"{self.client.get_run(run_id).info.artifact_uri.rstrip('/')}/{artifact_path}"
        tags = {k: val for k, val in (v.tags or {}).items() if len(val) <= _MAX_TAG_VALUE}
        tags[VERSION_ID_TAG] = v.id
        mv = self.client.create_model_version(
            v.name, source, run_id=run_id, tags=tags, description=v.description,
        )
        return str(mv.version)

    def _aliases(self, name: str, vs: Sequence[Any], mapping: dict[int, str]) -> None:
        rm = self.client.get_registered_model(name)
        current = dict(getattr(rm, "aliases", None) or {})
        for v in vs:
            for alias in v.aliases:
                target = mapping.get(v.version)
                if target is None or str(current.get(alias)) == target:
                    continue
                self.client.set_registered_model_alias(name, alias, target)
                self.report.aliases.append(f"{name}@{alias} -> {target}")
