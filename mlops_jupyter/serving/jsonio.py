"""Fast JSON for the request path: orjson (about 5x faster than the standard library on
small bodies, and it serialises numpy arrays natively) with the standard library as the
strict fallback. orjson refuses ``NaN``/``Infinity`` tokens and lone surrogates; those
bodies are re-read by :mod:`json` so the signature check can name the field (422), as
before, rather than calling the whole body malformed (400)."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency
    orjson = None  # type: ignore[assignment]


class BadJSON(ValueError):
    pass


def loads(raw: bytes) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # maybe NaN tokens or surrogates: the standard library decides
    try:
        return json.loads(raw)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise BadJSON("the body is not valid JSON") from None


def dumps(obj: Any) -> bytes:
    if orjson is not None:
        try:
            return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:
            pass
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=_default).encode("utf-8")


def _default(o: Any) -> Any:
    return o.tolist() if hasattr(o, "tolist") else str(o)


__all__ = ["loads", "dumps", "BadJSON"]
