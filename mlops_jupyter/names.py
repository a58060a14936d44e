"""Validation of every name a user gives: treat each one as hostile.

Names end up in SQL rows, URLs (``/v1/models/{name}``), references (``name@v3``) and,
for artifacts, in relative paths inside a manifest. They are checked once, here, and
every face relies on it. Unicode is NFKC-normalised first so that look-alike spellings
(full-width letters, ligatures) map to one canonical name instead of two objects.
"""

from __future__ import annotations

import re
import unicodedata

from mlops_jupyter.errors import InvalidNameError

_ENTITY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/ :]{0,249}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ARTIFACT_SEGMENT_RE = re.compile(r"^[^/\\\x00-\x1f\x7f%:*?\"<>|]{1,255}$")
# invisible or layout-changing characters: C0/C1 controls (Cc), format characters (Cf:
# U+202E right-to-left override, U+200B zero width space, U+FEFF BOM...), private use
# and surrogates, line and paragraph separators (U+2028, U+2029)
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def hidden_character(text: str) -> str | None:
    """The first control, format or separator character in ``text`` as ``U+XXXX``."""
    for c in text:
        if (c > "~" or c < " ") and unicodedata.category(c) in _HIDDEN_CATEGORIES:
            return f"U+{ord(c):04X}"
    return None

ENTITY_RULE = "letters, digits, '.', '_' or '-', starting with a letter or digit, at most 128 characters"
KEY_RULE = "letters, digits, '_', '-', '.', '/', ':' or spaces, starting with a letter, digit or '_', at most 250 characters"


def canonical(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def entity_name(name: object, kind: str = "name") -> str:
    """A dataset, model, or alias name: canonical, URL- and reference-safe."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{kind} must be a string, got {type(name).__name__}")
    canon = canonical(name)
    if not _ENTITY_RE.match(canon) or ".." in canon:
        raise InvalidNameError(f"invalid {kind} {name!r}: use {ENTITY_RULE}")
    return canon


def experiment_name(name: object) -> str:
    """Experiment names are free text (spaces allowed) but never control characters."""
    if not isinstance(name, str):
        raise InvalidNameError(f"experiment name must be a string, got {type(name).__name__}")
    canon = canonical(name)
    if not canon or len(canon) > 200 or _CONTROL_RE.search(canon) or hidden_character(canon):
        raise InvalidNameError(
            f"invalid experiment name {name!r}: 1 to 200 printable characters"
        )
    return canon


def key(name: object, kind: str = "key") -> str:
    """A metric, parameter or tag key."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{kind} must be a string, got {type(name).__name__}")
    if not _KEY_RE.match(name) or ".." in name.split("/"):
        raise InvalidNameError(f"invalid {kind} {name!r}: use {KEY_RULE}")
    return name


def artifact_name(name: object) -> str:
    """A relative artifact name such as ``plots/roc.png``: never a path that can escape.

    Refused: absolute paths, ``..`` or ``.`` segments, empty segments, backslashes,
    percent-encoding (``%2e%2e``), drive letters and other ``:`` forms, NUL and control
    characters, names starting with ``~``.
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"artifact name must be a string, got {type(name).__name__}")
    canon = unicodedata.normalize("NFKC", name)
    why = None
    if not canon or len(canon) > 1024:
        why = "it must have 1 to 1024 characters"
    elif canon.startswith(("/", "~")):
        why = "it must be relative"
    else:
        for seg in canon.split("/"):
            if seg in ("", ".", ".."):
                why = "'.', '..' and empty segments are not allowed"
                break
            if not _ARTIFACT_SEGMENT_RE.match(seg) or hidden_character(seg):
                why = (
                    "it may not contain '\\', '%', ':', *?\"<>|, control characters, "
                    "invisible or direction-changing characters (such as U+202E, U+200B, "
                    "U+FEFF) or line separators (U+2028)"
                )
                break
    if why:
        raise InvalidNameError(f"unsafe artifact name {name!r}: {why}")
    return canon
