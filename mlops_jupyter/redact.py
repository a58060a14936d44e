"""Redact secrets from captured text (git diffs, cell sources, URLs) before storing.

Best effort by pattern: well-known token formats, ``password=…``/``token: …`` style
assignments, bearer headers and credentials inside URLs. A redacted value becomes
``***REDACTED***`` so the text stays readable and diffable.
"""

from __future__ import annotations

import re

MASK = "***REDACTED***"

_SECRET_WORDS = (
    r"(?:password|passwd|pass|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|secret[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?token|credentials?)"
)
# a line of a unified diff starts with '+', '-' or ' ' before the file's own text
_DIFF = r"(?:[+\- ](?![+\-]{2}))?"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # credentials in URLs: scheme://user:password@host
    (re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(?P<post>@)"), r"\g<pre>" + MASK + r"\g<post>"),
    # Authorization: Bearer xyz
    (re.compile(r"(?i)(?P<pre>\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\g<pre>" + MASK),
    # secret-named key (the name must END in a secret word: db_password, API_KEY,
    # github_token — never max_tokens, tokenizer, author) followed by a quoted literal:
    # the literal is masked and stays a literal, so code keeps running
    (
        re.compile(
            r"""(?ix)(?P<pre>\b(?:[a-z0-9]+[_.-])*""" + _SECRET_WORDS + r"""\b["'\]]*\s*[:=]\s*)
            (?P<q>["'])(?P<val>[^"'\n]{4,})(?P=q)"""
        ),
        r"\g<pre>\g<q>" + MASK + r"\g<q>",
    ),
    # annotated assignment: token: str = "…"
    (
        re.compile(
            r"""(?ix)(?P<pre>\b(?:[a-z0-9]+[_.-])*""" + _SECRET_WORDS + r"""\s*:\s*
            [A-Za-z_][\w.\[\], |]*\s*=\s*)(?P<q>["'])(?P<val>[^"'\n]{4,})(?P=q)"""
        ),
        r"\g<pre>\g<q>" + MASK + r"\g<q>",
    ),
    # a comment that holds a secret: "# token: abc…" or "# password = abc…"
    (
        re.compile(
            r"""(?ix)(?P<pre>\#[ \t]*(?:[a-z0-9]+[_.-])*""" + _SECRET_WORDS + r"""\b[ \t]*[:=][ \t]*)
            (?P<val>[^\s]{4,})"""
        ),
        r"\g<pre>" + MASK,
    ),
    # env files: KEY=value with no space around "=" (Python code puts spaces there)
    (
        re.compile(
            r"""(?imx)(?P<pre>^""" + _DIFF + r"""[ \t]*(?:export[ \t]+)?(?:[a-z0-9]+[_.-])*""" + _SECRET_WORDS + r"""=)
            (?P<val>[^\s"']{4,})"""
        ),
        r"\g<pre>" + MASK,
    ),
    # YAML: key: value, a plain scalar up to the end of the line or a comment
    (
        re.compile(
            r"""(?imx)(?P<pre>^""" + _DIFF + r"""[ \t-]*(?:[a-z0-9]+[_.-])*""" + _SECRET_WORDS + r""":[ \t]+)
            (?P<val>[^\s"'\#\[\](){}=]{4,})(?=[ \t]*(?:\#|$))"""
        ),
        r"\g<pre>" + MASK,
    ),
    # well-known token shapes
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), MASK),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"), MASK),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"), MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b"), MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b"), MASK),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"), MASK),
]


def redact(text: str) -> str:
    """``text`` with anything that looks like a secret replaced by a mask."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact_checked(text: str) -> tuple[str, bool]:
    """``(redacted text, whether anything was masked)``: code that was masked may no
    longer run as it did, and callers record that."""
    out = redact(text)
    return out, out != text


_SECRET_KEY_RE = re.compile(r"(?i)(?:^|[_.\-/ :])" + _SECRET_WORDS + r"$")


def is_secret_key(key: str) -> bool:
    """Whether a parameter name says its value is a secret (``db_password``, ``TOKEN``,
    ``api-key``; never ``max_tokens`` or ``tokenizer``)."""
    return bool(_SECRET_KEY_RE.search(key))


def redact_value(key: str, value: object, text: str) -> str:
    """The stored text of a parameter: masked whole when its name says secret and its
    value is a string; else with any secret-looking part masked."""
    if isinstance(value, str) and value and is_secret_key(key):
        return MASK
    return redact(text)
