"""A template's parameters: read from its ``parameters`` cell, checked before anything runs.

papermill accepts any name and injects ``str(value)`` for types it does not know, so a
typo passes silently (papermill#818) and a crafted name or value can run code in the
kernel. Here every parameter is checked against the declared ones first:

- names must be identifiers declared in the template's ``parameters`` cell (a typo gets a
  "did you mean" and the list of accepted names);
- values must be JSON-like (None, bool, int, finite float, str, lists and string-keyed
  dicts of those) and are converted to the declared type (annotation, else the type of
  the default) or rejected;
- the injected cell is written as Python literals with ``repr`` and parsed back with
  :mod:`ast` before the notebook runs: if it is not exactly ``name = <literal>`` lines
  that evaluate to the validated values, nothing runs.

The parameters cell is read with :mod:`ast` (not executed): ``n_estimators = 200``,
``test_size: float = 0.2  # share held out`` and ``task: Literal["auto", "classification"]
= "auto"`` all declare a parameter with its type, default, help text and choices.
"""

from __future__ import annotations

import ast
import copy
import difflib
import io
import json
import keyword
import math
import re
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_jupyter.errors import InvalidNameError, UsageError

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
TYPES = ("int", "float", "str", "bool", "list", "dict", "any")
MAX_DEPTH = 16
# characters of one JSON-like value, all strings included: the same bound as a run
# parameter, so a value a job accepts can be logged by the run the template starts
MAX_TEXT = 8_000

_INT_RE = re.compile(r"^[+-]?\d{1,30}$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null"}


@dataclass(frozen=True)
class Param:
    """One declared parameter of a template."""

    name: str
    type: str  # one of TYPES
    default: Any  # the literal default (None when it is not a literal)
    default_text: str  # the default as written in the cell
    help: str = ""
    optional: bool = False  # None is accepted
    choices: tuple[Any, ...] | None = None

    def describe_type(self) -> str:
        t = self.type
        if self.choices:
            t = "one of " + ", ".join(repr(c) for c in self.choices)
        return f"{t} or None" if self.optional and self.type != "any" else t


@dataclass(frozen=True)
class ParametersCell:
    """What the ``parameters`` cell declares (``found`` False: the notebook has none)."""

    found: bool
    index: int | None
    params: dict[str, Param]


# -- reading the parameters cell --------------------------------------------------------
def _cell_source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _tags(cell: Mapping[str, Any]) -> list[str]:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return [t for t in tags if isinstance(t, str)]


def _strip_magics(src: str) -> str:
    # IPython line magics and shell escapes are not Python; keep line numbers stable
    return "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in src.split("\n"))


def _comments(src: str) -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def _annotation(node: ast.expr | None) -> tuple[str | None, bool, tuple[Any, ...] | None]:
    """(type, optional, choices) from an annotation such as ``int``, ``float | None``,
    ``Optional[str]`` or ``Literal["a", "b"]``."""
    if node is None:
        return None, False, None
    if isinstance(node, ast.Constant) and node.value is None:
        return None, True, None
    if isinstance(node, ast.Name):
        name = node.id
        mapping = {"int": "int", "float": "float", "str": "str", "bool": "bool", "list": "list",
                   "dict": "dict", "Any": "any", "tuple": "list"}
        return mapping.get(name), False, None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        lt, lo, lc = _annotation(node.left)
        rt, ro, rc = _annotation(node.right)
        return lt or rt, lo or ro or lt is None or rt is None, lc or rc
    if isinstance(node, ast.Subscript):
        base = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
        if base == "Optional":
            t, _, c = _annotation(node.slice)
            return t, True, c
        if base == "Literal":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            try:
                choices = tuple(ast.literal_eval(e) for e in elts)
            except ValueError:
                return None, False, None
            kinds = {type(c).__name__ for c in choices if c is not None}
            t = kinds.pop() if len(kinds) == 1 else "any"
            return (t if t in TYPES else "any"), None in choices, choices
        if base in ("list", "List", "tuple", "Tuple", "Sequence"):
            return "list", False, None
        if base in ("dict", "Dict", "Mapping"):
            return "dict", False, None
    return None, False, None


def _literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    for t in (int, float, str, list, dict):
        if isinstance(value, t):
            return t.__name__
    if isinstance(value, tuple):
        return "list"
    return "any"


