"""Why two model versions differ: data, parameters, code, packages, who and when.

Everything comes from what registration and tracking already recorded: the version's
dataset lineage, the run that made it (params, captured ``code/cell.py``, the job and
its template digest, git commit), and the package versions recorded with the model.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from typing import Any

from mlops_jupyter.display.html import esc
from mlops_jupyter.errors import MlopsError

__all__ = ["LineageDiff", "lineage_diff", "lineage_html"]

MAX_CODE_LINES = 80


@dataclass
class LineageDiff:
    labels: tuple[str, str]
    datasets: tuple[list[str], list[str]]
    dataset_diffs: list[str] = field(default_factory=list)
    params: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    code: str = ""  # a summary line
    code_diff: list[str] = field(default_factory=list)
    packages: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    who: tuple[str, str] = ("", "")
    when: tuple[float | None, float | None] = (None, None)
    runs: tuple[str | None, str | None] = (None, None)


def _run(st: Any, run_id: str | None) -> Any:
    if not run_id:
        return None
    try:
        return st.get_run(run_id)
    except MlopsError:
        return None


def _code(st: Any, run: Any) -> tuple[str | None, str | None]:
    """(template digest, captured cell code) of the run, when recorded."""
    if run is None:
        return None, None
    digest = None
    if run.job_id:
        try:
            digest = st.get_job(run.job_id).template_digest
        except MlopsError:
            digest = None
    try:
        code = st.read_artifact(run.id, "code/cell.py").decode("utf-8", "replace")
    except MlopsError:
        code = None
    return digest, code


def lineage_diff(a: Any, b: Any) -> LineageDiff:
    """The lineage of model versions ``a`` and ``b`` side by side (differences only)."""
    from mlops_jupyter.tracking.session import get_store

    st = get_store()
    lin = [st.model_dataset_lineage(v.dataset_version_ids) for v in (a, b)]
    refs = tuple([f"{d.name}@v{d.version}" for d in ds] for ds in lin)
    out = LineageDiff(labels=(a.ref, b.ref), datasets=refs,  # type: ignore[arg-type]
                      who=(a.creator or "?", b.creator or "?"), when=(a.created_at, b.created_at),
                      runs=(a.run_id, b.run_id))
    by_name_a = {d.name: d for d in lin[0]}
    for d in lin[1]:
        old = by_name_a.get(d.name)
        if old is not None and old.version != d.version:
            try:
                from mlops_jupyter.datasets import diff

                out.dataset_diffs.append(diff(f"{old.name}@v{old.version}",
                                              f"{d.name}@v{d.version}").summary())
            except (MlopsError, OSError, ValueError) as e:
                out.dataset_diffs.append(f"{old.name}@v{old.version} -> {d.name}@v{d.version}: "
                                         f"diff unavailable ({e})")
    ra, rb = _run(st, a.run_id), _run(st, b.run_id)
    pa, pb = (ra.params if ra else {}), (rb.params if rb else {})
    out.params = [(k, pa.get(k), pb.get(k)) for k in sorted(set(pa) | set(pb))
                  if pa.get(k) != pb.get(k)]
    reqa, reqb = a.requirements or {}, b.requirements or {}
    out.packages = [(k, reqa.get(k), reqb.get(k)) for k in sorted(set(reqa) | set(reqb))
                    if reqa.get(k) != reqb.get(k)]
    (da, ca), (db, cb) = _code(st, ra), _code(st, rb)
    if da or db:
        out.code = ("same template" if da == db else
                    f"template digest {(da or '-')[:12]} vs {(db or '-')[:12]}")
    if ca is not None and cb is not None:
        if ca == cb:
            out.code = (out.code + "; " if out.code else "") + "same captured code"
        else:
            lines = list(difflib.unified_diff(ca.splitlines(), cb.splitlines(), a.ref, b.ref,
                                              lineterm="", n=1))
            out.code_diff = lines[:MAX_CODE_LINES]
            out.code = (out.code + "; " if out.code else "") + (
                f"captured code differs ({sum(1 for x in lines if x[:1] in '+-') - 2} lines)")
    elif not out.code:
        out.code = "no code recorded for " + " and ".join(
            v.ref for v, c in ((a, ca), (b, cb)) if c is None)
    if ra is not None and rb is not None and ra.git_commit != rb.git_commit:
        out.code += f"; git {(ra.git_commit or '-')[:8]} vs {(rb.git_commit or '-')[:8]}"
    return out


def _when(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def lineage_html(d: LineageDiff) -> str:
    a, b = d.labels
    rows = [
        ("training data", ", ".join(d.datasets[0]) or "—", ", ".join(d.datasets[1]) or "—"),
        ("made by", d.who[0], d.who[1]),
        ("registered", _when(d.when[0]), _when(d.when[1])),
        ("run", (d.runs[0] or "—")[:8], (d.runs[1] or "—")[:8]),
    ]
    rows += [(f"param {k}", "" if x is None else x, "" if y is None else y) for k, x, y in d.params]
    rows += [(f"package {k}", x or "—", y or "—") for k, x, y in d.packages]
    body = "".join(
        f"<tr><th>{esc(k)}</th><td{' class=mj-diff' if x != y else ''}>{esc(x)}</td>"
        f"<td{' class=mj-diff' if x != y else ''}>{esc(y)}</td></tr>" for k, x, y in rows)
    extra = ""
    if d.dataset_diffs:
        extra += "<div>data: " + "<br>".join(esc(x) for x in d.dataset_diffs) + "</div>"
    if not d.params:
        extra += '<div class="mj-dim">no parameter differs</div>'
    if not d.packages:
        extra += '<div class="mj-dim">same package versions</div>'
    if d.code:
        extra += f"<div>code: {esc(d.code)}</div>"
    if d.code_diff:
        extra += ('<pre style="max-height:240px;overflow:auto;font-size:11px">'
                  + esc("\n".join(d.code_diff)) + "</pre>")
    return (f"<h4>Why they differ</h4><table class=\"mj-t mj-lineage\"><thead><tr><th></th>"
            f"<th>{esc(a)}</th><th>{esc(b)}</th></tr></thead><tbody>{body}</tbody></table>{extra}")
