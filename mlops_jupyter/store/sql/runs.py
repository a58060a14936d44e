"""SQL for experiments, runs, params, tags, metrics and run artifacts."""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, case, or_, select, true, update
from sqlalchemy.engine import Connection

from mlops_jupyter import _proc
from mlops_jupyter.errors import (
    AmbiguousReferenceError,
    ConflictError,
    NotFoundError,
)
from mlops_jupyter.names import artifact_name
from mlops_jupyter.refs import parse_run_ref
from mlops_jupyter.store import schema as S
from mlops_jupyter.store.base import PointTuple
from mlops_jupyter.store.entities import (
    FINISHED,
    KILLED,
    RUNNING,
    Experiment,
    MetricPoint,
    MetricSummary,
    Run,
)
from mlops_jupyter.store.sql.core import SqlCore, chunks, dumps, loads, nan_in, nan_out

HEARTBEAT_EVERY = 15.0
STALE_AFTER = 120.0  # a run on another host without heartbeat for this long is dead
REAP_EVERY = 5.0


class SqlRuns(SqlCore):
    # -- experiments ------------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> Experiment:
        cache = self.__dict__.setdefault("_experiments", {})
        if name in cache:
            return cache[name]
        exp = self._get_or_create_experiment(name)
        cache[name] = exp
        return exp

    def _get_or_create_experiment(self, name: str) -> Experiment:
        def tx(conn: Connection) -> Experiment:
            row = conn.execute(select(S.experiments).where(S.experiments.c.name == name)).first()
            if row is None:
                exp = {"id": uuid.uuid4().hex, "name": name, "created_at": time.time()}
                self._upsert(conn, S.experiments, [exp], ["name"])
                row = conn.execute(
                    select(S.experiments).where(S.experiments.c.name == name)
                ).one()
            return Experiment(row.id, row.name, row.created_at, row.description)

        with self.db.read() as conn:
            row = conn.execute(select(S.experiments).where(S.experiments.c.name == name)).first()
        if row is not None:
            return Experiment(row.id, row.name, row.created_at, row.description)
        return self.db.write(tx)

    def get_experiment(self, name: str) -> Experiment:
        with self.db.read() as conn:
            row = conn.execute(select(S.experiments).where(S.experiments.c.name == name)).first()
        if row is None:
            names = [e.name for e in self.list_experiments()]
            raise NotFoundError(
                f"no experiment named {name!r}; experiments: {', '.join(names) or '(none yet)'}"
            )
        return Experiment(row.id, row.name, row.created_at, row.description)

    def list_experiments(self) -> list[Experiment]:
        with self.db.read() as conn:
            rows = conn.execute(select(S.experiments).order_by(S.experiments.c.created_at)).all()
        return [Experiment(r.id, r.name, r.created_at, r.description) for r in rows]

    # -- runs -------------------------------------------------------------------------
    def create_run(self, *, experiment_id: str, name: str | None, **context: Any) -> Run:
        # an imported run keeps its original id (MLflow's are 32-hex too), so a second
        # import finds it instead of duplicating it
        run_id = context.pop("run_id", None) or uuid.uuid4().hex
        now = context.pop("start_time", None) or time.time()
        params: Mapping[str, str] = context.pop("params", None) or {}
        tags: Mapping[str, str] = context.pop("tags", None) or {}
        # (name, bytes, kind): stored as blobs first, rows written in the run's transaction
        files = [
            (artifact_name(n), *self.blobs.put_bytes(data), kind)
            for n, data, kind in context.pop("files", None) or ()
        ]
        if getattr(self, "identity", None) is not None and self.identity():
            context["user"] = self.identity()  # PostgreSQL: the database login
        row = {
            "id": run_id, "experiment_id": experiment_id, "name": name, "status": RUNNING,
            "start_time": now, "heartbeat_at": now,
            **{k: context.get(k) for k in (
                "user", "host", "pid", "pid_start", "parent_id", "job_id", "source",
                "git_commit", "git_dirty",
            )},
        }

        def tx(conn: Connection) -> None:
            conn.execute(_INSERT_RUN, row)
            if params:
                conn.execute(_INSERT_PARAM, [
                    {"run_id": run_id, "key": k, "value": v} for k, v in params.items()
                ])
            if tags:
                conn.execute(_INSERT_TAG, [
                    {"run_id": run_id, "key": k, "value": v} for k, v in tags.items()
                ])
            for name, digest, size, kind in files:
                self._register_blob(conn, digest, size)
                conn.execute(_INSERT_ARTIFACT, {
                    "run_id": run_id, "name": name, "digest": digest, "size": size, "kind": kind,
                    "created_at": now,
                })

        self.db.write(tx)
        exp = next(
            (e.name for e in self.__dict__.get("_experiments", {}).values() if e.id == experiment_id),
            None,
        )
        if exp is None:
            with self.db.read() as conn:
                exp = conn.execute(
                    select(S.experiments.c.name).where(S.experiments.c.id == experiment_id)
                ).scalar_one()
        return Run(
            id=run_id, experiment_id=experiment_id, experiment=exp, name=name, status=RUNNING,
            start_time=now, end_time=None, user=row["user"], host=row["host"], pid=row["pid"],
            parent_id=row["parent_id"], job_id=row["job_id"], source=row["source"],
            git_commit=row["git_commit"], git_dirty=row["git_dirty"],
            params=dict(params), tags=dict(tags),
        )

    def end_run(
        self, run_id: str, status: str, end_time: float, error: Mapping[str, Any] | None = None,
        ended_by: str = "user",
    ) -> None:
        values = {
            "rid": run_id, "status": status, "end_time": end_time, "ended_by": ended_by,
            "error": None if error is None else dumps(dict(error)),
        }
        self.db.write(lambda conn: conn.execute(_END_RUN, values))

    def heartbeat(self, run_ids: Sequence[str], at: float) -> None:
        if not run_ids:
            return
        ids = list(run_ids)

        def tx(conn: Connection) -> None:
            conn.execute(
                update(S.runs).where(S.runs.c.id.in_(ids), S.runs.c.status == RUNNING)
                .values(heartbeat_at=at)
            )
            # a run the reaper declared dead while this process was merely paused revives
            conn.execute(
                update(S.runs)
                .where(S.runs.c.id.in_(ids), S.runs.c.status == KILLED, S.runs.c.ended_by == "reaper")
                .values(status=RUNNING, end_time=None, ended_by=None, heartbeat_at=at)
            )

        self.db.write(tx)

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        if not params:
            return

        def tx(conn: Connection) -> None:
            keys = list(params)
            existing: dict[str, str] = {}
            for part in chunks(keys):
                existing.update(conn.execute(
                    select(S.params.c.key, S.params.c.value)
                    .where(S.params.c.run_id == run_id, S.params.c.key.in_(part))
                ).all())
            changed = {k: (existing[k], v) for k, v in params.items() if k in existing and existing[k] != v}
            if changed:
                k, (old, new) = next(iter(changed.items()))
                raise ConflictError(
                    f"parameter {k!r} of run {run_id[:8]} is already {old!r}; parameters "
                    f"cannot change within a run (got {new!r}): log it as a metric or tag, "
                    "or start a new run"
                )
            new_rows = [{"run_id": run_id, "key": k, "value": v} for k, v in params.items() if k not in existing]
            if new_rows:
                conn.execute(S.params.insert(), new_rows)

        self.db.write(tx)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        rows = [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
        self.db.write(lambda conn: self._upsert(conn, S.tags, rows, ["run_id", "key"], ["value"]))

    def log_metric_batches(self, batches: Mapping[str, Sequence[PointTuple]]) -> int:
        """Write buffered ``(key, value, step, timestamp)`` points of several runs in one
        transaction; keep summaries."""
        from mlops_jupyter.store.sql import points as P

        return self._write_groups([(r, P.group_by_key(pts), len(pts)) for r, pts in batches.items() if pts])

    def log_metric_columns(self, run_id: str, groups: Mapping[str, Any]) -> int:
        """Write one run's buffered points: ``{key: (steps, values, timestamps)}``, numpy
        float64 arrays, steps an int64 array or a ``range`` (what the buffer holds)."""
        if not groups:
            return 0
        return self._write_groups([(run_id, dict(groups), sum(len(a[1]) for a in groups.values()))])

    def _write_groups(self, batches: list[tuple[str, dict[str, Any], int]]) -> int:
        """Points grouped by key are stored as columnar chunks (store/sql/points.py);
        packing and summaries happen before the write lock is taken."""
        from mlops_jupyter.store.sql import points as P

        prepared = []
        for run_id, groups, n in batches:
            sums = [
                {"run_id": run_id, "key": key, **_summary_row(P.summary(*arrays))}
                for key, arrays in groups.items()
            ]
            prepared.append((P.chunk_rows(run_id, groups), sums, n))
        if not prepared:
            return 0

        def tx(conn: Connection) -> int:
            stmt = _summary_upsert(conn.dialect.name)
            for rows, sums, _n in prepared:
                P.insert_chunks(conn, rows)
                for part in chunks(sums):
                    conn.execute(stmt, list(part))
            return sum(n for _r, _s, n in prepared)

        return self.db.write(tx)

    def metric_arrays(self, run_id: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """Every point of a run as numpy arrays: ``{key: (steps, values, timestamps)}``,
        each ordered by step then timestamp (NaN values kept)."""
        from mlops_jupyter.store.sql import points as P

        with self.db.read() as conn:
            return P.read_arrays(conn, run_id, keys)

    # -- reading ----------------------------------------------------------------------
    def resolve_run_id(self, ref: str) -> str:
        prefix = parse_run_ref(ref)
        with self.db.read() as conn:
            if len(prefix) == 32:
                found = conn.execute(select(S.runs.c.id).where(S.runs.c.id == prefix)).scalars().all()
            else:
                found = conn.execute(
                    select(S.runs.c.id).where(S.runs.c.id.like(prefix + "%")).limit(6)
                ).scalars().all()
            if len(found) == 1:
                return found[0]
            if not found:
                recent = conn.execute(
                    select(S.runs.c.id, S.runs.c.name).order_by(S.runs.c.start_time.desc()).limit(5)
                ).all()
        if found:
            raise AmbiguousReferenceError(
                f"run reference {ref!r} is ambiguous: it matches {', '.join(f[:12] for f in found[:5])}"
                f"{'…' if len(found) > 5 else ''}; give more characters"
            )
        listing = ", ".join(f"{r.id[:8]} ({r.name})" if r.name else r.id[:8] for r in recent)
        raise NotFoundError(
            f"no run matches {ref!r}; most recent runs: {listing or '(no runs yet)'}"
        )

    def get_run(self, ref: str) -> Run:
        run_id = self.resolve_run_id(ref)
        self.reap_stale_runs()
        return self.search_runs(run_ids=[run_id])[0]

    def search_runs(
        self, experiment_ids: Iterable[str] | None = None, *, run_ids: Iterable[str] | None = None,
        job_id: str | None = None, parent_id: str | None = None, limit: int | None = None,
    ) -> list[Run]:
        self.reap_stale_runs()
        raw = self.runs_raw(experiment_ids, run_ids=run_ids, job_id=job_id, parent_id=parent_id, limit=limit)
        params, tags, summaries = defaultdict(dict), defaultdict(dict), defaultdict(dict)
        for r, k, v in raw["params"]:
            params[r][k] = v
        for r, k, v in raw["tags"]:
            tags[r][k] = v
        for r, k, lv, ls, mn, mns, mx, mxs, cnt in raw["metrics"]:
            summaries[r][k] = MetricSummary(
                k, nan_out(lv), ls, nan_out(mn), mns, nan_out(mx), mxs, cnt
            )
        from collections import namedtuple

        record = namedtuple("RunRow", raw["run_columns"], rename=True)  # type: ignore[misc]
        out = []
        for r in map(record._make, raw["runs"]):
            out.append(Run(
                id=r.id, experiment_id=r.experiment_id, experiment=r.experiment, name=r.name,
                status=r.status, start_time=r.start_time, end_time=r.end_time, user=r.user,
                host=r.host, pid=r.pid, parent_id=r.parent_id, job_id=r.job_id, source=r.source,
                git_commit=r.git_commit, git_dirty=None if r.git_dirty is None else bool(r.git_dirty),
                error=loads(r.error),
                ended_by=r.ended_by, params=params[r.id], tags=tags[r.id], metrics=summaries[r.id],
            ))
        return out

    def runs_raw(
        self, experiment_ids: Iterable[str] | None = None, *, run_ids: Iterable[str] | None = None,
        job_id: str | None = None, parent_id: str | None = None, limit: int | None = None,
        summary_only: bool = False,
    ) -> dict[str, list[Any]]:
        """Rows for a runs table, as plain tuples (the fast path for 10,000 runs):
        ``runs`` rows are ordered as ``run_columns``.

        ``summary_only`` returns metrics as (run_id, key, last, min, max) only."""
        conds = []
        if experiment_ids is not None:
            conds.append(S.runs.c.experiment_id.in_(list(experiment_ids)))
        if run_ids is not None:
            conds.append(S.runs.c.id.in_(list(run_ids)))
        if job_id is not None:
            conds.append(S.runs.c.job_id == job_id)
        if parent_id is not None:
            conds.append(S.runs.c.parent_id == parent_id)
        R = S.runs.c
        # the table view needs neither error texts nor process details
        run_cols = (
            [R.id, R.name, R.status, R.start_time, R.end_time, R.user, R.source, R.git_commit,
             R.parent_id, R.job_id] if summary_only else [S.runs]
        )
        q = (
            select(*run_cols, S.experiments.c.name.label("experiment"))
            .join(S.experiments, S.experiments.c.id == S.runs.c.experiment_id)
            .where(and_(true(), *conds)).order_by(S.runs.c.start_time.desc())
        )
        if limit:
            q = q.limit(limit)
        with self.db.read() as conn:
            run_columns, runs = self._fetch_raw(conn, q)
            id_at = run_columns.index("id")
            ids = [r[id_at] for r in runs]
            sub = None if (limit is None and run_ids is None) else ids

            def fetch(cols: list[Any], table: Any) -> list[tuple[Any, ...]]:
                if sub is None:
                    stmt = select(*cols)
                    if conds:
                        stmt = stmt.where(table.c.run_id.in_(select(S.runs.c.id).where(and_(*conds))))
                    return self._fetch_tuples(conn, stmt)
                out: list[tuple[Any, ...]] = []
                for part in chunks(sub):
                    out.extend(self._fetch_tuples(conn, select(*cols).where(table.c.run_id.in_(part))))
                return out

            P, T, M = S.params, S.tags, S.metric_summary
            return {
                "runs": runs,
                "run_columns": run_columns,
                "params": fetch([P.c.run_id, P.c.key, P.c.value], P),
                "tags": fetch([T.c.run_id, T.c.key, T.c.value], T),
                "metrics": fetch([M.c.run_id, M.c.key, M.c.last_value, M.c.min_value, M.c.max_value], M)
                if summary_only else fetch([
                    M.c.run_id, M.c.key, M.c.last_value, M.c.last_step, M.c.min_value, M.c.min_step,
                    M.c.max_value, M.c.max_step, M.c.count,
                ], M),
            }

    def metric_history(self, run_id: str, keys: Iterable[str] | None = None) -> list[MetricPoint]:
        out: list[MetricPoint] = []
        for key, (steps, vals, times) in self.metric_arrays(run_id, keys).items():
            out.extend(map(MetricPoint, [key] * len(steps), vals.tolist(), steps.tolist(), times.tolist()))
        return out

    # -- liveness ---------------------------------------------------------------------
    def reap_stale_runs(self, force: bool = False) -> int:
        """Mark RUNNING runs whose process is gone as KILLED. Cheap; rate-limited."""
        now = time.time()
        if not force and now - self._last_reap < REAP_EVERY:
            return 0
        self._last_reap = now
        me = _proc.hostname()
        with self.db.read() as conn:
            rows = conn.execute(
                select(S.runs.c.id, S.runs.c.host, S.runs.c.pid, S.runs.c.pid_start, S.runs.c.heartbeat_at)
                .where(S.runs.c.status == RUNNING)
            ).all()
        dead: list[tuple[str, float]] = []
        for r in rows:
            beat = r.heartbeat_at or 0.0
            if r.host == me and r.pid is not None:
                if not _proc.is_alive(r.pid, r.pid_start):
                    dead.append((r.id, beat))
            elif now - beat > STALE_AFTER:
                dead.append((r.id, beat))
        if not dead:
            return 0

        def tx(conn: Connection) -> None:
            for run_id, beat in dead:
                conn.execute(
                    update(S.runs).where(S.runs.c.id == run_id, S.runs.c.status == RUNNING).values(
                        status=KILLED, end_time=beat or now, ended_by="reaper",
                        error=dumps({"type": "ProcessDied", "message": "the process running this run stopped without ending it (killed, crashed or kernel restarted)"}),
                    )
                )

        self.db.write(tx)
        return len(dead)


_ = (or_, math, FINISHED)  # re-exported names used by mixins


# -- prebuilt statements for the hot paths (building a statement costs more than running it)
_INSERT_RUN = S.runs.insert()
_INSERT_PARAM = S.params.insert()
_INSERT_TAG = S.tags.insert()
_INSERT_ARTIFACT = S.artifacts.insert()
_END_RUN = (
    update(S.runs).where(S.runs.c.id == bindparam("rid"))
    .values(status=bindparam("status"), end_time=bindparam("end_time"),
            ended_by=bindparam("ended_by"), error=bindparam("error"))
)
_SUMMARY_UPSERTS: dict[str, Any] = {}


def _summary_row(agg: tuple[Any, ...]) -> dict[str, Any]:
    lv, ls, lt, mn, mns, mx, mxs, cnt = agg
    return {
        "last_value": nan_in(lv), "last_step": ls, "last_timestamp": lt, "min_value": mn,
        "min_step": mns, "max_value": mx, "max_step": mxs, "count": cnt,
    }


def _summary_upsert(dialect: str) -> Any:
    stmt = _SUMMARY_UPSERTS.get(dialect)
    if stmt is not None:
        return stmt
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    ins = insert(S.metric_summary)
    old, new = S.metric_summary.c, ins.excluded
    newer = or_(
        new.last_step > old.last_step,
        and_(new.last_step == old.last_step, new.last_timestamp >= old.last_timestamp),
    )

    def best(value: str, step: str, better: Any) -> tuple[Any, Any]:
        # NULL is NaN: it never wins against a number
        take_new = or_(old[value].is_(None), and_(new[value].is_not(None), better(new[value], old[value])))
        return (
            case((take_new, new[value]), else_=old[value]),
            case((take_new, new[step]), else_=old[step]),
        )

    min_v, min_s = best("min_value", "min_step", lambda a, b: a < b)
    max_v, max_s = best("max_value", "max_step", lambda a, b: a > b)
    stmt = ins.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={
            "last_value": case((newer, new.last_value), else_=old.last_value),
            "last_step": case((newer, new.last_step), else_=old.last_step),
            "last_timestamp": case((newer, new.last_timestamp), else_=old.last_timestamp),
            "min_value": min_v, "min_step": min_s, "max_value": max_v, "max_step": max_s,
            "count": old["count"] + new["count"],
        },
    )
    _SUMMARY_UPSERTS[dialect] = stmt
    return stmt
