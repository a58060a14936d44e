"""``mj.jobs.run``: a template notebook executed as a recorded, gated job.

Order matters: everything a user can get wrong (template, parameters, gates, kernel,
output path, timeout) is checked before a job row exists, so bad input changes nothing
and exits 2. Only then is the job recorded RUNNING, the notebook executed by papermill
in a fresh kernel, the output notebook stored as a blob (also when a cell failed), the
gates evaluated on the job's runs, and the row finished exactly once.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import UsageError
from mlops_jupyter.jobs import gates as gates_mod
from mlops_jupyter.jobs import parameters as params_mod
from mlops_jupyter.jobs import runner
from mlops_jupyter.jobs import templates as templates_mod
from mlops_jupyter.jobs.job import Job
from mlops_jupyter.store.sql.jobs import JOB_FAILED, JOB_FINISHED, JOB_KILLED

ENV_JOB_ID = "MLOPS_JOB_ID"
ENV_PARENT_RUN = "MLOPS_PARENT_RUN_ID"
ENV_EXPERIMENT = "MLOPS_EXPERIMENT"
ENV_OUTPUT_ROOTS = "MLOPS_JOB_OUTPUT_ROOTS"
#: set in a reproduction's kernel: models.register stores the file but registers no version
ENV_REPRODUCTION = "MLOPS_REPRODUCTION_OF"
PROGRESS_EVERY = 1.0  # seconds between progress writes to the job row


@dataclass
class Prepared:
    """A job that passed every check and can run (nothing recorded yet)."""

    kind: str
    name: str
    template: str  # where it came from (path or description)
    nb: Any
    template_bytes: bytes
    declared: params_mod.ParametersCell
    values: dict[str, Any]
    gates: list[gates_mod.Gate]
    kernel: str
    timeout: float | None
    output: Path | None  # None: default location, chosen once the job id exists
    details: dict[str, Any] = field(default_factory=dict)
    source_run_id: str | None = None


# -- checks -------------------------------------------------------------------------
def check_timeout(timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        if isinstance(timeout, str):
            try:
                timeout = float(timeout)
            except ValueError:
                raise UsageError(f"timeout must be a number of seconds, got {timeout!r}") from None
        else:
            raise UsageError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    t = float(timeout)  # type: ignore[arg-type]
    if not math.isfinite(t) or t <= 0:
        raise UsageError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return t


def allowed_output_roots() -> list[Path]:
    """Folders an output notebook may be written under: the working directory, the store
    folder, and any listed in ``MLOPS_JOB_OUTPUT_ROOTS``."""
    from mlops_jupyter.store import current_config

    roots = [Path.cwd().resolve()]
    home = current_config().home
    if home is not None:
        roots.append(Path(home).resolve())
    for p in (os.environ.get(ENV_OUTPUT_ROOTS) or "").split(os.pathsep):
        if p.strip():
            roots.append(Path(p.strip()).expanduser().resolve())
    return roots


def check_output(output: object) -> Path | None:
    """A safe output path, or None for the default. Refused: URLs, papermill path
    templates (``{...}``), non-notebook names, folders, and anything (symlinks included)
    that resolves outside the allowed roots."""
    if output is None:
        return None
    if isinstance(output, os.PathLike):
        output = os.fspath(output)
    if not isinstance(output, str) or not output.strip():
        raise UsageError(f"output must be a notebook path, got {output!r}")
    text = output.strip()
    if "\x00" in text or "://" in text or text == "-" or "{" in text or "}" in text:
        raise UsageError(f"output {output!r} must be a plain local path to a .ipynb file")
    path = Path(text).expanduser()
    if path.suffix != ".ipynb":
        raise UsageError(f"output {output!r} must end with .ipynb")
    resolved = path.resolve()
    roots = allowed_output_roots()
    if not any(resolved.is_relative_to(r) for r in roots):
        raise UsageError(
            f"output {output!r} is outside the allowed folders ({', '.join(str(r) for r in roots)}); "
            f"write under the working directory or add a folder to ${ENV_OUTPUT_ROOTS}"
        )
    if resolved.is_dir():
        raise UsageError(f"output {output!r} is a folder; give a .ipynb file name")
    return resolved


NAME_MAX = 255  # bytes in one path component (Linux, macOS, Windows)
PATH_MAX = 4096


def _check_path_text(value: object, what: str) -> None:
    """One clear error for a path the operating system would refuse with a raw OSError
    (a component over 255 bytes, a path over 4096) or that is not valid Unicode."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        return
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} {value!r} is not valid Unicode text; give a plain path or name") from None
    if len(data) > PATH_MAX or any(len(part.encode()) > NAME_MAX for part in Path(value).parts):
        raise UsageError(
            f"{what} {value[:60]!r}… is too long: each file or folder name may have at most "
            f"{NAME_MAX} bytes and the whole path {PATH_MAX}"
        )


