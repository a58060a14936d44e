"""Search spaces for tuning, written as short specs over a template's typed parameters.

Grammar (one spec per parameter; the same text from the API, the CLI and the magic):

- ``int:LOW..HIGH`` and ``int:LOW..HIGH:log`` — integers, ``:step=N`` for a grid step;
- ``float:LOW..HIGH`` and ``float:LOW..HIGH:log`` — reals (``1e-4`` notation accepted);
- ``choice:a,b,c`` — one of the values, converted to the parameter's declared type.

In the API a list is also a choice (``{"model": ["rf", "linear"]}``). Every spec is
checked against the template's ``parameters`` cell before anything runs: unknown names,
an ``int`` range for a ``str`` parameter, ``LOW >= HIGH``, a log range that reaches 0,
or a choice the parameter's ``Literal`` does not allow each get one clear error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_jupyter.errors import UsageError
from mlops_jupyter.jobs import parameters as params_mod

GRAMMAR = "int:LOW..HIGH[:log][:step=N], float:LOW..HIGH[:log][:step=X] or choice:a,b,c"
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_RANGE_RE = re.compile(rf"^(int|float):\s*({_NUM})\s*\.\.\s*({_NUM})\s*((?::\s*[a-z]+(?:=\s*{_NUM})?\s*)*)$")
MAX_CHOICES = 1000


@dataclass(frozen=True)
class Dimension:
    """One searched parameter."""

    name: str
    kind: str  # int | float | choice
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def spec(self) -> str:
        if self.kind == "choice":
            return "choice:" + ",".join(str(c) for c in self.choices)
        low, high = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)  # type: ignore[arg-type]
        tail = (":log" if self.log else "") + (f":step={self.step:g}" if self.step else "")
        return f"{self.kind}:{low}..{high}{tail}"

    def distribution(self) -> Any:
        """The Optuna distribution for this dimension."""
        from optuna import distributions as d

        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log,  # type: ignore[arg-type]
                                     step=int(self.step or 1))
        if self.kind == "float":
            return d.FloatDistribution(self.low, self.high, log=self.log, step=self.step)  # type: ignore[arg-type]
        return d.CategoricalDistribution(list(self.choices))


def _bad(name: str, spec: object, why: str) -> UsageError:
    return UsageError(f"search space for {name!r}: {why} (got {spec!r}); accepted: {GRAMMAR}")


def parse_spec(name: str, spec: object, param: params_mod.Param | None = None) -> Dimension:
    """One spec (text, or a list meaning a choice) -> :class:`Dimension`."""
    if isinstance(spec, list | tuple):
        if not spec:
            raise _bad(name, spec, "a choice needs at least one value")
        values = list(spec)
        if param is not None:
            values = [params_mod.convert(param, v) for v in values]
        return _choice(name, spec, values)
    if not isinstance(spec, str) or not spec.strip() or len(spec) > 10_000:
        raise _bad(name, spec, "expected a spec string or a list of values")
    text = spec.strip()
    if text.startswith("choice:"):
        raw = [v.strip() for v in text[len("choice:"):].split(",")]
        if not raw or any(v == "" for v in raw):
            raise _bad(name, spec, "choice values must be non-empty and separated by commas")
        values: list[Any] = raw
        if param is not None:
            values = [params_mod.convert(param, v, from_text=True) for v in raw]
        return _choice(name, spec, values)
    m = _RANGE_RE.match(text)
    if not m:
        raise _bad(name, spec, "not a spec")
    kind, lo_s, hi_s, opts = m.groups()
    low, high = float(lo_s), float(hi_s)
    log, step = False, None
    for opt in [o.strip() for o in opts.split(":") if o.strip()]:
        key, _, val = opt.partition("=")
        key = key.strip()
        if key == "log" and not val:
            log = True
        elif key == "step" and val:
            step = float(val)
        else:
            raise _bad(name, spec, f"unknown option {opt!r} (use :log or :step=N)")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise _bad(name, spec, "bounds must be finite numbers")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        raise _bad(name, spec, "int bounds must be whole numbers")
    if low >= high:
        raise _bad(name, spec, f"LOW must be below HIGH ({lo_s} >= {hi_s})")
    if log and low <= 0:
        raise _bad(name, spec, "a :log range must stay above 0")
    if step is not None:
        if step <= 0 or not math.isfinite(step) or (kind == "int" and not step.is_integer()):
            raise _bad(name, spec, "step must be a positive number (a whole number for int)")
        if log:
            raise _bad(name, spec, ":log and :step cannot be combined")
    if param is not None:
        accepted = {"int": ("int", "float", "any"), "float": ("float", "any")}[kind]
        if param.type not in accepted or param.choices:
            raise _bad(name, spec, f"parameter {name!r} is {param.describe_type()}, "
                       f"so an {kind} range does not fit; use choice:... or a matching range")
    return Dimension(name, kind, low, high, log, step)


def _choice(name: str, spec: object, values: list[Any]) -> Dimension:
    if len(values) > MAX_CHOICES:
        raise _bad(name, spec, f"at most {MAX_CHOICES} choices")
    for v in values:
        if v is not None and not isinstance(v, bool | int | float | str):
            raise _bad(name, spec, "choices must be None, booleans, numbers or strings")
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return Dimension(name, "choice", choices=tuple(seen))


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``["n=int:10..500:log", ...]`` (CLI / magic) -> ``{"n": "int:10..500:log"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, spec = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--space {pair!r} must be written NAME=SPEC, SPEC one of {GRAMMAR}")
        params_mod.check_name(name)
        if name in out:
            raise UsageError(f"--space {name!r} is given twice")
        out[name] = spec.strip()
    return out


def build(space: Mapping[str, Any], declared: params_mod.ParametersCell, template: str) -> list[Dimension]:
    """Every dimension checked against the template's parameters cell."""
    if not isinstance(space, Mapping) or not space:
        raise UsageError(f"space must map parameter names to specs ({GRAMMAR}), got {space!r:.80}")
    if not declared.found:
        raise UsageError(f"template {template} has no cell tagged 'parameters'; nothing to tune")
    dims = []
    for name, spec in space.items():
        params_mod.check_name(name)
        p = declared.params.get(name)
        if p is None:
            raise UsageError(f"cannot tune {name!r}: template {template} declares "
                             f"{', '.join(sorted(declared.params)) or 'no parameters'}")
        dims.append(parse_spec(name, spec, p))
    return dims
