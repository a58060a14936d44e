"""``mlops import mlflow SOURCE``: an MLflow store's history, brought in whole.

Everything is read through MLflow's own client, so a file store, an SQL store
(SQLite, PostgreSQL, MySQL) and a tracking server are read the same way. What comes in:
experiments; runs with params, tags, status, original start/end times, parent runs
(``mlflow.parentRunId``) and full metric histories (value, step, timestamp); run
artifacts; registered models with versions, descriptions, aliases and stages.

Why it is safe to run twice: a run keeps its MLflow id (32 hex digits, like ours), so a
second import finds it. A run is marked imported only by its last write (``end_run``
with ``ended_by="import"``); one interrupted half way is completed by the next import,
not duplicated or skipped. A model version carries its MLflow origin in a tag.

Throughput: metric points are written through the store's batch path
(``log_metric_batches``), many runs per transaction.
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import MlopsError, NotFoundError, UsageError
from mlops_jupyter.interop import mlflow_source as msrc
from mlops_jupyter.interop.report import TransferReport
from mlops_jupyter.store.entities import FAILED, FINISHED, KILLED, Run
from mlops_jupyter.tracking import session

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_ID_NAMESPACE = uuid.UUID("6f1d2c1e-8a51-4d1e-9a57-6d6c666c6f77")
#: tag on a model version naming where in MLflow it came from
SOURCE_TAG = "mlops.mlflow_source"
#: tag the export puts on MLflow runs: the run id in this store
RUN_ID_TAG = "mlops.run_id"
_BATCH_POINTS = 200_000  # metric points buffered before one write transaction
_STATUS = {"FINISHED": FINISHED, "FAILED": FAILED, "KILLED": KILLED}


def our_run_id(mlflow_run_id: str) -> str:
    """The id an MLflow run gets here: its own when it has our shape, else a stable one."""
    rid = mlflow_run_id.lower()
    return rid if _HEX32.match(rid) else uuid.uuid5(_ID_NAMESPACE, mlflow_run_id).hex


def import_mlflow(
    source: str,
    *,
    experiments: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    trust_pickle: bool = False,
    artifacts: bool = True,
    progress: bool = True,
) -> TransferReport:
    """Bring an MLflow store's experiments, runs, artifacts and registered models in.

    ``source``: ``sqlite:///mlflow.db``, an ``mlruns/`` folder, ``postgresql://…`` or an
    ``http(s)://`` tracking server. ``experiments`` / ``models`` limit the import to
    those names. ``trust_pickle``: also import scikit-learn models MLflow saved as
    pickle (loading one runs arbitrary code; each is re-saved as skops and the trust is
    recorded in the audit log). Returns a report; ``print(report)`` shows what could not
    be carried over. Importing again adds nothing.
    """
    started = time.perf_counter()
    src = msrc.resolve(source)
    client = msrc.client(src)
    st = session.get_store()
    report = TransferReport("import", src.shown, msrc.store_label(st))
    with msrc.quiet(), msrc.pinned(src.uri), msrc.mlflow_errors(f"MLflow could not read {src.shown}"):
        exps = _experiments(client, experiments, report)
        runs = _runs(client, exps, report)
        versions = _model_versions(client, models, report)
        bar = _bar(len(runs) + sum(len(v) for _, v in versions), progress)
        try:
            _RunImporter(client, src.uri, st, report, bar, artifacts).run_all(runs, exps)
            if versions:
                from mlops_jupyter.interop.mlflow_import_models import import_models

                import_models(client, src, st, versions, report, bar, trust_pickle)
        finally:
            bar.close()
    report.seconds = time.perf_counter() - started
    return report


def _bar(total: int, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="mlflow import", unit="item", disable=not progress, leave=False)



def _experiments(client: Any, wanted: Sequence[str] | None, report: TransferReport) -> dict[str, Any]:
    """MLflow experiment id -> (entity, our experiment), active ones only."""
    from mlflow.entities import ViewType

    from mlops_jupyter.names import experiment_name

    found = msrc.paged(client.search_experiments, view_type=ViewType.ALL, max_results=1000)
    by_name = {e.name: e for e in found}
    if wanted is not None:
        missing = [w for w in wanted if w not in by_name]
        if missing:
            raise NotFoundError(
                f"no MLflow experiment named {', '.join(map(repr, missing))}; experiments: "
                f"{', '.join(sorted(by_name)) or '(none)'}"
            )
    st = session.get_store()
    out: dict[str, Any] = {}
    deleted = 0
    for e in found:
        if wanted is not None and e.name not in wanted:
            continue
        if e.lifecycle_stage != "active":
            deleted += 1
            continue
        try:
            name = experiment_name(e.name)
        except MlopsError as err:
            report.not_carried.append(f"experiment {e.name!r} and its runs: {err}")
            continue
        out[e.experiment_id] = (e, st.get_or_create_experiment(name))
        report.experiments.append(name)
    if deleted:
        report.not_carried.append(f"{deleted} deleted experiment(s) in MLflow's trash")
    return out


def _runs(client: Any, exps: dict[str, Any], report: TransferReport) -> list[Any]:
    """Active runs of those experiments, parents before their children."""
    from mlflow.entities import ViewType

    if not exps:
        return []
    found: list[Any] = []
    ids = list(exps)
    for i in range(0, len(ids), 100):
        found.extend(msrc.paged(
            client.search_runs, experiment_ids=ids[i:i + 100], run_view_type=ViewType.ALL,
            max_results=1000, order_by=["attributes.start_time ASC"],
        ))
    active = [r for r in found if r.info.lifecycle_stage == "active"]
    if len(active) < len(found):
        report.not_carried.append(f"{len(found) - len(active)} deleted run(s) in MLflow's trash")
    by_id = {r.info.run_id: r for r in active}
    ordered: list[Any] = []
    seen: set[str] = set()

    def visit(r: Any, depth: int = 0) -> None:
        rid = r.info.run_id
        if rid in seen:
            return
        seen.add(rid)
        parent = by_id.get(r.data.tags.get("mlflow.parentRunId", ""))
        if parent is not None and depth < 1000:
            visit(parent, depth + 1)
        ordered.append(r)

    for r in active:
        visit(r)
    return ordered


def _model_versions(client: Any, wanted: Sequence[str] | None, report: TransferReport) -> list[tuple[Any, list[Any]]]:
    """(registered model, its versions in order) for every model to import."""
    try:
        found = msrc.paged(client.search_registered_models, max_results=1000)
    except Exception as e:  # noqa: BLE001 - a store without a registry (old file stores)
        if wanted:
            raise UsageError(f"the MLflow store has no model registry to read: {e}") from None
        report.not_carried.append(f"registered models: the registry could not be read ({e})")
        return []
    by_name = {m.name: m for m in found}
    if wanted is not None:
        missing = [w for w in wanted if w not in by_name]
        if missing:
            raise NotFoundError(
                f"no MLflow registered model named {', '.join(map(repr, missing))}; models: "
                f"{', '.join(sorted(by_name)) or '(none)'}"
            )
    out = []
    for m in found:
        if wanted is not None and m.name not in wanted:
            continue
        quote = '"' if "'" in m.name else "'"
        vs = msrc.paged(client.search_model_versions, filter_string=f"name = {quote}{m.name}{quote}",
                    max_results=1000) if quote not in m.name else []
        out.append((m, sorted(vs, key=lambda v: int(v.version))))
    return out


class _RunImporter:
    """Writes MLflow runs into the store, buffering metric points across runs."""

    def __init__(self, client: Any, uri: str, st: Any, report: TransferReport, bar: Any, artifacts: bool) -> None:
        self.client, self.uri, self.st, self.report, self.bar = client, uri, st, report, bar
        self.artifacts = artifacts
        self.pending: dict[str, list[tuple[str, float, int, float]]] = {}
        self.pending_points = 0
        self.to_end: list[tuple[str, str, float]] = []
        self.still_running = 0

    def run_all(self, runs: Sequence[Any], exps: dict[str, Any]) -> None:
        existing = self._existing([our_run_id(r.info.run_id) for r in runs])
        ours = self._exported_from_here(runs)
        for r in runs:
            rid_src = r.info.run_id
            if rid_src in ours:  # a run this store exported: it is already here
                self.report.runs_present += 1
                self.report.run_ids[rid_src] = ours[rid_src]
                self.bar.update(1)
                continue
            rid = our_run_id(rid_src)
            self.report.run_ids[rid_src] = rid
            have = existing.get(rid)
            if have is not None and have.ended_by == "import":
                self.report.runs_present += 1
                self.bar.update(1)
                continue
            self._one(r, rid, have, exps[r.info.experiment_id][1].id, existing)
            self.bar.update(1)
        self._flush()
        if self.still_running:
            self.report.not_carried.append(
                f"{self.still_running} run(s) were RUNNING or SCHEDULED in MLflow: imported as "
                "KILLED, since nothing here is logging to them"
            )

    def _existing(self, ids: list[str]) -> dict[str, Run]:
        out: dict[str, Run] = {}
        for i in range(0, len(ids), 500):
            out.update((r.id, r) for r in self.st.search_runs(run_ids=ids[i:i + 500]))
        return out

    def _exported_from_here(self, runs: Iterable[Any]) -> dict[str, str]:
        """MLflow runs that an export from this store created (tagged with our id)."""
        tagged = {r.info.run_id: r.data.tags[RUN_ID_TAG] for r in runs if RUN_ID_TAG in r.data.tags}
        if not tagged:
            return {}
        here = self._existing([t for t in tagged.values() if _HEX32.match(t)])
        return {m: o for m, o in tagged.items() if o in here}

    def _one(self, r: Any, rid: str, have: Run | None, experiment_id: str, existing: dict[str, Run]) -> None:
        info, data = r.info, r.data
        start = (info.start_time or 0) / 1000.0 or None
        if have is None:
            parent_src = data.tags.get("mlflow.parentRunId")
            parent = self.report.run_ids.get(parent_src) if parent_src else None
            if parent_src and parent is None:
                self.report.not_carried.append(
                    f"run {info.run_id}: its parent run {parent_src} is not in the import "
                    "(deleted or in another experiment); imported without a parent"
                )
            self.st.create_run(
                experiment_id=experiment_id, name=info.run_name or data.tags.get("mlflow.runName"),
                run_id=rid, start_time=start, params=dict(data.params), tags=dict(data.tags),
                user=info.user_id or data.tags.get("mlflow.user"), parent_id=parent,
                source=data.tags.get("mlflow.source.name"),
                git_commit=data.tags.get("mlflow.source.git.commit"),
            )
        metric_keys = list(data.metrics)
        last_ts = start or 0.0
        if metric_keys and (have is None or not have.metrics):
            points: list[tuple[str, float, int, float]] = []
            for k in metric_keys:
                for m in self.client.get_metric_history(info.run_id, k):
                    points.append((k, m.value, m.step, m.timestamp / 1000.0))
            if points:
                last_ts = max(last_ts, max(p[3] for p in points))
            self.pending[rid] = points
            self.pending_points += len(points)
        if self.artifacts:
            self._artifacts(info, rid)
        status = _STATUS.get(info.status)
        end = (info.end_time or 0) / 1000.0 or None
        if status is None:  # RUNNING / SCHEDULED: nothing here will ever end them
            self.still_running += 1
            status, end = KILLED, end or last_ts or start or time.time()
        self.to_end.append((rid, status, end or start or time.time()))
        self.report.runs += 1
        if self.pending_points >= _BATCH_POINTS or len(self.to_end) >= 200:
            self._flush()

    def _flush(self) -> None:
        """One transaction for the buffered points, then mark those runs imported."""
        if self.pending:
            self.report.metric_points += self.st.log_metric_batches(self.pending)
        self.pending, self.pending_points = {}, 0
        for rid, status, end in self.to_end:
            self.st.end_run(rid, status, end, ended_by="import")
        self.to_end = []

    def _artifacts(self, info: Any, rid: str) -> None:
        """Every artifact file of the run, read from its artifact URI (no extra run
        lookup per run, which MLflow's client does for each listing)."""
        import mlflow.artifacts as mart

        src_id = info.run_id
        try:
            if not info.artifact_uri or not mart.list_artifacts(
                artifact_uri=info.artifact_uri, tracking_uri=self.uri,
            ):
                return
            with tempfile.TemporaryDirectory(prefix="mlops-mlflow-") as tmp:
                root = Path(mart.download_artifacts(
                    artifact_uri=info.artifact_uri, dst_path=tmp, tracking_uri=self.uri,
                ))
                for f in sorted(p for p in root.rglob("*") if p.is_file()):
                    rel = f.relative_to(root).as_posix()
                    try:
                        self.st.put_artifact_file(rid, rel, f)
                        self.report.artifacts += 1
                    except MlopsError as e:
                        self.report.not_carried.append(f"run {src_id}: artifact {rel!r}: {e}")
        except MlopsError:
            raise
        except Exception as e:  # noqa: BLE001 - an artifact store MLflow cannot read
            self.report.not_carried.append(
                f"run {src_id}: artifacts could not be downloaded ({type(e).__name__}: {e})"
            )
