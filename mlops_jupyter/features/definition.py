"""Feature views as code: the ``@feature_view`` decorator and its dataclasses.

A view names an entity key, an event-timestamp column, a source dataset (whose
versions are the view's history) and a pandas-in/pandas-out function, with a type and
a description per feature. Its version is the hash of everything that decides its
output: the spec and the code of the function (with the module-level functions it
calls, so editing a helper makes a new version too).
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import re
import textwrap
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_jupyter.errors import UsageError
from mlops_jupyter.names import entity_name

#: accepted feature types -> the check applied to computed columns
TYPES = ("float", "int", "bool", "str", "datetime")


@dataclass(frozen=True)
class Feature:
    """One feature of a view: its column name, type (one of :data:`TYPES`) and meaning."""

    name: str
    dtype: str = "float"
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or not self.name.isidentifier():
            raise UsageError(f"feature name must be a Python identifier, got {self.name!r}")
        if self.dtype not in TYPES:
            raise UsageError(
                f"feature {self.name!r}: type must be one of {', '.join(TYPES)}, got {self.dtype!r}"
            )
        if not isinstance(self.description, str):
            raise UsageError(f"feature {self.name!r}: description must be a string")


@dataclass(frozen=True)
class FeatureView:
    """A named view: ``fn(source_frame) -> frame`` with ``entity``, ``timestamp`` and the
    declared features as columns (extra columns are dropped)."""

    name: str
    entity: str
    timestamp: str
    source: str
    features: tuple[Feature, ...]
    fn: Callable[[Any], Any] = field(compare=False, repr=False)
    ttl: _dt.timedelta | None = None
    created: str | None = None  # tie-break column: on equal timestamps the latest wins
    description: str = ""
    path: str | None = field(default=None, compare=False)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise UsageError(
            f"feature view {self.name!r} has no feature {name!r}; features: {', '.join(self.feature_names)}"
        )

    def spec(self) -> dict[str, Any]:
        """Everything but the code, as JSON-able data (stored with each version)."""
        return {
            "entity": self.entity, "timestamp": self.timestamp, "source": self.source,
            "features": [{"name": f.name, "type": f.dtype, "description": f.description}
                         for f in self.features],
            "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
            "created": self.created, "description": self.description,
            "function": getattr(self.fn, "__name__", None),
        }

    def code(self) -> str:
        return function_code(self.fn)

    def digest(self) -> str:
        from blake3 import blake3

        doc = json.dumps({"spec": self.spec(), "code": self.code()}, sort_keys=True)
        return blake3(doc.encode()).hexdigest()


def parse_ttl(ttl: Any, what: str = "ttl") -> _dt.timedelta | None:
    """None, a timedelta, seconds, or a pandas offset string such as ``"30d"``/``"12h"``."""
    if ttl is None:
        return None
    import pandas as pd

    try:
        if isinstance(ttl, bool):
            raise ValueError
        if isinstance(ttl, int | float):
            td = pd.Timedelta(seconds=float(ttl))
        elif isinstance(ttl, str):
            # "30d": pandas 3 deprecates the lower-case day unit, users still write it
            td = pd.Timedelta(re.sub(r"(?<=\d)\s*d$", "D", ttl.strip()))
        else:
            td = pd.Timedelta(ttl)
    except (ValueError, TypeError):
        raise UsageError(
            f"{what} must be a duration: a timedelta, seconds, or text such as '30d' or '12h'; got {ttl!r}"
        ) from None
    if pd.isna(td) or td <= pd.Timedelta(0):
        raise UsageError(f"{what} must be a positive duration, got {ttl!r}")
    return td.to_pytimedelta()


def _features(features: Any) -> tuple[Feature, ...]:
    out: list[Feature] = []
    if isinstance(features, Mapping):
        for name, v in features.items():
            if isinstance(v, Feature):
                out.append(v if v.name == name else Feature(name, v.dtype, v.description))
            elif isinstance(v, str):
                out.append(Feature(name, v))
            elif isinstance(v, tuple | list) and 1 <= len(v) <= 2:
                out.append(Feature(name, *v))
            else:
                raise UsageError(
                    f"feature {name!r}: give a type ('float'), a (type, description) pair or a Feature"
                )
    elif isinstance(features, Iterable) and not isinstance(features, str):
        for f in features:
            if not isinstance(f, Feature):
                raise UsageError(f"features must be Feature objects, got {type(f).__name__}")
            out.append(f)
    else:
        raise UsageError("features must be a list of Feature or a dict name -> type")
    if not out:
        raise UsageError("a feature view needs at least one feature")
    names = [f.name for f in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UsageError(f"feature name(s) declared twice: {', '.join(dup)}")
    return tuple(out)


def _column(v: Any, what: str) -> str:
    if not isinstance(v, str) or not v:
        raise UsageError(f"{what} must be a column name (text), got {v!r}")
    return v


def feature_view(
    *, entity: str, timestamp: str, source: str, features: Any, name: str | None = None,
    ttl: Any = None, created: str | None = None, description: str = "",
) -> Callable[[Callable[[Any], Any]], FeatureView]:
    """Decorate ``fn(source_df) -> df`` to declare a feature view.

    ``features``: a list of :class:`Feature`, or a dict ``name -> type`` /
    ``name -> (type, description)``. ``ttl``: how old a value may be at training time
    (default: any age). ``created``: a column breaking ties between rows of one entity
    with the same event timestamp (the greatest wins; without it, the row the function
    returned last).
    """

    def wrap(fn: Callable[[Any], Any]) -> FeatureView:
        if not callable(fn) or not isinstance(fn, types.FunctionType):
            raise UsageError("@feature_view decorates a function taking and returning a DataFrame")
        if fn.__name__ == "<lambda>":
            raise UsageError("@feature_view needs a named function (its code is its version)")
        vname = entity_name(name or fn.__name__, kind="feature view name")
        if ":" in vname:
            raise UsageError(f"feature view name {vname!r} cannot contain ':'")
        feats = _features(features)
        ent, ts = _column(entity, "entity"), _column(timestamp, "timestamp")
        if ent == ts:
            raise UsageError("entity and timestamp must be different columns")
        clash = {ent, ts} & {f.name for f in feats}
        if clash:
            raise UsageError(f"{', '.join(sorted(clash))} is the entity or timestamp, not a feature")
        return FeatureView(
            name=vname, entity=ent, timestamp=ts,
            source=entity_name(source, kind="source dataset name"), features=feats, fn=fn,
            ttl=parse_ttl(ttl), created=None if created is None else _column(created, "created"),
            description=str(description or (inspect.getdoc(fn) or "").split("\n\n")[0]),
        )

    return wrap


def function_code(fn: Callable[..., Any]) -> str:
    """The source of ``fn`` plus that of the module-level functions it references (by
    name, transitively), each once, in a stable order."""
    seen: dict[str, str] = {}

    def visit(f: Any) -> None:
        key = f"{f.__module__}.{f.__qualname__}"
        if key in seen:
            return
        try:
            src = textwrap.dedent(inspect.getsource(f))
        except (OSError, TypeError):
            src = f.__code__.co_code.hex()  # no source file: the bytecode still names it
        seen[key] = src
        for n in _names(f.__code__):
            g = f.__globals__.get(n)
            if isinstance(g, types.FunctionType) and g.__module__ == f.__module__:
                visit(g)

    visit(fn)
    first = next(iter(seen))
    return "\n".join([seen[first]] + [seen[k] for k in sorted(seen) if k != first])


def _names(code: types.CodeType) -> set[str]:
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out
