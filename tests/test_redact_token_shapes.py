"""Every token shape that mlops_jupyter.redact knows, asserted gone from the output.

Each case puts a secret in the kind of text we capture (a cell, a diff, an env file,
a log line) and checks that no part of it that identifies the secret survives, not
merely that a mask appears somewhere. One case per pattern in redact._PATTERNS, so
removing a pattern fails a test here.
"""

from __future__ import annotations

import pytest

from mlops_jupyter.redact import _PATTERNS, MASK, redact, redact_checked

# (id, text, secret): the secret must not appear in redact(text)
_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
CASES = [
    ("url-credentials", "engine = create_engine('postgresql://svc:Zq7-pw0rd@db:5432/x')", "Zq7-pw0rd"),
    ("bearer", 'headers = {"Authorization": "Bearer q1w2e3r4t5y6u7i8"}', "q1w2e3r4t5y6u7i8"),
    ("named-literal", 'openai_api_key = "not-a-real-shape-9f8e7d"', "not-a-real-shape-9f8e7d"),
    ("annotated-assignment", 'db_token: str = "tok-9f8e7d6c5b4a"', "tok-9f8e7d6c5b4a"),
    ("comment", "x = 1  # token: 9f8e7d6c5b4a3f2e", "9f8e7d6c5b4a3f2e"),
    ("env-file", "WANDB_API_KEY=0a1b2c3d4e5f6a7b8c9d", "0a1b2c3d4e5f6a7b8c9d"),
    ("yaml", "storage:\n  access_key: AbCdEfGh1234\n", "AbCdEfGh1234"),
    ("aws-access-key-id", "aws configure set id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("github-classic", "git clone https://ghp_" + "A1b2" * 9 + "@github.com/o/r", "ghp_" + "A1b2" * 9),
    ("github-oauth", "token gho_" + "Z9y8" * 9, "gho_" + "Z9y8" * 9),
    ("github-fine-grained", "GH=github_pat_11ABCDEFG0" + "x1Y2z3" * 8, "github_pat_11ABCDEFG0" + "x1Y2z3" * 8),
    ("slack-bot", "slack.WebClient(token_str) # xoxb-123456789012-abcdefABCDEF", "xoxb-123456789012-abcdefABCDEF"),
    ("slack-user", "post(xoxp-2222222222-3333333333-zzzzzz)", "xoxp-2222222222-3333333333-zzzzzz"),
    ("openai", "client = OpenAI(sk-proj-" + "Ab9_" * 8 + ")", "sk-proj-" + "Ab9_" * 8),
    ("openai-plain", "print('sk-" + "q" * 48 + "')", "sk-" + "q" * 48),
    ("huggingface", "login(hf_" + "aBcD" * 9 + ")", "hf_" + "aBcD" * 9),
    ("jwt", "resp = requests.get(url, cookies={'session': " + repr(_JWT) + "})", _JWT),
    ("private-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
     "b3BlbnNzaC1rZXktdjEAAAAA"),
]


@pytest.mark.parametrize(("text", "secret"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_secret_is_gone(text: str, secret: str) -> None:
    out, masked = redact_checked(text)
    assert masked and MASK in out
    assert secret not in out
    # no identifying fragment either: the second half of the secret is gone too
    assert secret[len(secret) // 2:] not in out


@pytest.mark.parametrize(("text", "secret"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_secret_is_gone_inside_a_diff_and_a_notebook_source(text: str, secret: str) -> None:
    diff = "--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-x = 1\n+" + text.replace("\n", "\n+") + "\n"
    assert secret not in redact(diff)
    source = f"import os\n{text}\nprint('done')\n"
    assert secret not in redact(source)


def test_every_pattern_has_a_case() -> None:
    """Each pattern masks at least one case that no other pattern would mask."""
    texts = [c[1] for c in CASES]
    for pattern, _ in _PATTERNS:
        assert any(pattern.search(t) for t in texts), pattern.pattern
    for i, (pattern, _) in enumerate(_PATTERNS):
        others = _PATTERNS[:i] + _PATTERNS[i + 1:]
        lone = [c for c in CASES if pattern.search(c[1])]

        def without(text: str, others: list = others) -> str:  # type: ignore[type-arg]
            for p, r in others:
                text = p.sub(r, text)
            return text

        assert any(c[2] in without(c[1]) for c in lone), f"no case needs {pattern.pattern!r} alone"


def test_redaction_is_idempotent_and_keeps_text_around() -> None:
    text = "\n".join(c[1] for c in CASES)
    once = redact(text)
    assert redact(once) == once
    assert "create_engine(" in once and "print('done')" not in once and "requests.get(url" in once