def default_output(job_id: str, name: str) -> Path:
    from mlops_jupyter.store import current_config

    home = current_config().home
    folder = (Path(home) / "jobs") if home is not None else Path.cwd() / "mlops-jobs"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60] or "job"
    return folder / f"{safe}-{job_id[:8]}.ipynb"


def pick_kernel(nb: Any, kernel: object) -> str:
    if kernel is not None:
        if not isinstance(kernel, str) or not kernel.strip() or len(kernel) > 128:
            raise UsageError(f"kernel must be a kernel name such as 'python3', got {kernel!r}")
        name = kernel.strip()
    else:
        name = ((nb.get("metadata") or {}).get("kernelspec") or {}).get("name") or "python3"
    runner.check_kernel(name)
    return name


def prepare(
    template: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    gates: Iterable[str] | str | None = None,
    output: str | os.PathLike[str] | None = None,
    kernel: str | None = None,
    timeout: float | None = None,
    *,
    paths: list[str | os.PathLike[str]] | None = None,
    from_text: bool = False,
) -> Prepared:
    """Every check ``run`` makes, without running anything (``--dry-run``)."""
    _check_path_text(template, "template")
    if output is not None:
        _check_path_text(output, "output")
    tpl = templates_mod.resolve(template, paths)
    data = tpl.read_bytes()
    nb = templates_mod.read_notebook(tpl.path)
    values = params_mod.validate(tpl.parameters, parameters, template=repr(tpl.name), from_text=from_text)
    return Prepared(
        kind="run", name=tpl.name, template=str(tpl.path), nb=nb, template_bytes=data,
        declared=tpl.parameters, values=values, gates=gates_mod.parse_all(gates),
        kernel=pick_kernel(nb, kernel), timeout=check_timeout(timeout), output=check_output(output),
    )


