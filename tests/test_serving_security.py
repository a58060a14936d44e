"""Serving exposure (issue 12), over real sockets: the Host allowlist (DNS rebinding),
the Content-Type rule (cross-site text/plain POSTs, never logged), the header-read
deadline (slow half-open connections), scoped tokens that rotate without a restart."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlops_jupyter as mj
from mlops_jupyter.errors import UsageError
from mlops_jupyter.serving import BackgroundServer

PREDICT = "/v1/models/churn/production/predict"
ROW = {"records": [{"tenure": 12, "spend": 55.5}]}


@pytest.fixture
def models(mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MLOPS_SERVE_TOKEN", raising=False)
    monkeypatch.delenv("MLOPS_SERVE_TOKEN_FILE", raising=False)
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"tenure": rng.integers(0, 60, 200).astype("int64"), "spend": rng.normal(50, 10, 200)})
    mj.models.register(LogisticRegression().fit(X, (X["spend"] > 50).astype(int)), "churn",
                       signature=X, run=False)
    mj.models.promote("churn@v1", "production")
    return mlops_home


def test_dns_rebinding_host_is_refused(models: Path) -> None:
    srv = BackgroundServer(["churn@production"], port=0).start()
    try:
        for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil"):
            r = httpx.post(srv.url + PREDICT, json=ROW, headers={"Host": host})
            assert r.status_code == 400, (host, r.text)
            assert r.json()["error"] == "host_not_allowed" and "evil" not in r.text
            assert httpx.get(srv.url + "/v1/models", headers={"Host": host}).status_code == 400
        for host in ("127.0.0.1", f"127.0.0.1:{srv.port}", "localhost", f"LOCALHOST:{srv.port}", "[::1]:80"):
            r = httpx.post(srv.url + PREDICT, json=ROW, headers={"Host": host})
            assert r.status_code == 200, (host, r.text)
    finally:
        srv.stop()
    srv = BackgroundServer(["churn@production"], port=0, allowed_hosts=["models.internal"]).start()
    try:
        assert httpx.post(srv.url + PREDICT, json=ROW, headers={"Host": "models.internal:443"}).status_code == 200
        assert httpx.post(srv.url + PREDICT, json=ROW, headers={"Host": "other.internal"}).status_code == 400
    finally:
        srv.stop()


def test_cross_site_text_plain_post_is_415_and_never_logged(models: Path) -> None:
    import json

    srv = BackgroundServer(["churn@production"], port=0, log_inputs="served").start()
    try:
        body = json.dumps(ROW).encode()
        for ctype in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                      "multipart/form-data; boundary=x", None):
            headers = {} if ctype is None else {"content-type": ctype}
            r = httpx.post(srv.url + PREDICT, content=body, headers=headers)
            assert r.status_code == 415, (ctype, r.text)
            assert r.json()["error"] == "unsupported_media_type" and "application/json" in r.json()["message"]
        ok = httpx.post(srv.url + PREDICT, content=body,
                        headers={"content-type": "application/json; charset=utf-8"})
        assert ok.status_code == 200
    finally:
        srv.stop()
    rows = mj.datasets.load("served@latest")
    assert len(rows) == 1  # only the JSON request was kept


def _slow_sockets(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /v1/models/churn/production/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks.append(s)
    return socks


def test_slow_half_open_connections_do_not_starve_real_requests(models: Path) -> None:
    srv = BackgroundServer(["churn@production"], port=0, header_timeout=1.5).start()
    socks: list[socket.socket] = []
    try:
        socks = _slow_sockets(srv.port, 300)
        t0 = time.monotonic()
        r = httpx.post(srv.url + PREDICT, json=ROW, timeout=10)
        assert r.status_code == 200, r.text  # was 503: the slow sockets held every slot
        assert time.monotonic() - t0 < 1.0
        # and the slow ones are closed once their headers are late
        time.sleep(2.5)
        closed = 0
        for s in socks:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, TimeoutError):
                closed += 1
        assert closed == len(socks)
        # a kept-alive connection whose next request stalls mid-headers is closed too
        c = socket.create_connection(("127.0.0.1", srv.port))
        c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        while b'"ok"' not in got:
            got += c.recv(4096)
        assert got.startswith(b"HTTP/1.1 200")
        c.sendall(b"GET /health HTTP/1.1\r\nHo")
        c.settimeout(5)
        t0 = time.monotonic()
        assert c.recv(4096) == b"" and time.monotonic() - t0 < 4.0
        c.close()
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_scoped_tokens_and_rotation_without_restart(models: Path, tmp_path: Path) -> None:
    from mlops_jupyter.serving.security import hash_token

    predictor_tok, reader_tok, admin_tok, new_tok = (f"{w}-token-0123456789abcdef" for w in ("p", "r", "a", "n"))
    f = tmp_path / "tokens"
    f.write_text(f"# scoped tokens\n{predictor_tok} predict\n{hash_token(reader_tok)} read\n"
                 f"{admin_tok} admin\n")
    os.chmod(f, 0o600)
    srv = BackgroundServer(["churn@production"], port=0, token_file=str(f)).start()
    srv.server.config.app.state.tokens.recheck = 0.0

    def call(tok: str | None, method: str, path: str) -> int:
        headers = {} if tok is None else {"Authorization": f"Bearer {tok}"}
        return httpx.request(method, srv.url + path, json=ROW if method == "POST" else None,
                             headers=headers).status_code

    try:
        assert call(None, "POST", PREDICT) == 401
        assert call(predictor_tok, "POST", PREDICT) == 200
        assert call(predictor_tok, "GET", "/v1/models") == 403
        assert call(reader_tok, "GET", "/v1/models") == 200  # stored hashed, still valid
        assert call(reader_tok, "POST", PREDICT) == 403
        assert call(reader_tok, "GET", "/v1/admin/status") == 403
        assert call(admin_tok, "GET", "/v1/admin/status") == 200
        assert call(admin_tok, "POST", PREDICT) == 200
        assert call(new_tok, "POST", PREDICT) == 401
        # rotate: the new token valid, the old predict token gone, no restart
        time.sleep(0.01)
        f.write_text(f"{new_tok} predict\n{hash_token(reader_tok)} read\n{admin_tok} admin\n")
        assert call(new_tok, "POST", PREDICT) == 200
        assert call(predictor_tok, "POST", PREDICT) == 401
        # a broken file keeps the last good set (fail closed, never open)
        f.write_text("garbage without scopes\n")
        assert call(new_tok, "POST", PREDICT) == 200
        assert call(None, "POST", PREDICT) == 401
    finally:
        srv.stop()


def test_token_file_errors_are_clear_at_start(models: Path, tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    for text, needle in [("short predict\n", "at least 16"),
                         ("abcdefghijklmnopqrstuvwxyz write\n", "unknown scope"),
                         ("sha256:abcd read\n", "64 hex"), ("onlytoken-0123456789abcdef\n", "TOKEN SCOPES")]:
        f.write_text(text)
        with pytest.raises(UsageError, match=needle):
            BackgroundServer(["churn@production"], port=0, token_file=str(f))
    with pytest.raises(UsageError, match="cannot read"):
        BackgroundServer(["churn@production"], port=0, token_file=str(tmp_path / "missing"))
    # a token file counts as a token for binding beyond loopback
    f.write_text("abcdefghijklmnopqrstuvwxyz predict\n")
    from mlops_jupyter.serving import build

    build(["churn@production"], host="0.0.0.0", port=0, token_file=str(f))


def test_wildcard_bind_answers_ip_literals_not_names(models: Path) -> None:
    from mlops_jupyter.serving.security import HostAllowlist

    h = HostAllowlist("0.0.0.0")
    assert h.allows(b"192.168.1.7:8080") and h.allows(b"[fe80::1]:80") and h.allows(b"localhost")
    assert not h.allows(b"attacker.example") and not h.allows(None) and not h.allows(b"\xff")
    h = HostAllowlist("10.0.0.5")
    assert h.allows(b"10.0.0.5:8080") and not h.allows(b"10.0.0.6")
    assert HostAllowlist("127.0.0.1", ["*"]).allows(b"anything")
