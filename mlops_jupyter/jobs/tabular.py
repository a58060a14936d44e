"""The shared steps of the tabular templates (train, evaluate, retrain, eda, drift_report).

Kept in the package rather than copied into five notebooks so the templates stay short
and readable, and the steps are tested once: where the data comes from (a dataset
reference, a file, or a dataset shipped with scikit-learn), which task it is, the same
seeded holdout split everywhere, the estimator, and the metrics.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import UsageError

SKLEARN_PREFIX = "sklearn:"
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits", "linnerud")
MODELS = ("random_forest", "gradient_boosting", "linear")


def load_table(spec: str, *, version: bool = True) -> tuple[Any, str]:
    """``(DataFrame, reference)`` for ``spec``: ``sklearn:<name>`` (bundled with
    scikit-learn, no download), a CSV/Parquet path, or a dataset reference (``churn``,
    ``churn@v3``). Bundled data and files are versioned (``version=True``) so the run
    records exactly which data it read; the reference returned pins the version."""
    import mlops_jupyter as mj

    if not isinstance(spec, str) or not spec.strip():
        raise UsageError("dataset must be a reference, a file path or sklearn:<name>")
    spec = spec.strip()
    if spec.startswith(SKLEARN_PREFIX):
        name = spec[len(SKLEARN_PREFIX):]
        if name not in SKLEARN_DATASETS:
            raise UsageError(f"unknown scikit-learn dataset {name!r}; bundled: {', '.join(SKLEARN_DATASETS)}")
        import sklearn.datasets as skd

        bunch = getattr(skd, f"load_{name}")(as_frame=True)
        df = bunch.frame.copy()
        if name == "linnerud":  # several targets: keep one
            df = df.drop(columns=[c for c in bunch.target.columns[1:]])
        if not version:
            return df, spec
        v = mj.datasets.add(df, name=name.replace("_", "-"), description=f"scikit-learn {name} dataset")
        return df, f"{v.name}@v{v.version}"
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".csv", ".parquet", ".pq", ".feather", ".tsv") or path.is_file():
        if not path.is_file():
            raise UsageError(f"dataset file {spec!r} does not exist")
        v = mj.datasets.add(str(path), name=_safe_name(path.stem))
        df = mj.datasets.load(f"{v.name}@v{v.version}", as_frame=True)
        return df, f"{v.name}@v{v.version}"
    v = mj.datasets.get(spec)
    ref = f"{v.name}@v{v.version}"
    if v.kind == "folder":
        raise UsageError(f"dataset {spec!r} is a folder, not a table")
    df = mj.datasets.load(ref, as_frame=True) if v.kind == "file" else mj.datasets.load(ref)
    return df, ref


def _safe_name(stem: str) -> str:
    out = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem).strip("-._")
    return (out or "data")[:100]


def split_xy(df: Any, target: str = "") -> tuple[Any, Any, str]:
    """Features and target: ``target`` or, when empty, a column named ``target``, else
    the last column."""
    if df.shape[1] < 2:
        raise UsageError("the dataset needs at least one feature column and a target column")
    col = target or ("target" if "target" in df.columns else str(df.columns[-1]))
    if col not in df.columns:
        raise UsageError(f"target column {col!r} is not in the dataset; columns: {', '.join(map(str, df.columns[:30]))}")
    y = df[col]
    if y.isna().any():
        keep = ~y.isna()
        df, y = df[keep], y[keep]
    return df.drop(columns=[col]), y, col


def infer_task(y: Any, task: str = "auto") -> str:
    if task in ("classification", "regression"):
        return task
    if task != "auto":
        raise UsageError(f"task must be auto, classification or regression, got {task!r}")
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.dropna()
    integral = bool((values == values.round()).all())
    return "classification" if integral and values.nunique() <= 20 else "regression"


def holdout(x: Any, y: Any, task: str, test_size: float = 0.25, seed: int = 42) -> tuple[Any, Any, Any, Any]:
    """The seeded split every template uses, so train, evaluate and retrain score on the
    same holdout for the same data version."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1:
        raise UsageError(f"test_size must be between 0 and 1, got {test_size}")
    stratify = y if task == "classification" and y.value_counts().min() >= 2 else None
    return train_test_split(x, y, test_size=test_size, random_state=seed, stratify=stratify)


def make_model(kind: str, task: str, x: Any, *, n_estimators: int = 100,
               max_depth: int | None = None, seed: int = 42) -> Any:
    """A pipeline: impute and one-hot encode, then the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if kind not in MODELS:
        raise UsageError(f"model must be one of {', '.join(MODELS)}, got {kind!r}")
    numeric = [c for c in x.columns if str(x[c].dtype) not in ("object", "category", "string", "bool")]
    other = [c for c in x.columns if c not in numeric]
    num_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if kind == "linear":
        num_steps.append(("scale", StandardScaler()))
    parts: list[tuple[str, Any, list[Any]]] = [("num", Pipeline(num_steps), numeric)]
    if other:
        parts.append(("cat", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]), other))
    prep = ColumnTransformer(parts)
    cls = task == "classification"
    if kind == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        est = (RandomForestClassifier if cls else RandomForestRegressor)(
            n_estimators=n_estimators, max_depth=max_depth, random_state=seed, n_jobs=1)
    elif kind == "gradient_boosting":
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

        est = (GradientBoostingClassifier if cls else GradientBoostingRegressor)(
            n_estimators=n_estimators, max_depth=max_depth or 3, random_state=seed)
    else:
        from sklearn.linear_model import LogisticRegression, Ridge

        est = LogisticRegression(max_iter=2000) if cls else Ridge(random_state=seed)
    return Pipeline([("prep", prep), ("model", est)])


def score(model: Any, x: Any, y: Any, task: str) -> dict[str, float]:
    """Classification: accuracy, f1 (macro), auc (one-vs-rest for several classes);
    regression: rmse, mae, r2."""
    from sklearn import metrics as m

    pred = model.predict(x)
    if task == "regression":
        return {
            "rmse": float(math.sqrt(m.mean_squared_error(y, pred))),
            "mae": float(m.mean_absolute_error(y, pred)),
            "r2": float(m.r2_score(y, pred)),
        }
    out = {"accuracy": float(m.accuracy_score(y, pred)),
           "f1": float(m.f1_score(y, pred, average="macro"))}
    if hasattr(model, "predict_proba"):
        try:
            proba = model.predict_proba(x)
            classes = list(model.classes_)
            if len(classes) == 2:
                out["auc"] = float(m.roc_auc_score(y, proba[:, 1]))
            elif len(set(y)) == len(classes):
                out["auc"] = float(m.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
        except ValueError:
            pass
    return out


def higher_is_better(metric: str) -> bool:
    return metric not in ("rmse", "mae", "mse", "loss", "log_loss", "error")