# -- running ------------------------------------------------------------------------
def _kernel_env(job_id: str, experiment: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    from mlops_jupyter.store import current_config
    from mlops_jupyter.tracking import session

    env = dict(current_config().env())
    env[ENV_JOB_ID] = job_id
    active = session.active_run()
    env[ENV_PARENT_RUN] = active.id if active is not None else os.environ.get(ENV_PARENT_RUN, "")
    exp = experiment or os.environ.get(ENV_EXPERIMENT)
    if exp:
        from mlops_jupyter.names import experiment_name

        env[ENV_EXPERIMENT] = experiment_name(exp)
    env.update(extra or {})
    return env


def execute(
    prep: Prepared,
    *,
    progress: bool | dict[str, Any] = True,
    cwd: str | os.PathLike[str] | None = None,
    experiment: str | None = None,
    parent_id: str | None = None,
    job_id: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Job:
    """Record and run a prepared job; returns the finished :class:`Job` (never raises for
    a failed cell, timeout or gate: look at ``job.status`` / ``job.ok``)."""
    from mlops_jupyter.tracking.context import current_user
    from mlops_jupyter.tracking.session import get_store

    st = get_store()
    if job_id is not None:
        _refuse_second_start(st, job_id)
    digest, _ = st.put_blob_bytes(prep.template_bytes)
    parent_id = parent_id or os.environ.get(ENV_JOB_ID) or None
    user = current_user()
    cells_total = sum(1 for c in prep.nb.cells if c.get("cell_type") == "code") + (1 if prep.values else 0)
    rec = st.create_job(
        kind=prep.kind, name=prep.name, template=prep.template, template_digest=digest,
        parameters=_stored_parameters(prep.values), gates=[{"expr": g.expr} for g in prep.gates], parent_id=parent_id,
        kernel=prep.kernel, timeout=prep.timeout, cells_total=cells_total,
        source_run_id=prep.source_run_id, details=prep.details, user=user, job_id=job_id,
    )
    output = prep.output or default_output(rec.id, prep.name)
    output.parent.mkdir(parents=True, exist_ok=True)
    st.update_job(rec.id, output_path=str(output))
    nb = params_mod.inject(prep.nb, prep.values, prep.declared)
    nb.metadata.setdefault("mlops", {}).update({"job_id": rec.id, "template": prep.name})
    last = [time.monotonic()]

    def on_cell(done: int, total: int) -> None:
        now = time.monotonic()
        if done == 1 or now - last[0] >= PROGRESS_EVERY:  # the first: its kernel is up and running
            last[0] = now
            try:
                st.update_job(rec.id, cells_done=done)
            except Exception:  # noqa: BLE001 - progress is best effort, the job is not
                pass

    try:
        outcome = runner.execute(
            nb, output, env={**_kernel_env(rec.id, experiment, extra_env), **(
                {ENV_REPRODUCTION: prep.source_run_id or "1"} if prep.kind == "reproduce" else {})},
            kernel_name=prep.kernel,
            timeout=prep.timeout, progress=progress, cwd=str(cwd) if cwd else None, on_cell=on_cell,
        )
    except runner.Terminated as e:
        blob = _store_output(st, output, prep.values)
        st.finish_job(rec.id, JOB_KILLED, ended_by="signal", output_blob=blob,
                      error={"type": "Terminated", "message": str(e)})
        raise
    except BaseException as e:
        blob = _store_output(st, output, prep.values)
        st.finish_job(rec.id, JOB_FAILED, output_blob=blob,
                      error={"type": type(e).__name__, "message": str(e)[:2000]})
        raise
    blob = _store_output(st, output, prep.values)
    status, error = outcome.status, outcome.error
    if error:
        from mlops_jupyter.jobs.scrub import scrub_value

        error = scrub_value(error, prep.values)  # a traceback may print a secret parameter
    runs = st.search_runs(job_id=rec.id)
    if status != JOB_FINISHED:
        runs = _fail_open_runs(st, runs, status, error, rec.id)
    results = [r.to_dict() for r in gates_mod.evaluate(prep.gates, runs)] if prep.gates else []
    if status == JOB_FINISHED and results:
        failed = [r for r in results if not r["passed"]]
        if failed:
            status = JOB_FAILED
            error = {"type": "GateFailed", "message": "; ".join(
                gates_mod.GateResult(**r).describe() for r in failed)}
    elif prep.gates:
        results = [{"expr": g.expr, "passed": False, "value": None,
                    "reason": "not evaluated: the notebook did not finish"} for g in prep.gates]
    if status != JOB_FINISHED:
        _reject_models_of(st, runs, rec.id, status, error)
    final = st.finish_job(
        rec.id, status, error=error, output_blob=blob, gates=results,
        cells_done=outcome.cells_done, ended_by="signal" if status == JOB_KILLED else "job",
    )
    if outcome.signum is not None:  # recorded; now stop the way the signal asked
        if outcome.signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise runner.Terminated(outcome.signum)
    return Job(final, runs=runs)


def _reject_models_of(st: Any, runs: list[Any], job_id: str, status: str, error: Any) -> None:
    """A job that failed (its gate, a cell, a timeout) leaves nothing promotable: every
    model version its runs registered is marked rejected, visibly (``mlops.rejected`` in
    its tags, never ``@latest``, refused by ``promote``)."""
    from mlops_jupyter.models import governance

    why = (error or {}).get("message") or status
    for run in runs:
        for name, version in st.model_versions_of_run(run.id):
            mv = st.get_model_version(name, version=version)
            st.reject_model_version(mv.id, user=governance.current_user(), source="gate" if (
                error or {}).get("type") == "GateFailed" else "job",
                reason=f"job {job_id[:8]} ended {status}: {why}"[:2000])


def _refuse_second_start(st: Any, job_id: str) -> None:
    """A job id runs once: Dask may retry a task whose worker was lost, and running the
    job again would hide that (and write its runs twice)."""
    from mlops_jupyter.errors import ConflictError, NotFoundError

    try:
        rec = st.get_job(job_id)
    except NotFoundError:
        return
    raise ConflictError(f"job {job_id[:8]} was already started (it is {rec.status}); a job id runs once")


def _fail_open_runs(st: Any, runs: list[Any], status: str, error: Any, job_id: str) -> list[Any]:
    """Runs the notebook left open end with the job: a run that was still RUNNING, or
    that only ended because the kernel exited after the failing cell, did not finish."""
    from mlops_jupyter.store.entities import FAILED, FINISHED, KILLED, RUNNING

    run_status = KILLED if status in (JOB_KILLED, "TIMEOUT") else FAILED
    changed = False
    for r in runs:
        if r.status == RUNNING or (r.status == FINISHED and r.ended_by == "exit"):
            err = {"type": (error or {}).get("type", "JobFailed"),
                   "message": f"job {job_id[:8]} {status}: {(error or {}).get('message', '')}"[:2000]}
            st.end_run(r.id, run_status, r.end_time or time.time(), error=err, ended_by="job")
            changed = True
    return st.search_runs(job_id=job_id) if changed else runs


def _stored_parameters(values: Mapping[str, Any]) -> dict[str, Any]:
    """Job parameters as recorded: a value named like a secret is masked (the kernel
    still receives the real value)."""
    from mlops_jupyter.redact import MASK, is_secret_key

    return {k: MASK if isinstance(v, str) and v and is_secret_key(k) else v for k, v in values.items()}


def _store_output(st: Any, output: Path, secrets: Mapping[str, Any] | None = None) -> str | None:
    """Store the output notebook with secrets masked: the injected values of
    secret-named parameters wherever they appear (outputs, tracebacks included), and
    anything secret-looking in cell sources and outputs. The file is rewritten too."""
    try:
        if output.is_file():
            from mlops_jupyter.jobs.scrub import scrub_notebook_file

            scrub_notebook_file(output, secrets or {})
            return st.put_blob_file(output)[0]
    except Exception:  # noqa: BLE001 - the row still records where the file is
        return None
    return None


def run(
    template: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    gates: Iterable[str] | str | None = None,
    output: str | os.PathLike[str] | None = None,
    kernel: str | None = None,
    timeout: float | None = None,
    *,
    paths: list[str | os.PathLike[str]] | None = None,
    progress: bool | dict[str, Any] = True,
    cwd: str | os.PathLike[str] | None = None,
    experiment: str | None = None,
    raise_on_failure: bool = False,
    executor: Any = None,
) -> Job:
    """Run ``template`` (a name such as ``"train"`` or a notebook path) as a job.

    ``parameters`` are checked against the template's ``parameters`` cell and converted
    to the declared types before anything runs; ``gates`` (``"auc>=0.85"``) are checked on
    the job's runs; ``timeout`` (seconds) bounds the whole job. Returns the finished
    :class:`Job`; with ``raise_on_failure`` a failed job raises :class:`JobError`
    (:class:`GateFailedError` for a gate). ``executor="dask"`` (or ``"dask:ADDRESS"``)
    runs it on a Dask worker instead of in a kernel started from this process.
    """
    from mlops_jupyter.jobs import executors

    name, _ = executors.parse(executor) if not isinstance(executor, executors.Executor) else ("", None)
    prep = prepare(template, parameters, gates, output, kernel, timeout, paths=paths)
    if name == "local":
        job = execute(prep, progress=progress, cwd=cwd, experiment=experiment)
    else:
        if output is not None or cwd is not None:
            raise UsageError("output and cwd apply to jobs run here; drop them with executor=")
        from mlops_jupyter.jobs import fanout

        job = fanout.run_one(prep, executor, experiment=experiment, progress=bool(progress))
    if raise_on_failure:
        job.raise_for_status()
    return job


def get_job(ref: str) -> Job:
    """A job by id or unique prefix (at least 6 characters)."""
    from mlops_jupyter.tracking.session import get_store

    return Job(get_store().get_job(ref))


def list_jobs(
    *, parent: str | None = None, kind: str | None = None, status: str | None = None,
    limit: int | None = 50,
) -> list[Job]:
    """Jobs, newest first."""
    from mlops_jupyter.tracking.session import get_store

    st = get_store()
    parent_id = st.resolve_job_id(parent) if parent else None
    return [Job(r) for r in st.list_jobs(parent_id=parent_id, kind=kind, status=status, limit=limit)]
