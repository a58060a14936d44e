"""Redact secrets from captured text (git diffs, cell sources, URLs) before storing.

Best effort by pattern: well-known token formats, ``password=…``/``token: …`` style
assignments, bearer headers and credentials inside URLs. A redacted value becomes
``***REDACTED***`` so the text stays readable and diffable.
"""

from __future__ import annotations

import re

MASK = "***REDACTED***"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # credentials in URLs: scheme://user:password@host
    (re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(?P<post>@)"), r"\g<pre>" + MASK + r"\g<post>"),
    # Authorization: Bearer xyz
    (re.compile(r"(?i)(?P<pre>\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\g<pre>" + MASK),
    # key = "value" for secret-looking keys (python, yaml, env, json)
    (
        re.compile(
            r"""(?ix)(?P<pre>\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth)[\w.-]*\b["'\]]*\s*[:=]\s*["']?)
            (?!(?i:bearer|basic)\b|\*\*\*)(?P<val>[^\s"',;)]{4,})"""
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
