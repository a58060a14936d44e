"""Argument parsing shared by every ``%mlops`` verb.

Verbs parse with :class:`VerbParser`, IPython's ``MagicArgumentParser`` (it raises
IPython's ``UsageError``, which IPython prints as one line, never as a traceback) with
an error message that also says what is accepted. ``k=v`` words go through
:func:`parse_kv`: values are Python literals when they parse as one (``0.1``, ``True``,
``[1, 2]``, ``'text'``), else plain strings.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterable
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser

__all__ = ["UsageError", "VerbParser", "literal", "parse_kv", "usage_error"]


class VerbParser(MagicArgumentParser):
    """A parser for one verb; ``prog`` is ``%mlops VERB``."""

    def __init__(self, verb: str, usage: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.HelpFormatter)
        if usage is not None:
            usage = usage.replace("%", "%%")  # argparse %-formats the usage text
        super().__init__(prog=f"%mlops {verb}", usage=usage, **kwargs)

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split())
        usage = usage[len("usage: "):] if usage.startswith("usage: ") else usage
        raise UsageError(f"{self.prog}: {message}. Usage: {usage}  (see %mlops help {self.prog.split()[-1]})")

    def parse(self, argv: list[str]) -> Any:
        return self.parse_args(argv)


def usage_error(message: str) -> NoReturn:
    raise UsageError(message)


def literal(text: str) -> Any:
    """``text`` as a Python literal when it is one, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_kv(words: Iterable[str] | None, what: str = "value") -> dict[str, Any]:
    """``["lr=0.1", "model=rf"]`` -> ``{"lr": 0.1, "model": "rf"}``."""
    out: dict[str, Any] = {}
    for word in words or []:
        key, sep, value = word.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"expected {what} as key=value (for example lr=0.1 or model=rf), got {word!r}"
            )
        parsed = literal(value)
        if key in out and out[key] != parsed:
            raise UsageError(f"{key!r} is given twice ({out[key]!r} and {parsed!r}): give it once")
        out[key] = parsed
    return out
