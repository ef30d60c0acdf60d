"""The conftest guard: a test that reaches beyond this machine fails."""

import socket

import httpx
import pytest

from tests.conftest import NetworkBlocked


def test_connecting_to_a_public_address_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(NetworkBlocked):
        sock.connect(("93.184.216.34", 443))


async def test_an_http_client_cannot_reach_a_public_host() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises((NetworkBlocked, httpx.ConnectError)):
            await client.get("https://api.telegram.org/")


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
