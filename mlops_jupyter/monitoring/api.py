"""``mj.drift(reference, current)``: resolve references, compute, and keep the report.

The statistics in :mod:`.engine` know nothing about the store. This module turns what
a user names — a DataFrame, a dataset version (``churn@v3``), a model version
(``model:churn@production``: the dataset it was trained on), a file path — into frames,
runs the comparison, adds prediction drift when a model is involved, and saves the
report linked to its dataset or model so ``drift_history`` can list it over time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_jupyter.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_jupyter.monitoring.report import DriftReport

__all__ = ["drift", "drift_history", "load_report"]


class _Side:
    """A resolved input: its frame, its text reference, and what it belongs to."""

    def __init__(self, frame: pd.DataFrame, ref: str | None, kind: str | None = None,
                 subject: str | None = None, model: Any = None,
                 features: list[str] | None = None, label: str | None = None) -> None:
        self.frame, self.ref, self.kind, self.subject, self.model = frame, ref, kind, subject, model
        self.features, self.label = features, label


def model_roles(mv: Any, model: Any, training: pd.DataFrame) -> tuple[list[str] | None, str | None]:
    """(feature columns, label column) of a registered model, from what it recorded.

    Features: the signature's column names, else the estimator's ``feature_names_in_``.
    Label: the training run's ``target``/``label`` parameter when it names a training
    column; else the one training column that is not a feature. Either may be None
    (then every column is compared, as for two plain tables).
    """
    names: list[str] | None = None
    sig = getattr(mv, "input_signature", None)
    if sig is not None and sig.frame:
        names = list(sig.names)
    elif getattr(model, "feature_names_in_", None) is not None:
        names = [str(n) for n in model.feature_names_in_]
    cols = [str(c) for c in training.columns]
    features = [n for n in names if n in cols] if names else None
    label = None
    if getattr(mv, "run_id", None):
        try:
            from mlops_jupyter.tracking.session import get_store

            params = get_store().get_run(mv.run_id).params
            for k in ("target", "label", "target_col", "label_col"):
                if params.get(k) in cols and params.get(k) not in (features or []):
                    label = params[k]
                    break
        except Exception:  # lineage is a hint; a missing run must not break drift
            label = None
    if label is None and features:
        rest = [c for c in cols if c not in features]
        classes = getattr(model, "classes_", None)
        if len(rest) > 1 and classes is not None:  # a classifier: the column of its classes
            want = {str(c) for c in classes}
            rest = [c for c in rest
                    if {str(v) for v in training[c].dropna().unique()[:len(want) + 1]} == want]
        if len(rest) == 1:
            label = rest[0]
    return features, label


def _dataset_side(ref: str) -> _Side:
    from mlops_jupyter import datasets

    v = datasets.get(ref)
    frame = datasets.load(v, as_frame=True) if v.kind == "file" else datasets.load(v)
    if not hasattr(frame, "columns"):
        raise UsageError(f"{v.ref} is a {v.kind}, not tabular data: drift needs a table")
    side = _Side(frame, v.ref, "dataset", v.name)
    side.version_id = v.id
    return side


def _lineage_label(side: _Side) -> str | None:
    """The label of a dataset version that models were trained on: what their signature
    and training run say (the most recent model first). None when no model used it."""
    from mlops_jupyter import models

    vid = getattr(side, "version_id", None)
    if vid is None:
        return None
    try:
        from mlops_jupyter.tracking.session import get_store

        trained = get_store().dataset_lineage(vid).get("models", [])
    except Exception:  # lineage is a hint; never a reason to fail a drift report
        return None
    for rec in reversed(trained):
        try:
            mv = models.get(f"{rec['name']}@v{rec['version']}")
        except Exception:  # noqa: BLE001
            continue
        _, label = model_roles(mv, None, side.frame)
        if label is not None:
            return label
    return None


def _model_side(ref: str) -> _Side:
    from mlops_jupyter import models

    mv = models.get(ref)
    if not mv.dataset_version_ids:
        raise UsageError(
            f"model {mv.ref} has no training dataset recorded: pass reference= a dataset "
            "ref or a DataFrame (register models with dataset=... to record it)"
        )
    from mlops_jupyter.tracking.session import get_store

    st = get_store()
    tabular = [st.get_dataset_version_by_id(i) for i in mv.dataset_version_ids]
    tabular = [v for v in tabular if v.kind == "dataframe" or v.kind == "file"]
    if not tabular:
        raise UsageError(f"model {mv.ref} was trained on no tabular dataset version")
    side = _dataset_side(f"{tabular[0].name}@v{tabular[0].version}")
    model = models.load(mv.ref)
    features, label = model_roles(mv, model, side.frame)
    return _Side(side.frame, f"{mv.ref} (trained on {side.ref})", "model", mv.name,
                 model=model, features=features, label=label)


def _resolve(obj: Any, role: str) -> _Side:
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return _Side(obj, None)
    if isinstance(obj, os.PathLike) or (isinstance(obj, str) and os.sep in obj) or (
        isinstance(obj, str) and Path(obj).suffix.lower() in (".csv", ".parquet", ".pq", ".tsv", ".json", ".jsonl", ".feather")
        and Path(obj).exists()
    ):
        from mlops_jupyter.datasets.ingest import read_table_file

        path = Path(obj)
        if not path.is_file():
            raise UsageError(f"{role}: no file at {str(path)!r}")
        return _Side(read_table_file(path), str(path))
    if not isinstance(obj, str):
        raise UsageError(
            f"{role} must be a DataFrame, a dataset ref (name@v3), a model ref "
            f"(model:name@production) or a CSV/Parquet path; got {type(obj).__name__}"
        )
    kind, sep, ref = obj.partition(":")
    if sep and kind == "dataset":
        return _dataset_side(ref)
    if sep and kind == "model":
        if role == "current":
            raise UsageError("current data cannot be a model: give a DataFrame, dataset ref or path")
        return _model_side(ref)
    return _guess(obj, role)


def _guess(ref: str, role: str) -> _Side:
    """A bare ``name@sel`` is a dataset version (the reference grammar's reading); only
    when no dataset has that name is a model of that name tried (the reference side
    only). ``model:`` and ``dataset:`` prefixes say it explicitly."""
    from mlops_jupyter import datasets, models

    name = ref.partition("@")[0]
    known = datasets.list_datasets()
    if len(known) and name in set(known["name"]):
        return _dataset_side(ref)
    if role == "reference":
        registered = models.list_models()
        if len(registered) and name in set(registered["name"]):
            return _model_side(ref)
    raise NotFoundError(
        f"{role} {ref!r} is neither a dataset nor a registered model (nor an existing file); "
        "give a DataFrame, a dataset ref (name@v3), model:name@alias, or a CSV/Parquet path"
    )


def drift(
    reference: Any,
    current: Any,
    columns: list[str] | None = None,
    method: str = "auto",
    threshold: float | None = None,
    *,
    column_thresholds: dict[str, float] | None = None,
    categorical: list[str] | None = None,
    label: str | None = None,
    save: bool | None = None,
) -> DriftReport:
    """Compare ``current`` data with ``reference`` data, per column and overall.

    With a model reference, the report also carries prediction drift (the model scores
    both sides) as ``report.prediction``, and with ``label`` present in the current data
    the change in performance. ``save`` (default: when the reference names a dataset or
    model) stores the report for :func:`drift_history`.
    """
    from mlops_jupyter.monitoring import compute_drift, compute_prediction_drift

    ref = _resolve(reference, "reference")
    cur = _resolve(current, "current")
    feature_cols = columns
    label = label if label is not None else ref.label
    if label is None and ref.kind == "dataset" and columns is None:
        label = _lineage_label(ref)  # a model's training data: its label is not a feature
    if ref.model is not None and columns is None:
        # a model's inputs are its features; its label is compared only when the
        # current data has it (served inputs never do), and other training columns
        # (ids, timestamps the model never saw) are not the model's inputs
        base = ref.features or [c for c in ref.frame.columns if c != label]
        feature_cols = [c for c in base if c != label]
        if label is not None and label in cur.frame.columns and label in ref.frame.columns:
            feature_cols.append(label)
    elif columns is None and label is not None and label not in cur.frame.columns:
        feature_cols = [c for c in ref.frame.columns if c != label]
    report = compute_drift(
        ref.frame, cur.frame, columns=feature_cols, method=method, threshold=threshold,
        column_thresholds=column_thresholds, categorical=categorical,
    )
    if label is not None:
        for c in report.columns:
            if c.column == str(label):
                c.role = "label"
        report.options["label"] = str(label)
    report.options["reference"] = ref.ref or "DataFrame"
    report.options["current"] = cur.ref or "DataFrame"
    if ref.model is not None:
        pred = compute_prediction_drift(ref.model, ref.frame, cur.frame, label=label)
        if threshold is None:  # inputs and predictions are one family of tests (Holm)
            from mlops_jupyter.monitoring.engine import holm

            holm([*report.columns, *pred.columns])
        report.prediction = pred
        report.performance = pred.performance
    if save or (save is None and ref.kind is not None):
        _save(report, ref, cur)
    return report


def _save(report: DriftReport, ref: _Side, cur: _Side) -> None:
    from mlops_jupyter.tracking.session import active_run, get_store

    doc = report.to_dict()
    run = active_run()
    rec = get_store().save_drift_report(
        report=json.dumps(doc, allow_nan=False, sort_keys=True).encode(), drifted=report.drifted,
        share=report.share, subject_kind=ref.kind, subject=ref.subject, reference=ref.ref,
        current=cur.ref, run_id=run.id if run else None,
    )
    report.options["saved_id"] = rec.id


def drift_history(subject: str | None = None) -> pd.DataFrame:
    """Saved drift reports over time for a model or dataset name (``model:churn`` or
    ``dataset:churn``; a bare name matches either), oldest first."""
    import pandas as pd

    from mlops_jupyter.tracking.session import get_store

    kind = None
    name = subject
    if subject is not None:
        k, sep, rest = subject.partition(":")
        if sep and k in ("model", "dataset"):
            kind, name = k, rest
        name = name.partition("@")[0]
    st = get_store()
    recs = st.list_drift_reports(kind, name)
    if not recs and name:
        from mlops_jupyter import datasets, models

        ds = datasets.list_datasets()
        ms = models.list_models()
        exists = (len(ds) and name in set(ds["name"])) or (len(ms) and name in set(ms["name"]))
        if not exists:
            subjects = sorted({f"{r.subject_kind}:{r.subject}" for r in st.list_drift_reports() if r.subject})
            raise NotFoundError(
                f"no dataset or model named {name!r}; subjects with drift reports: "
                f"{', '.join(subjects) or '(none yet)'}"
            )
    return pd.DataFrame(
        {
            "report_id": [r.id for r in recs],
            "created_at": pd.to_datetime([r.created_at for r in recs], unit="s", utc=True),
            "subject_kind": [r.subject_kind for r in recs],
            "subject": [r.subject for r in recs],
            "reference": [r.reference for r in recs],
            "current": [r.current for r in recs],
            "drifted": [r.drifted for r in recs],
            "share": [r.share for r in recs],
            "run_id": [r.run_id for r in recs],
        }
    )


def load_report(report_id: str) -> DriftReport:
    """A saved report, rebuilt (verified by hash) from the store."""
    from mlops_jupyter.monitoring.report import DriftReport
    from mlops_jupyter.tracking.session import get_store

    st = get_store()
    rec = st.get_drift_report(report_id)
    return DriftReport.from_dict(json.loads(st.read_blob(rec.report_blob)))
