"""The ``automl`` template's steps: several scikit-learn families behind one parameter set.

``mlops tune automl --space family=choice:random_forest,gradient_boosting,linear,knn ...``
searches families and their parameters with the same Optuna machinery as any template.
Parameters that do not apply to a family are ignored by it (Optuna's TPE copes with
that). Cross-validation folds are logged as intermediate steps of the metric (its
running mean), so the median pruner can stop a poor family after a fold or two; the
last point is the holdout score, which is what tuning optimises.
"""

from __future__ import annotations

from typing import Any

from mlops_jupyter.errors import UsageError
from mlops_jupyter.jobs import tabular

FAMILIES = ("random_forest", "gradient_boosting", "linear", "knn")


def make_estimator(family: str, task: str, x: Any, *, n_estimators: int = 100,
                   max_depth: int | None = None, learning_rate: float = 0.1, C: float = 1.0,  # noqa: N803
                   n_neighbors: int = 15, seed: int = 42) -> Any:
    """The train template's preprocessing pipeline with the family's estimator."""
    if family not in FAMILIES:
        raise UsageError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    base = "linear" if family in ("linear", "knn") else family  # linear: with scaling
    pipe = tabular.make_model(base, task, x, n_estimators=n_estimators, max_depth=max_depth, seed=seed)
    cls = task == "classification"
    if family == "gradient_boosting":
        pipe.set_params(model__learning_rate=learning_rate)
    elif family == "linear":
        if cls:
            pipe.set_params(model__C=C)
        else:
            pipe.set_params(model__alpha=1.0 / C)
    elif family == "knn":
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        k = max(1, min(int(n_neighbors), len(x) - 1))
        pipe.set_params(model=(KNeighborsClassifier if cls else KNeighborsRegressor)(n_neighbors=k))
    return pipe


def default_metric(task: str) -> str:
    return "auc" if task == "classification" else "r2"


def cross_validate(make: Any, x: Any, y: Any, task: str, metric: str, folds: int, seed: int,
                   log: Any) -> float:
    """K-fold scores of ``metric``; after each fold ``log(running_mean, step)``."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if not 2 <= folds <= 20:
        raise UsageError(f"folds must be from 2 to 20, got {folds}")
    splitter = (StratifiedKFold if task == "classification" else KFold)(folds, shuffle=True, random_state=seed)
    scores: list[float] = []
    for step, (tr, va) in enumerate(splitter.split(x, y)):
        est = make()
        est.fit(x.iloc[tr], y.iloc[tr])
        got = tabular.score(est, x.iloc[va], y.iloc[va], task)
        if metric not in got:
            raise UsageError(f"metric {metric!r} is not computed for {task}; choose one of {', '.join(got)}")
        scores.append(got[metric])
        log(sum(scores) / len(scores), step)
    return sum(scores) / len(scores)
