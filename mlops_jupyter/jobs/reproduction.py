"""``mlops reproduce RUN``: execute what made a run again, in a fresh kernel, and compare.

What is re-executed:

- a run made by a job: the exact template bytes the job stored (not whatever the file
  on disk says today), with the job's recorded parameters, and every parameter that
  named a dataset the run read pinned to the version it read (``churn`` becomes
  ``churn@v3``), so newer data cannot leak into the reproduction;
- a run tracked from a notebook (``%%mlops track``): the captured code, ``code/history.py``
  (the kernel's inputs up to the tracked cell, one notebook cell per input) or else
  ``code/cell.py`` inside a run with the recorded parameters.

The new run is tagged ``mlops.reproduction_of`` and the report gives per-metric
differences and whether the registered model files hash the same. With a tolerance
(absolute ``0.001`` or relative ``1%``) the reproduction is a gate: any metric further
off, or missing, fails it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import NotFoundError, UsageError
from mlops_jupyter.jobs import api
from mlops_jupyter.jobs import parameters as params_mod
from mlops_jupyter.jobs.job import Job

TAG = "mlops.reproduction_of"
_IN_RE = re.compile(r"^# In\[\d+\]:\s*$", re.M)


#: metric names that measure time, not the result: ignored by default (they differ on
#: every run, so a tracked cell with autolog's ``fit_time_s`` could never reproduce)
TIMING_METRIC = re.compile(r"(^|_)(time|times|duration|elapsed|latency|seconds|secs|runtime)"
                           r"(_s|_ms|_sec|_secs|_seconds)?$|_(s|ms)$", re.I)


def is_timing_metric(name: str) -> bool:
    return bool(TIMING_METRIC.search(name))


@dataclass(frozen=True)
class Tolerance:
    value: float
    relative: bool

    def allows(self, original: float, new: float) -> bool:
        if math.isnan(original) and math.isnan(new):
            return True
        if math.isnan(original) or math.isnan(new):
            return False
        bound = self.value * abs(original) if self.relative else self.value
        return abs(new - original) <= bound + 1e-15

    def __str__(self) -> str:
        return f"{self.value * 100:g}%" if self.relative else f"{self.value:g}"


def parse_tolerance(text: object) -> Tolerance | None:
    if text is None:
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        value, relative = float(text), False
    elif isinstance(text, str):
        t = text.strip()
        relative = t.endswith("%")
        try:
            value = float(t[:-1] if relative else t) / (100 if relative else 1)
        except ValueError:
            raise UsageError(f"tolerance must be a number such as 0.001 or a percentage such as 1%, got {text!r}") from None
    else:
        raise UsageError(f"tolerance must be a number or a percentage, got {type(text).__name__}")
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"tolerance must be a finite number >= 0, got {text!r}")
    return Tolerance(value, relative)


@dataclass
class Reproduction:
    """The outcome: the original run, the reproduction job and run, and the differences."""

    original: Any
    job: Job
    run: Any | None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    tolerance: Tolerance | None = None
    pinned: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        compared = [m for m in self.metrics if not m.get("ignored")]
        return bool(compared) and all(m["difference"] == 0 for m in compared if m["difference"] is not None) \
            and all(m["new"] is not None for m in compared)

    @property
    def ok(self) -> bool:
        if not self.job.ok or self.run is None:
            return False
        if self.tolerance is None:
            return True
        return all(m["within_tolerance"] for m in self.metrics if not m.get("ignored"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "original_run": self.original.id, "job": self.job.record.id,
            "run": self.run.id if self.run else None, "status": self.job.record.status,
            "ok": self.ok, "identical_metrics": self.identical, "tolerance": str(self.tolerance) if self.tolerance else None,
            "metrics": self.metrics, "models": self.models, "pinned_datasets": self.pinned,
            "ignored_metrics": self.ignored,
        }

    def summary(self) -> str:
        lines = [f"reproduced run {self.original.id[:8]} ({self.original.name}) as job "
                 f"{self.job.record.id[:8]} [{self.job.record.status}]"
                 + (f" -> run {self.run.id[:8]}" if self.run else " (no run was made)")]
        if not self.job.ok:
            lines.append(self.job.describe_failure())
        for k, v in self.pinned.items():
            lines.append(f"pinned    {k} -> {v}")
        if self.metrics:
            w = max(len(m["metric"]) for m in self.metrics)
            lines.append(f"{'metric'.ljust(w)}  {'original':>12}  {'reproduced':>12}  {'difference':>12}")
            for m in self.metrics:
                flag = ("  (ignored)" if m.get("ignored") else "" if m["within_tolerance"]
                        else "  <- outside tolerance")
                lines.append(f"{m['metric'].ljust(w)}  {_f(m['original']):>12}  {_f(m['new']):>12}  "
                             f"{_f(m['difference']):>12}{flag if self.tolerance or m.get('ignored') else ''}")
        for m in self.models:
            same = "identical" if m["identical"] else "DIFFERENT"
            lines.append(f"model     {m['original']} vs {m['new']}: file hash {same}")
        if not self.job.ok:
            verdict = f"not reproduced: the job ended {self.job.record.status}"
        else:
            verdict = "identical metrics" if self.identical else "metrics differ"
        if self.tolerance is not None and self.job.ok:
            verdict += f"; tolerance {self.tolerance}: {'passed' if self.ok else 'FAILED'}"
        lines.append(verdict)
        if self.job.record.output_path:
            lines.append(f"notebook  {self.job.record.output_path}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from mlops_jupyter.display.html import badge, card, esc, table

        rows = [[m["metric"], m["original"], m["new"], m["difference"]] for m in self.metrics]
        title = (f"Reproduction of run <code>{esc(self.original.id[:8])}</code> "
                 f"{badge('PASSED' if self.ok else 'FAILED')}")
        body = table(["metric", "original", "reproduced", "difference"], rows)
        body += "".join(f"<p>model {esc(m['original'])} vs {esc(m['new'])}: "
                        f"{'identical' if m['identical'] else 'different'} file hash</p>" for m in self.models)
        return card(title, body)


def _f(v: Any) -> str:
    return "" if v is None else f"{v:.6g}"


def _pin(values: dict[str, Any], inputs: list[Any]) -> dict[str, str]:
    """Parameters naming a dataset the run read, pinned to the exact version read."""
    pinned: dict[str, str] = {}
    by_name = {d.name: d for d in inputs}
    for k, v in values.items():
        if not isinstance(v, str) or not v:
            continue
        name = v.split("@", 1)[0].strip()
        match = by_name.get(name)
        if match is None:
            for d in inputs:
                if d.source and Path(v).expanduser().resolve().as_posix() == Path(d.source).as_posix():
                    match = d
                    break
        if match is not None:
            ref = f"{match.name}@v{match.version}"
            if v != ref:
                values[k] = pinned[k] = ref
    return pinned


def _template_notebook(st: Any, job: Any) -> Any:
    import nbformat

    if not job.template_digest:
        raise NotFoundError(f"job {job.id[:8]} did not store its template; cannot reproduce it")
    return nbformat.reads(st.read_blob(job.template_digest).decode("utf-8"), as_version=4)


def _code_notebook(st: Any, run: Any) -> Any:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    names = {a.name for a in st.list_artifacts(run.id)}
    if run.tags.get("mlops.cell.redacted") == "true":
        raise UsageError(
            f"run {run.id[:8]}'s captured code had secrets masked before it was stored "
            "(***REDACTED***), so it cannot be re-executed as it ran; move the secrets to "
            "environment variables and track the cell again, or reproduce from a template job"
        )
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if "code/history.py" in names:
        text = st.read_artifact(run.id, "code/history.py").decode("utf-8")
        cells = [c.strip("\n") for c in _IN_RE.split(text) if c.strip()]
        nb.cells = [new_code_cell(c) for c in cells]
        return nb
    if "code/cell.py" not in names:
        raise NotFoundError(
            f"run {run.id[:8]} was not made by a job and has no captured code (code/cell.py); "
            "nothing to re-execute"
        )
    code = st.read_artifact(run.id, "code/cell.py").decode("utf-8")
    header = (
        "import mlops_jupyter as mj\n"
        f"mj.set_experiment({run.experiment!r})\n"
        f"_mlops_run = mj.start_run(name={run.name!r}, params={json.dumps(run.params)})"
    )
    nb.cells = [new_code_cell(header), new_code_cell(code), new_code_cell("mj.end_run()")]
    nbformat.validate(nb)
    return nb


def reproduce(
    run: str,
    *,
    tolerance: float | str | None = None,
    timeout: float | None = None,
    kernel: str | None = None,
    progress: bool = True,
    ignore: list[str] | tuple[str, ...] = (),
    ignore_timing: bool = True,
) -> Reproduction:
    """Re-execute the template or captured code that made ``run`` and compare.

    ``ignore`` names metrics left out of the comparison (shown, marked ignored);
    timing metrics (``fit_time_s``, ``*_duration``, ``elapsed`` …) are ignored unless
    ``ignore_timing=False``. The reproduction registers no model version: model files
    are stored and compared by hash only.
    """
    from mlops_jupyter.tracking.session import get_store

    tol = parse_tolerance(tolerance)
    st = get_store()
    original = st.get_run(run)
    pinned: dict[str, str] = {}
    if original.job_id:
        job = st.get_job(original.job_id)
        nb = _template_notebook(st, job)
        declared = params_mod.inspect_notebook(nb, where=f"the template of job {job.id[:8]}")
        from mlops_jupyter.redact import MASK

        # a secret parameter was stored masked: the template's default (which should read
        # the secret from the environment) applies instead of injecting the mask
        recorded = {k: v for k, v in dict(job.parameters).items() if v != MASK}
        values = params_mod.validate(declared, recorded, template=repr(job.name))
        try:
            from mlops_jupyter import datasets

            pinned = _pin(values, datasets.inputs_of_run(original.id))
        except ImportError:  # pragma: no cover - datasets ships with the package
            pass
        name, template, data = job.name or "reproduce", job.template, st.read_blob(job.template_digest)
    else:
        nb = _code_notebook(st, original)
        declared = params_mod.ParametersCell(False, None, {})
        values = {}
        import nbformat

        name, template, data = f"reproduce-{original.id[:8]}", f"run {original.id} code", nbformat.writes(nb).encode()
    prep = api.Prepared(
        kind="reproduce", name=name, template=template, nb=nb, template_bytes=data,
        declared=declared, values=values, gates=[], kernel=api.pick_kernel(nb, kernel),
        timeout=api.check_timeout(timeout), output=None, source_run_id=original.id,
        details={"pinned": pinned},
    )
    new_job = api.execute(prep, progress=progress)
    new_run = _matching_run(new_job.runs, original)
    if new_run is not None:
        st.set_tags(new_run.id, {TAG: original.id})
        new_run = st.get_run(new_run.id)
    skip = {str(m) for m in ignore}
    ignored = sorted(k for k in original.metrics if k in skip or (ignore_timing and is_timing_metric(k)))
    rep = Reproduction(original=original, job=new_job, run=new_run, tolerance=tol, pinned=pinned,
                       ignored=ignored)
    rep.metrics = _compare_metrics(original, new_run, tol, set(ignored))
    rep.models = _compare_models(st, original.id, new_run.id if new_run else None)
    st.update_job(new_job.record.id, details={"pinned": pinned, "report": rep.to_dict()})
    return rep


def _matching_run(runs: list[Any], original: Any) -> Any | None:
    same = [r for r in runs if r.name == original.name and r.experiment == original.experiment]
    pool = sorted(same or runs, key=lambda r: r.start_time)
    return pool[0] if pool else None


def _compare_metrics(original: Any, new: Any | None, tol: Tolerance | None,
                     ignored: set[str] = frozenset()) -> list[dict[str, Any]]:  # type: ignore[assignment]
    out = []
    for key in sorted(original.metrics):
        a = float(original.metrics[key].last)
        b = float(new.metrics[key].last) if new is not None and key in new.metrics else None
        diff = None if b is None else (0.0 if (math.isnan(a) and math.isnan(b)) else b - a)
        within = b is not None and (tol.allows(a, b) if tol else diff == 0)
        out.append({"metric": key, "original": a, "new": b, "difference": diff,
                    "within_tolerance": within, "ignored": key in ignored})
    return out


def _compare_models(st: Any, original_id: str, new_id: str | None) -> list[dict[str, Any]]:
    """The original run's registered versions against the files the reproduction made
    (tagged ``mlops.reproduced_model.<name>`` on its run; nothing was registered)."""
    if new_id is None:
        return []
    tags = st.get_run(new_id).tags
    prefix = "mlops.reproduced_model."
    out = []
    for name, ver in st.model_versions_of_run(original_id):
        digest = tags.get(prefix + name)
        if digest is None:
            continue
        a = st.get_model_version(name, version=ver)
        out.append({"original": f"{name}@v{ver}", "new": f"{name} (reproduction, not registered)",
                    "original_digest": a.blob, "new_digest": digest, "identical": a.blob == digest})
    return out
