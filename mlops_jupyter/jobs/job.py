"""The :class:`Job` users get back: the stored record, its runs, its output notebook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import GateFailedError, JobError
from mlops_jupyter.store.sql.jobs import JOB_FINISHED, JobRecord


def _where(err: dict[str, Any]) -> str:
    """" in cell [N]" with N as the notebook shows it (In [N]), else the cell index."""
    if isinstance(err.get("execution_count"), int):
        return f" in cell [{err['execution_count']}]"
    if isinstance(err.get("cell"), int):
        return f" in cell #{err['cell']}"
    return ""


class Job:
    """One recorded job. Attributes of the stored record (``id``, ``status``, ``template``,
    ``parameters``, ``gates``, ``error``, ``output_path`` …) are available directly."""

    def __init__(self, record: JobRecord, runs: list[Any] | None = None) -> None:
        self.record = record
        self._runs = runs

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "record":
            raise AttributeError(name)
        return getattr(self.record, name)

    @property
    def ok(self) -> bool:
        """Finished, and every gate passed."""
        return self.record.status == JOB_FINISHED

    @property
    def runs(self) -> list[Any]:
        """The runs the notebook created (linked through ``MLOPS_JOB_ID``)."""
        if self._runs is None:
            from mlops_jupyter.tracking.session import get_store

            self._runs = get_store().search_runs(job_id=self.record.id)
        return self._runs

    @property
    def run(self) -> Any | None:
        """The job's main run: its first top-level run (None when it made none)."""
        runs = sorted(self.runs, key=lambda r: r.start_time)
        ids = {r.id for r in runs}
        top = [r for r in runs if r.parent_id not in ids]
        return (top or runs or [None])[0]

    @property
    def failed_gates(self) -> list[dict[str, Any]]:
        return [g for g in self.record.gates if not g.get("passed")]

    def metrics(self) -> dict[str, float]:
        """Latest metric values of the main run."""
        run = self.run
        return {} if run is None else {k: m.last for k, m in run.metrics.items()}

    def notebook(self) -> Any:
        """The executed output notebook (an nbformat node) read back from the store."""
        import nbformat

        if not self.record.output_blob:
            raise JobError(f"job {self.short_id} has no stored output notebook")
        from mlops_jupyter.tracking.session import get_store

        data = get_store().read_blob(self.record.output_blob)
        return nbformat.reads(data.decode("utf-8"), as_version=4)

    def save_notebook(self, path: str | Path) -> Path:
        """Write the stored output notebook to ``path`` (e.g. after the file was deleted)."""
        from mlops_jupyter.jobs.api import check_output

        dest = check_output(path)
        assert dest is not None
        from mlops_jupyter.tracking.session import get_store

        dest.parent.mkdir(parents=True, exist_ok=True)
        get_store().materialize_blob(self.record.output_blob or "", dest)
        return dest

    def raise_for_status(self) -> Job:
        """Raise :class:`GateFailedError` / :class:`JobError` unless the job is ok."""
        if self.ok:
            return self
        msg = self.describe_failure()
        if self.record.error and self.record.error.get("type") == "GateFailed":
            raise GateFailedError(msg)
        raise JobError(msg)

    def describe_failure(self) -> str:
        err = self.record.error or {}
        where = _where(err)
        text = f"job {self.short_id} ({self.record.name}) {self.record.status}"
        if err:
            text += f": {err.get('type', 'Error')}{where}: {err.get('message', '')}"
        if self.record.output_path:
            text += f" (output notebook: {self.record.output_path})"
        return text

    def refresh(self) -> Job:
        from mlops_jupyter.tracking.session import get_store

        return Job(get_store().get_job(self.record.id))

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        out = asdict(self.record)
        out["runs"] = [r.id for r in self.runs]
        return out

    def __repr__(self) -> str:
        r = self.record
        dur = f" {r.duration:.1f}s" if r.duration is not None else ""
        return (
            f"<Job {r.id[:8]} {r.name} [{r.status}]{dur} params={json.dumps(r.parameters)[:80]} "
            f"runs={len(self.runs)} output={r.output_path}>"
        )

    def _repr_html_(self) -> str:
        from mlops_jupyter.jobs.display import job_card

        return job_card(self)

    def widget(self) -> Any:
        """A live panel (ipywidgets tabs: summary, runs, output notebook)."""
        from mlops_jupyter.display.panel import tabs
        from mlops_jupyter.jobs.display import job_sections

        return tabs(*job_sections(self))