def inspect_cell(source: str, where: str = "the parameters cell") -> dict[str, Param]:
    """Parameters declared by one cell's source (top-level ``name = literal`` lines)."""
    src = _strip_magics(source)
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        raise UsageError(f"{where} is not valid Python (line {e.lineno}: {e.msg})") from None
    comments = _comments(src)
    lines = src.split("\n")
    params: dict[str, Param] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = [t for t in node.targets if isinstance(t, ast.Name)]
            value, ann = node.value, None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            targets, value, ann = [node.target], node.value, node.annotation
        else:
            continue
        declared, optional, choices = _annotation(ann)
        try:
            default = ast.literal_eval(value)
            literal = True
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            default, literal = None, False
        if isinstance(default, tuple):
            default = list(default)
        text = ast.get_source_segment(src, value) or ""
        if declared is None:
            declared = _literal_type(default) if literal and default is not None else "any"
            optional = optional or (literal and default is None)
        if literal and default is None:
            optional = True
        end = getattr(node, "end_lineno", node.lineno) or node.lineno
        help_text = comments.get(end, "") or comments.get(node.lineno, "")
        if not help_text and node.lineno >= 2:
            prev = lines[node.lineno - 2].strip()
            if prev.startswith("#"):
                help_text = prev.lstrip("#").strip()
        for t in targets:
            params[t.id] = Param(
                name=t.id, type=declared, default=default, default_text=text,
                help=help_text, optional=optional, choices=choices,
            )
    return params


def inspect_notebook(nb: Mapping[str, Any], where: str = "template") -> ParametersCell:
    """The first cell tagged ``parameters`` (papermill's rule) and what it declares."""
    for i, cell in enumerate(nb.get("cells") or []):
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in _tags(cell):
            return ParametersCell(True, i, inspect_cell(_cell_source(cell), f"the parameters cell of {where}"))
    return ParametersCell(False, None, {})


# -- checking and converting values ------------------------------------------------------
def check_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidNameError(f"parameter names must be strings, got {type(name).__name__}")
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise InvalidNameError(
            f"invalid parameter name {name!r}: a parameter name is a Python identifier "
            "(ASCII letters, digits and '_', not starting with a digit, not a keyword)"
        )
    return name


def check_jsonlike(value: Any, what: str = "value") -> Any:
    """``value`` as plain JSON-like data (tuples become lists), or UsageError."""
    budget = [MAX_TEXT]

    def walk(v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise UsageError(f"{what} is nested more than {MAX_DEPTH} levels deep")
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            if abs(v) >= 1 << 63:
                raise UsageError(f"{what}: integer {v} is out of the 64-bit range")
            return int(v)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise UsageError(f"{what}: {v} is not a finite number")
            return float(v)
        if isinstance(v, str):
            budget[0] -= len(v)
            if budget[0] < 0:
                raise UsageError(
                    f"{what} is longer than {MAX_TEXT:,} characters (the limit of a run "
                    "parameter); pass a path or a dataset reference to large inputs instead"
                )
            if "\x00" in v:
                raise UsageError(f"{what} contains a NUL character")
            return str(v)
        if isinstance(v, list | tuple):
            return [walk(x, depth + 1) for x in v]
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if not isinstance(k, str):
                    raise UsageError(f"{what}: dictionary keys must be strings, got {type(k).__name__}")
                out[walk(k, depth + 1)] = walk(x, depth + 1)
            return out
        import numbers

        if isinstance(v, numbers.Integral):  # numpy integers
            return walk(int(v), depth)
        if isinstance(v, numbers.Real):
            return walk(float(v), depth)
        raise UsageError(
            f"{what}: {type(v).__name__} values are not accepted; use None, bool, int, "
            "float, str, or lists and dicts of those"
        )

    return walk(value, 0)


def _from_text(p: Param, text: str) -> Any:
    low = text.strip().lower()
    if low in _NONE and (p.optional or p.type == "any"):
        return None
    t = p.type
    if t == "int":
        if _INT_RE.match(text.strip()):
            return int(text.strip())
        if _FLOAT_RE.match(text.strip()) and float(text).is_integer():
            return int(float(text))
        raise UsageError(f"parameter {p.name!r} expects an integer, got {text!r}")
    if t == "float":
        if _FLOAT_RE.match(text.strip()):
            return float(text)
        raise UsageError(f"parameter {p.name!r} expects a number, got {text!r}")
    if t == "bool":
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise UsageError(f"parameter {p.name!r} expects true or false, got {text!r}")
    if t == "str":
        return text
    if t in ("list", "dict"):
        try:
            value = json.loads(text)
        except ValueError:
            example = "[1, 2]" if t == "list" else '{"a": 1}'
            raise UsageError(f"parameter {p.name!r} expects a JSON {t} such as {example}, got {text!r}") from None
        return value
    # any: JSON if it parses, else the text itself
    try:
        return json.loads(text)
    except ValueError:
        return text


def convert(p: Param, value: Any, *, from_text: bool = False) -> Any:
    """``value`` converted to ``p``'s type, or a UsageError that says what is accepted."""
    if from_text:
        if not isinstance(value, str):
            raise UsageError(f"parameter {p.name!r}: expected text from the command line")
        value = _from_text(p, value)
    elif isinstance(value, str) and p.type in ("int", "float", "bool", "list", "dict"):
        value = _from_text(p, value)
    value = check_jsonlike(value, f"parameter {p.name!r}")
    t = p.type
    if value is None:
        if p.optional or t == "any":
            return None
        raise UsageError(f"parameter {p.name!r} expects {p.describe_type()}, got None")
    ok = True
    if t == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif t == "bool":
        ok = isinstance(value, bool)
    elif t == "str":
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        ok = isinstance(value, str)
    elif t == "list":
        ok = isinstance(value, list)
    elif t == "dict":
        ok = isinstance(value, dict)
    if not ok:
        raise UsageError(
            f"parameter {p.name!r} expects {p.describe_type()}, got {type(value).__name__} {value!r:.80}"
        )
    if p.choices is not None and value not in p.choices:
        raise UsageError(
            f"parameter {p.name!r} must be one of {', '.join(repr(c) for c in p.choices)}, got {value!r:.80}"
        )
    return value


def validate(
    declared: ParametersCell, values: Mapping[str, Any] | None, *, template: str,
    from_text: bool = False,
) -> dict[str, Any]:
    """Checked, converted values for ``values`` (only those given; defaults stay in the
    template). Raises UsageError before anything runs."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise UsageError(f"parameters must be a mapping of name to value, got {type(values).__name__}")
    if values and not declared.found:
        raise UsageError(
            f"template {template} has no cell tagged 'parameters', so it accepts no "
            "parameters: tag the cell that defines the defaults with 'parameters' "
            "(Jupyter: View > Cell Toolbar > Tags)"
        )
    out: dict[str, Any] = {}
    for name, value in values.items():
        check_name(name)
        p = declared.params.get(name)
        if p is None:
            accepted = sorted(declared.params)
            close = difflib.get_close_matches(name, accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(
                f"unknown parameter {name!r} for template {template}{hint}; "
                f"accepted: {', '.join(accepted) or '(none)'}"
            )
        out[name] = convert(p, value, from_text=from_text)
        _check_encodable(name, out[name])
    return out


def _check_encodable(name: str, value: Any) -> None:
    """Refuse text that cannot be written as UTF-8 (a lone surrogate, or invalid UTF-8
    bytes from the command line, which Python decodes to surrogates) before any job row
    exists: otherwise the job dies later with a raw UnicodeEncodeError."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(
                    f"parameter {name!r} holds text that is not valid Unicode (a lone "
                    f"surrogate or invalid UTF-8 bytes): {v!r}; accepted: valid UTF-8 text"
                ) from None
        elif isinstance(v, Mapping):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)


