"""What ``compare`` was given: model versions, runs, or fitted estimators; and the holdout.

One grammar (shared/DESIGN.md): ``name@v3`` / ``name@alias`` is a model version; any
other text is a run (full id, unique prefix of at least 6 characters, or a run name —
its latest run in the current experiment). A mix of models and runs is refused, and a
bare model name gets a hint (``did you mean churn@latest?``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops_jupyter.errors import NotFoundError, UsageError

__all__ = ["Candidate", "resolve_refs", "resolve_holdout"]


@dataclass
class Candidate:
    """One side of a comparison."""

    label: str
    kind: str  # "model" (a registered version), "estimator" (an object) or "run"
    obj: Any = None  # the ModelVersion, the estimator, or the Run
    version: Any = None  # ModelVersion for registered models
    estimator: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def _is_run(x: Any) -> bool:
    return all(hasattr(x, a) for a in ("id", "params", "metrics", "experiment_id"))


def _is_version(x: Any) -> bool:
    return all(hasattr(x, a) for a in ("blob", "flavor", "version", "name"))


def _run_by_name(name: str) -> Any:
    from mlops_jupyter.tracking.query import get_run, runs
    from mlops_jupyter.tracking.session import current_experiment

    exp = current_experiment()
    try:
        df = runs(exp)
    except NotFoundError:
        return None
    hit = df[df["name"] == name] if "name" in df.columns else df.iloc[0:0]
    if not len(hit):
        return None
    latest = hit.sort_values("start_time").iloc[-1]
    return get_run(str(latest["run_id"]))


def _model_exists(name: str) -> bool:
    from mlops_jupyter.models import registry

    try:
        registry.get(f"{name}@latest")
    except (NotFoundError, UsageError):
        return False
    return True


def _one(ref: Any, i: int) -> Candidate:
    from mlops_jupyter.models import registry

    if _is_version(ref):
        return Candidate(ref.ref, "model", ref, version=ref)
    if _is_run(ref):
        return Candidate(f"{ref.id[:8]} {ref.name or ''}".strip(), "run", ref)
    if isinstance(ref, str):
        text = ref.strip()
        if not text:
            raise UsageError("compare: an empty reference; give a model ref (churn@v3) or a run")
        if "@" in text:
            mv = registry.get(text)  # unknown name/version/alias: NotFoundError naming what exists
            return Candidate(text if text == mv.ref else f"{text} (v{mv.version})", "model", mv,
                             version=mv)
        from mlops_jupyter.tracking.query import get_run

        try:
            run = get_run(text)
        except (NotFoundError, UsageError) as e:
            run = _run_by_name(text)
            if run is None:
                hint = (f"; {text!r} is a registered model: did you mean {text}@latest?"
                        if _model_exists(text) else "")
                raise NotFoundError(
                    f"compare: {text!r} is neither a model ref (name@v3, name@alias) nor a run "
                    f"id, prefix or name in this experiment ({e}){hint}"
                ) from None
        return Candidate(f"{run.id[:8]} {run.name or ''}".strip(), "run", run)
    if hasattr(ref, "predict"):
        return Candidate(f"model {i + 1}", "estimator", ref, estimator=ref)
    raise UsageError(
        f"compare: cannot compare a {type(ref).__name__}; give model refs (churn@v3, "
        "churn@production), ModelVersion objects, fitted estimators, or runs (id, prefix, name)"
    )


def resolve_refs(refs: tuple[Any, ...], names: Any = None) -> list[Candidate]:
    """Resolve every reference; refuse fewer than two, or a mix of models and runs."""
    if len(refs) == 1 and isinstance(refs[0], list | tuple):
        refs = tuple(refs[0])
    if len(refs) < 2:
        raise UsageError(
            "compare needs at least two models or runs, e.g. "
            "mj.compare('churn@production', 'churn@v7', holdout='customers@v3', label='churned')"
        )
    cands = [_one(r, i) for i, r in enumerate(refs)]
    kinds = {"run" if c.kind == "run" else "model" for c in cands}
    if len(kinds) > 1:
        runs = [c.label for c in cands if c.kind == "run"]
        models = [c.label for c in cands if c.kind != "run"]
        raise UsageError(
            f"compare: cannot mix models ({', '.join(models)}) and runs ({', '.join(runs)}); "
            "compare model versions on a holdout, or runs by their logged params and metrics"
        )
    if names is not None:
        names = list(names)
        if len(names) != len(cands):
            raise UsageError(f"compare: {len(names)} names for {len(cands)} models")
        for c, n in zip(cands, names, strict=True):
            c.label = str(n)
    seen: dict[str, int] = {}
    for c in cands:
        if c.label in seen:
            seen[c.label] += 1
            c.label = f"{c.label} #{seen[c.label]}"
        else:
            seen[c.label] = 1
    return cands


def _tag(c: Candidate, key: str) -> str | None:
    """A holdout setting recorded with a version (``tags={'holdout': ..., 'label': ...}``)
    or on the run that made it."""
    mv = c.version
    if mv is None:
        return None
    if mv.tags.get(key):
        return str(mv.tags[key])
    if mv.run_id:
        from mlops_jupyter.tracking.query import get_run

        try:
            run = get_run(mv.run_id)
        except NotFoundError:
            return None
        return run.tags.get(key) or run.tags.get(f"mlops.{key}")
    return None


def resolve_holdout(cands: list[Candidate], holdout: Any, label: str | None) -> tuple[Any, str, str]:
    """``(frame, label column, description)``: the holdout every model is scored on."""
    import pandas as pd

    source = "given"
    if holdout is None:
        recorded = [(_tag(c, "holdout"), _tag(c, "label")) for c in cands]
        found = [r for r in recorded if r[0]]
        if not found:
            raise UsageError(
                "compare: no holdout given and none recorded with these models; pass "
                "holdout='dataset@v3' (or a DataFrame) and label='column', or record one at "
                "registration: mj.models.register(..., tags={'holdout': 'ds@v3', 'label': 'y'})"
            )
        holdout, rec_label = found[-1]
        label = label or rec_label
        source = f"recorded with {cands[[r[0] for r in recorded].index(holdout)].label}"
    desc = "a DataFrame"
    if isinstance(holdout, str) and holdout.lower().endswith((".csv", ".parquet", ".pq")):
        from pathlib import Path

        path = Path(holdout).expanduser()
        if not path.is_file():
            raise UsageError(f"compare: holdout file {holdout!r} does not exist")
        holdout = (pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path))
        desc = path.name
    if isinstance(holdout, str):
        from mlops_jupyter import datasets

        v = datasets.get(holdout)
        if v.kind == "folder":
            raise UsageError(f"compare: holdout {holdout!r} is a folder, not a table")
        frame = datasets.load(v.ref, as_frame=True) if v.kind == "file" else datasets.load(v.ref)
        desc = v.ref
    elif isinstance(holdout, pd.DataFrame):
        frame = holdout
    else:
        raise UsageError(
            f"compare: holdout must be a dataset ref (customers@v3) or a DataFrame, "
            f"not {type(holdout).__name__}"
        )
    if not label:
        raise UsageError(f"compare: say which column of the holdout ({desc}) is the label: label='…'")
    if label not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:30]))
        raise UsageError(f"compare: the holdout ({desc}) has no label column {label!r}; columns: {cols}")
    frame = frame[frame[label].notna()]
    if len(frame) < 2:
        raise UsageError(f"compare: the holdout ({desc}) has fewer than 2 labelled rows")
    return frame.reset_index(drop=True), label, (desc if source == "given" else f"{desc}, {source}")
