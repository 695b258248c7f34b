"""The outbound HTTP sender: it connects to the address it checked (DNS rebinding cannot swap in
an internal one), keeps the host name for Host, SNI and certificate checks, and keeps a deadline."""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

import pytest
import trustme

from chalicelib.adapters.http_sender import post_signed
from tests.integration.loopback import controlled_resolver, recording_server, silent_server

#: A public address (documentation says nothing about it; it is only ever "connected" to below
#: through a stand-in that refuses, so the test needs no network).
PUBLIC_ADDRESS = "93.184.215.14"


def _send(url: str, **kwargs: Any) -> Any:
    return post_signed(
        url,
        secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        webhook_id="msg_1",
        body='{"type":"order.placed"}',
        **kwargs,
    )


def test_a_name_that_rebinds_to_loopback_after_the_check_never_reaches_the_loopback_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # First answer public (passes the check), every later answer 127.0.0.1 (the rebinding).
    looked_up = controlled_resolver(
        monkeypatch, {"rebind.example": lambda n: PUBLIC_ADDRESS if n == 0 else "127.0.0.1"}
    )
    real_connect = socket.create_connection
    attempted: list[tuple[str, int]] = []

    def no_internet(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if address[0] == PUBLIC_ADDRESS:
            attempted.append(address)
            raise ConnectionRefusedError("no network in tests")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", no_internet)
    with recording_server() as internal:
        result = _send(f"https://rebind.example:{internal.port}/internal-admin", allow_loopback=False)

    assert internal.requests == []  # the loopback server was never reached
    assert attempted == [(PUBLIC_ADDRESS, internal.port)]  # the checked address, and only it
    assert looked_up == ["rebind.example"]  # resolved once
    assert result.status_code is None and "ConnectionRefusedError" in (result.error or "")


def test_a_name_that_resolves_to_a_private_address_is_refused_without_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controlled_resolver(monkeypatch, {"intranet.example": lambda n: "10.0.0.7"})
    result = _send("https://intranet.example/hook", allow_loopback=False)
    assert result.status_code is None
    assert (result.error or "").startswith("refused: 10.0.0.7 is not a public address")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_tls(ca: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return context


def _client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_https_to_a_pinned_address_keeps_the_host_name_for_host_sni_and_the_certificate(
    monkeypatch: pytest.MonkeyPatch, ca: trustme.CA
) -> None:
    controlled_resolver(monkeypatch, {"shop.example": lambda n: "127.0.0.1"})
    with recording_server(tls=_server_tls(ca, "shop.example")) as shop:
        result = _send(
            f"https://shop.example:{shop.port}/hooks?x=1", allow_loopback=True, tls=_client_tls(ca)
        )

    assert (result.status_code, result.error) == (200, None)
    assert shop.server_names == ["shop.example"]
    [request] = shop.requests
    assert request.headers["host"] == f"shop.example:{shop.port}"
    assert request.path == "/hooks?x=1"
    assert request.headers["webhook-id"] == "msg_1"
    assert request.body == b'{"type":"order.placed"}'


def test_a_certificate_for_another_name_is_refused_and_nothing_is_sent(
    monkeypatch: pytest.MonkeyPatch, ca: trustme.CA
) -> None:
    controlled_resolver(monkeypatch, {"shop.example": lambda n: "127.0.0.1"})
    with recording_server(tls=_server_tls(ca, "other.example")) as impostor:
        result = _send(
            f"https://shop.example:{impostor.port}/hooks", allow_loopback=True, tls=_client_tls(ca)
        )

    assert result.status_code is None
    assert "certificate" in (result.error or "").lower()
    assert impostor.requests == []


def test_an_endpoint_that_never_answers_gives_up_at_the_deadline() -> None:
    with silent_server() as silent:
        result = _send(
            f"http://127.0.0.1:{silent.port}/hook", allow_loopback=True, deadline=time.monotonic() + 0.5
        )
    assert silent.connections == 1
    assert result.status_code is None
    assert (result.error or "").startswith("no answer before the deadline")


def test_plain_http_is_refused_where_loopback_is_not_allowed() -> None:
    result = _send(f"http://{PUBLIC_ADDRESS}/hooks", allow_loopback=False)
    assert (result.status_code, result.error) == (None, "refused: only https URLs are allowed")


def test_a_deadline_already_passed_sends_nothing() -> None:
    with recording_server() as shop:
        result = _send(f"http://127.0.0.1:{shop.port}/hook", allow_loopback=True, deadline=time.monotonic())
    assert shop.requests == []
    assert (result.status_code, result.error) == (None, "no time left to send")
