"""Drift methods: which statistic decides a column, against which threshold.

One registry for the plug-in point "drift tests" (see docs/architecture.md): the
built-in methods are registered in code; third-party ones come from the
``mlops_jupyter.drift_methods`` entry-point group, loaded on first lookup and guarded so
that one broken plug-in never breaks a report.

Every statistic of a column is computed once (they share the sort), so a built-in
method is just a choice of statistic, threshold and direction. A plug-in method brings
its own function instead.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import UsageError

__all__ = [
    "NUMERIC",
    "CATEGORICAL",
    "DriftMethod",
    "AutoPolicy",
    "AUTO",
    "register_method",
    "get_method",
    "method_names",
]

log = logging.getLogger(__name__)

NUMERIC = "numeric"
CATEGORICAL = "categorical"


@dataclass(frozen=True)
class DriftMethod:
    """A rule that turns one statistic of a column into a drift decision.

    ``statistic`` names a key of the column's computed statistics (``ks_p_value``,
    ``wasserstein_norm``, ``psi``, ``chi2_p_value``, ``js_distance``). A plug-in sets
    ``func`` instead: it receives the reference and current data (sorted finite float
    arrays for numeric columns, aligned count arrays for categorical ones) and returns
    the score. ``lower_is_drift`` is True for p-values (drift when p < threshold) and
    False for distances (drift when distance >= threshold).
    """

    name: str
    kinds: frozenset[str]
    statistic: str
    default_threshold: float
    lower_is_drift: bool
    description: str = ""
    func: Callable[..., float] | None = field(default=None, compare=False)

    def is_drift(self, score: float, threshold: float) -> bool:
        if score is None or (isinstance(score, float) and math.isnan(score)):
            return False
        return score < threshold if self.lower_is_drift else score >= threshold

    def severity(self, score: float, threshold: float) -> float:
        """How far past the threshold: >= 1 exactly when the column drifted.

        Distances: score / threshold. p-values: log(p) / log(threshold), so p = alpha
        gives 1 and every factor of ten below it adds the same amount.
        """
        if score is None or (isinstance(score, float) and math.isnan(score)):
            return 0.0
        if self.lower_is_drift:
            if score >= 1.0:
                return 0.0
            if threshold >= 1.0:
                return math.inf if score < threshold else 0.0
            s = math.log(max(score, 1e-300)) / math.log(threshold)
            # p exactly equal to the threshold is not drift: keep severity below 1
            return s if score < threshold else min(s, math.nextafter(1.0, 0.0))
        if threshold <= 0:
            return math.inf if score > 0 else 0.0
        return score / threshold


@dataclass(frozen=True)
class AutoPolicy:
    """The ``method="auto"`` rule: a significant test AND a large enough effect.

    A column drifts when its two-sample test rejects "same distribution" at ``alpha``
    (KS for numeric, chi-square contingency for categorical) *and* its effect size
    reaches a floor (normalised Wasserstein for numeric, Jensen–Shannon distance for
    categorical). The test alone flags ever smaller shifts as samples grow (at 1M rows
    KS detects a 0.005 sd shift); the effect alone is noisy on small samples. Together
    the test decides on small samples (a significant result there already implies an
    effect far above the floor) and the floor decides on large ones. See
    docs/drift.md for why these numbers.
    """

    alpha: float = 0.05
    #: normalised Wasserstein (W1 / reference std): 0.025 sd of the mean
    numeric_floor: float = 0.025
    #: Jensen–Shannon distance (base 2): ~ a 1-point shift of a balanced binary feature;
    #: calibrated so that a normal location shift of 0.025 sd gives the same distance
    categorical_floor: float = 0.01

    def tests(self, kind: str) -> tuple[str, str, float]:
        """``(p-value statistic, effect statistic, effect floor)`` for a column kind."""
        if kind == NUMERIC:
            return "ks_p_value", "wasserstein_norm", self.numeric_floor
        return "chi2_p_value", "js_distance", self.categorical_floor


AUTO = AutoPolicy()

_BUILTINS = [
    DriftMethod("ks", frozenset({NUMERIC}), "ks_p_value", 0.05, True,
                "two-sample Kolmogorov–Smirnov test; drift when p < threshold"),
    DriftMethod("wasserstein", frozenset({NUMERIC}), "wasserstein_norm", 0.1, False,
                "Wasserstein-1 distance / reference std; drift when >= threshold"),
    DriftMethod("psi", frozenset({NUMERIC, CATEGORICAL}), "psi", 0.1, False,
                "population stability index on reference-decile bins or categories; "
                "drift when >= threshold"),
    DriftMethod("chi2", frozenset({CATEGORICAL}), "chi2_p_value", 0.05, True,
                "chi-square two-sample contingency test; drift when p < threshold"),
    DriftMethod("jensenshannon", frozenset({CATEGORICAL}), "js_distance", 0.1, False,
                "Jensen–Shannon distance (base 2); drift when >= threshold"),
]

_REGISTRY: dict[str, DriftMethod] = {m.name: m for m in _BUILTINS}
_ALIASES = {"js": "jensenshannon", "jensen_shannon": "jensenshannon", "chisquare": "chi2",
            "chi_square": "chi2", "kolmogorov_smirnov": "ks"}
_lock = threading.Lock()
_plugins_loaded = False


def register_method(method: DriftMethod, *, replace: bool = False) -> None:
    """Add a drift method (a plug-in's, or your own) under ``method.name``."""
    if not isinstance(method, DriftMethod):
        raise UsageError(f"register_method() takes a DriftMethod, not {type(method).__name__}")
    if method.name == "auto":
        raise UsageError("'auto' is reserved for the built-in size-aware rule")
    if method.func is None and method.statistic not in _KNOWN_STATISTICS:
        raise UsageError(
            f"drift method {method.name!r}: statistic {method.statistic!r} is not computed; "
            f"use one of {', '.join(sorted(_KNOWN_STATISTICS))} or give func="
        )
    with _lock:
        if method.name in _REGISTRY and not replace:
            raise UsageError(f"a drift method named {method.name!r} is already registered")
        _REGISTRY[method.name] = method


_KNOWN_STATISTICS = {
    "ks_statistic", "ks_p_value", "wasserstein", "wasserstein_norm", "psi",
    "chi2", "chi2_p_value", "js_distance",
}


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
    try:
        from importlib.metadata import entry_points

        eps = entry_points(group="mlops_jupyter.drift_methods")
    except Exception:  # pragma: no cover - broken metadata must not break drift
        return
    for ep in eps:
        try:
            obj = ep.load()
            method = obj() if callable(obj) and not isinstance(obj, DriftMethod) else obj
            register_method(method)
        except Exception as exc:  # a broken plug-in is skipped, loudly
            log.warning("drift method plug-in %r could not be loaded: %s", ep.name, exc)


def method_names() -> list[str]:
    """Every accepted ``method=`` value."""
    _load_plugins()
    return ["auto", *sorted(_REGISTRY)]


def get_method(name: str) -> DriftMethod:
    """Look a method up by name (case-insensitive; ``js``/``chisquare`` aliases)."""
    if not isinstance(name, str):
        raise UsageError(f"method must be a string, not {type(name).__name__}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        _load_plugins()
    try:
        return _REGISTRY[key]
    except KeyError:
        raise UsageError(
            f"unknown drift method {name!r}; accepted: {', '.join(method_names())}"
        ) from None
