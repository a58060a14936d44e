"""Alerts over real sockets: a loopback HTTP receiver and an aiosmtpd SMTP server.

A webhook is received once per cooldown (Slack-compatible JSON body), every alert is
recorded, hostile URLs are refused (scheme, private/loopback/link-local addresses,
redirects), the resolved address is the one connected to, and an email arrives.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.monitors import alerts


class _Receiver:
    def __init__(self, status: int = 200, location: str | None = None) -> None:
        self.posts: list[dict[str, Any]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append({"path": self.path, "host": self.headers.get("Host"),
                                    "json": json.loads(body)})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    yield r
    r.close()


def _model_and_monitor(alerts_: list[str], **kw: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(0, 1, 2000), "z": rng.normal(0, 1, 2000)})
    train["y"] = (train["x"] > 0).astype(int)
    mj.datasets.add(train, name="train")
    clf = LogisticRegression().fit(train[["x", "z"]], train["y"])
    mj.models.register(clf, "m", dataset="train@v1")
    mj.models.promote("m@v1", alias="production", reason="t")
    mj.monitors.add("mon", model="m@production", current="live", alerts=alerts_, **kw)


def _drifted_window(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mj.datasets.add(pd.DataFrame({"x": rng.normal(1.5, 1, 1000), "z": rng.normal(0, 1, 1000)}),
                    name="live")


def test_webhook_once_per_cooldown_and_every_alert_recorded(mlops_home, receiver) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hooks/T000"
    _model_and_monitor([f"webhook:{url}", "log"], allow_private=True, cooldown="1h")
    for seed in (1, 2):
        _drifted_window(seed)
        res = mj.monitors.run("mon")
        assert res.status == "drift"
    assert len(receiver.posts) == 1  # the second drift is inside the cooldown
    post = receiver.posts[0]
    assert post["path"] == "/hooks/T000" and "mon" in post["json"]["text"]  # Slack body
    assert post["json"]["kind"] == "drift" and post["json"]["monitor"] == "mon"
    recs = mj.get_store().list_alerts()
    assert [(a.channel, a.status) for a in recs] == [
        ("webhook", "sent"), ("log", "sent"), ("webhook", "suppressed"), ("log", "suppressed")]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x",
                                 "http://user:pw@example.com/", "javascript:alert(1)"])
def test_hostile_schemes_refused_at_definition(url: str) -> None:
    with pytest.raises(alerts.WebhookRefused):
        alerts.parse_channel(f"webhook:{url}")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254", "10.0.0.7",
                                  "192.168.1.1", "[::1]", "0.0.0.0", "[::ffff:127.0.0.1]"])
def test_private_loopback_link_local_refused_at_connect(host: str, receiver) -> None:
    with pytest.raises(alerts.WebhookRefused, match="non-public address"):
        alerts.post_json(f"http://{host}:{receiver.port}/x", {"text": "hi"})
    assert receiver.posts == []


def test_redirects_are_not_followed() -> None:
    target = _Receiver()
    redirector = _Receiver(status=302, location=f"http://127.0.0.1:{target.port}/stolen")
    try:
        with pytest.raises(alerts.WebhookRefused, match="redirect"):
            alerts.post_json(f"http://127.0.0.1:{redirector.port}/", {"text": "x"},
                             allow_private=True)
        assert len(redirector.posts) == 1 and target.posts == []
    finally:
        target.close()
        redirector.close()


def test_connects_to_the_address_it_checked(monkeypatch, receiver) -> None:
    """DNS is asked once; the connection goes to that answer (no second lookup a
    rebinding DNS server could change), with the original Host header."""
    calls: list[str] = []
    real = socket.getaddrinfo

    def fake(host: str, *a: Any, **k: Any) -> Any:
        if host == "127.0.0.1":  # connecting to the pinned literal: no DNS involved
            return real(host, *a, **k)
        calls.append(host)
        if host == "hooks.example.test":
            return real("127.0.0.1", *a, **k)
        raise AssertionError(f"unexpected lookup of {host}")

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(alerts.WebhookRefused):  # resolves to loopback: refused by default
        alerts.post_json(f"http://hooks.example.test:{receiver.port}/a", {"text": "x"})
    assert alerts.post_json(f"http://hooks.example.test:{receiver.port}/a", {"text": "x"},
                            allow_private=True) == 200
    assert calls == ["hooks.example.test", "hooks.example.test"]  # one lookup per post
    assert receiver.posts[0]["host"] == f"hooks.example.test:{receiver.port}"


def test_timeout_and_failures_are_recorded(mlops_home) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)  # accepts, never answers
    port = srv.getsockname()[1]
    monkey_timeout = alerts.TIMEOUT_S
    alerts.TIMEOUT_S = 0.5
    try:
        _model_and_monitor([f"webhook:http://127.0.0.1:{port}/slow"], allow_private=True)
        _drifted_window(3)
        res = mj.monitors.run("mon")
    finally:
        alerts.TIMEOUT_S = monkey_timeout
        srv.close()
    assert res.alerts[0]["status"] == "failed" and "timed out" in res.alerts[0]["error"]
    assert mj.get_store().list_alerts()[0].status == "failed"


def test_email_alert_reaches_an_smtp_server(mlops_home) -> None:
    from aiosmtpd.controller import Controller

    got: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            got.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        _model_and_monitor(["email:ops@example.com"], smtp={"host": "127.0.0.1", "port": port,
                                                            "from": "mlops@example.com"})
        _drifted_window(4)
        res = mj.monitors.run("mon")
    finally:
        ctl.stop()
    assert res.alerts == [{"channel": "email:ops@example.com", "status": "sent"}]
    assert len(got) == 1 and got[0].rcpt_tos == ["ops@example.com"]
    text = got[0].content.decode()
    assert "Subject: [mlops] mon: drift" in text and "DRIFT" in text