def parse_pairs(pairs: Iterable[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` from the command line or a magic into a dict of text values."""
    out: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"parameter {pair!r} must be written name=value")
        check_name(name)
        if name in out:
            raise UsageError(f"parameter {name!r} is given twice")
        out[name] = value
    return out


# -- writing the injected cell -----------------------------------------------------------
def render_assignments(values: Mapping[str, Any]) -> str:
    """``name = literal`` lines, verified by parsing them back before they are used."""
    lines = [f"{check_name(k)} = {check_jsonlike(v, f'parameter {k!r}')!r}" for k, v in values.items()]
    text = "# Parameters injected by mlops-jupyter\n" + "\n".join(lines) + ("\n" if lines else "")
    _verify(text, values)
    return text


def _verify(text: str, values: Mapping[str, Any]) -> None:
    try:
        tree = ast.parse(text)
    except SyntaxError as e:  # pragma: no cover - repr of JSON-like data always parses
        raise UsageError(f"refusing to run: the injected parameters do not parse ({e.msg})") from None
    seen: dict[str, Any] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            raise UsageError("refusing to run: the injected parameters are not plain assignments")
        try:
            seen[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise UsageError("refusing to run: an injected parameter is not a literal") from None
    expected = {k: check_jsonlike(v) for k, v in values.items()}
    if json.dumps(seen, sort_keys=True) != json.dumps(expected, sort_keys=True):
        raise UsageError("refusing to run: the injected parameters do not round-trip")


def inject(nb: Any, values: Mapping[str, Any], declared: ParametersCell) -> Any:
    """A copy of ``nb`` with a cell tagged ``injected-parameters`` after the parameters
    cell (papermill's layout, so papermill tooling still understands the output)."""
    import nbformat

    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if INJECTED_TAG not in _tags(c)]
    pm = out.metadata.setdefault("papermill", {})
    pm["parameters"] = dict(values)
    if not values:
        return out
    cell = nbformat.v4.new_code_cell(source=render_assignments(values))
    cell.metadata["tags"] = [INJECTED_TAG]
    # the index is recomputed: removing an old injected cell may have shifted it
    idx = inspect_notebook(out).index if declared.found else None
    out.cells.insert(0 if idx is None else idx + 1, cell)
    return out
