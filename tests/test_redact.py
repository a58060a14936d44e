"""Secrets are masked in captured text; ordinary code is left runnable."""

from __future__ import annotations

import pytest

from mlops_jupyter.config import redact_url
from mlops_jupyter.redact import MASK, redact, redact_checked


@pytest.mark.parametrize(
    "text",
    [
        'password = "hunter22"',
        'os.environ["API_KEY"] = "abcd1234"',
        "postgresql://bob:s3cret@db/x",
        "Authorization: Bearer abcdefghijkl",
        "github_token: ghp_" + "a" * 36,
        "DB_PASSWORD=hunter22",
        "export AWS_SECRET_ACCESS_KEY=abc/def+ghi",
        "  db_password: hunter22  # prod",
        'cfg = {"client_secret": "p4ssw0rd!"}',
        "key AKIAABCDEFGHIJKLMNOP in text",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
    ],
)
def test_secrets_are_masked(text: str) -> None:
    out, masked = redact_checked(text)
    assert masked and MASK in out
    for secret in ("hunter22", "abcd1234", "s3cret", "abcdefghijkl", "ghp_", "abc/def", "p4ssw0rd", "AKIA", "MIIEow"):
        assert secret not in out


@pytest.mark.parametrize(
    "code",
    [
        "max_tokens = 1000",
        'tokenizer = AutoTokenizer.from_pretrained("bert")',
        'author = "alice smith"',
        "pwd = os.getcwd()",
        "token = make_token()",
        "token = tok",
        "secret_sauce = 3",
        "f(password=pw)",
        "password: Optional[str] = None",
        "n_estimators=200",
    ],
)
def test_ordinary_code_is_untouched(code: str) -> None:
    assert redact(code) == code
    compile(redact(code), "<cell>", "exec")


def test_masked_literal_stays_valid_python() -> None:
    code = 'api_key = "sk-live-abcdefghijklmnopqrstuvwxyz"\nx = 1\n'
    compile(redact(code), "<cell>", "exec")


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        ("postgresql+psycopg://user@h:5/db?password=TOPSECRET", "TOPSECRET"),
        ("postgresql://a:TOPSECRET@h/db", "TOPSECRET"),
        ("postgresql://a:b@h/db?sslmode=require&sslpassword=TOPSECRET", "TOPSECRET"),
        ("s3://b/p?aws_secret_access_key=TOPSECRET&region=eu", "TOPSECRET"),
        ("memory://user:TOPSECRET@bucket/x", "TOPSECRET"),
    ],
)
def test_urls_hide_passwords(url: str, hidden: str) -> None:
    out = redact_url(url)
    assert hidden not in out and "***" in out


def test_urls_without_secrets_unchanged() -> None:
    for url in ("sqlite:////tmp/x.db", "s3://bucket/p", "/plain/path", "postgresql://u@h/db?sslmode=require"):
        assert redact_url(url) == url
