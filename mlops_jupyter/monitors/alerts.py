"""Alert channels: log, webhook (JSON, Slack-compatible), email (SMTP).

Every alert is recorded (sent, suppressed by the cooldown, or failed) in the store, and
a (monitor, channel, target, kind) alert is sent at most once per cooldown.

A webhook URL is user input, and a server that posts to it is an SSRF vector (MLflow's
webhook CVEs). So: only ``http``/``https``; the host is resolved once and every address
it resolves to must be public (not private, loopback, link-local, multicast, reserved or
unspecified) unless ``allow_private`` was given; the connection goes to that resolved
address (pinned), so a DNS answer that changes between the check and the connect
(rebinding) cannot redirect it; TLS still verifies the certificate against the host
name (SNI); redirects are never followed (a 3xx is a failure); a timeout bounds it all.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from mlops_jupyter.errors import UsageError

log = logging.getLogger("mlops_jupyter.monitors")

__all__ = ["Channel", "parse_channel", "send", "WebhookRefused", "post_json"]

TIMEOUT_S = 5.0
CHANNELS = ("log", "webhook", "email")


class WebhookRefused(UsageError):
    """The webhook URL or the address it resolves to is not allowed."""


@dataclass(frozen=True)
class Channel:
    kind: str  # log | webhook | email
    target: str | None = None

    def __str__(self) -> str:
        return self.kind if self.target is None else f"{self.kind}:{self.target}"


def parse_channel(text: Any) -> Channel:
    """``"log"``, ``"webhook:https://…"``, ``"email:ops@example.com"``."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"an alert channel is 'log', 'webhook:URL' or 'email:ADDRESS', not {text!r}")
    kind, sep, target = text.strip().partition(":")
    kind = kind.lower()
    if kind == "log" and not sep:
        return Channel("log")
    if kind == "webhook" and target:
        check_url(target)
        return Channel("webhook", target)
    if kind == "email" and target and "@" in target and "\n" not in target and "\r" not in target:
        return Channel("email", target.strip())
    raise UsageError(f"unknown alert channel {text!r}; accepted: log, webhook:http(s)://HOST/…, "
                     "email:ADDRESS")


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path+query) of an acceptable webhook URL, or WebhookRefused."""
    if any(ch in url for ch in "\r\n\t ") or len(url) > 2000:
        raise WebhookRefused("webhook URL has whitespace/control characters or is too long")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookRefused(f"webhook URL scheme {parts.scheme or '(none)'!r} refused: only "
                             "http and https are accepted")
    if not parts.hostname:
        raise WebhookRefused("webhook URL has no host")
    if parts.username or parts.password:
        raise WebhookRefused("webhook URL must not carry credentials (user:password@)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookRefused("webhook URL has an invalid port") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified or not ip.is_global)


def resolve_pinned(host: str, port: int, allow_private: bool) -> str:
    """Resolve ``host`` once; every answer must be public (unless allowed). Returns the
    address to connect to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise WebhookRefused(f"webhook host {host!r} does not resolve: {e}") from None
    addrs = list(dict.fromkeys(i[4][0] for i in infos))
    if not addrs:
        raise WebhookRefused(f"webhook host {host!r} resolves to nothing")
    if not allow_private:
        bad = [a for a in addrs if not _public(ipaddress.ip_address(a.split("%")[0]))]
        if bad:
            raise WebhookRefused(
                f"webhook host {host!r} resolves to a non-public address ({bad[0]}): refused "
                "(private, loopback and link-local targets need allow_private=True / "
                "MLOPS_ALERTS_ALLOW_PRIVATE=1)")
    return addrs[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, ip: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, ip: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        raw = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def post_json(url: str, body: dict[str, Any], *, allow_private: bool = False,
              timeout: float = TIMEOUT_S) -> int:
    """POST ``body`` as JSON to ``url`` under the rules above; -> HTTP status (2xx)."""
    scheme, host, port, path = check_url(url)
    ip = resolve_pinned(host, port, allow_private)
    cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    conn = cls(ip, host, port, timeout)
    try:
        data = json.dumps(body, allow_nan=False, default=str).encode()
        conn.request("POST", path, body=data, headers={
            "Content-Type": "application/json", "User-Agent": "mlops-jupyter-alerts"})
        resp = conn.getresponse()
        resp.read(65536)
        if 300 <= resp.status < 400:
            raise WebhookRefused(f"webhook answered a redirect ({resp.status}); redirects are "
                                 "not followed")
        if resp.status >= 400:
            raise OSError(f"webhook answered HTTP {resp.status}")
        return resp.status
    finally:
        conn.close()


def send_email(to: str, subject: str, text: str, spec: dict[str, Any]) -> None:
    """One message through SMTP: host/port/sender from the monitor's ``smtp`` settings
    or MLOPS_SMTP_HOST / MLOPS_SMTP_PORT / MLOPS_SMTP_FROM (STARTTLS when
    MLOPS_SMTP_STARTTLS=1; login with MLOPS_SMTP_USER / MLOPS_SMTP_PASSWORD)."""
    smtp = dict(spec.get("smtp") or {})
    host = smtp.get("host") or os.environ.get("MLOPS_SMTP_HOST", "localhost")
    port = int(smtp.get("port") or os.environ.get("MLOPS_SMTP_PORT", "25"))
    sender = smtp.get("from") or os.environ.get("MLOPS_SMTP_FROM", "mlops-jupyter@localhost")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject[:200]
    msg.set_content(text)
    with smtplib.SMTP(host, port, timeout=TIMEOUT_S) as s:
        if os.environ.get("MLOPS_SMTP_STARTTLS") == "1":
            s.starttls(context=ssl.create_default_context())
        if os.environ.get("MLOPS_SMTP_USER"):
            s.login(os.environ["MLOPS_SMTP_USER"], os.environ.get("MLOPS_SMTP_PASSWORD", ""))
        s.send_message(msg)


def send(channel: Channel, event: dict[str, Any], spec: dict[str, Any]) -> None:
    """Deliver one alert on one channel; raises on failure (the caller records it)."""
    text = event["text"]
    if channel.kind == "log":
        log.warning("%s", text)
        return
    if channel.kind == "webhook":
        allow = bool(spec.get("allow_private")) or os.environ.get("MLOPS_ALERTS_ALLOW_PRIVATE") == "1"
        # "text" makes the body a valid Slack incoming-webhook message; the rest is for
        # machines
        post_json(channel.target or "", {"text": text, **{k: v for k, v in event.items() if k != "text"}},
                  allow_private=allow)
        return
    if channel.kind == "email":
        send_email(channel.target or "", f"[mlops] {event.get('monitor')}: {event.get('kind')}",
                   text, spec)
        return
    raise UsageError(f"unknown alert channel {channel.kind!r}")  # pragma: no cover
