"""``soloos mcp --http``: streamable HTTP on 127.0.0.1 only, every request carrying the bearer token.

The token is made on first use (32 random bytes, URL-safe), sealed with the key of the connector
passwords (``memory.secrets``) in ``SOLOOS_HOME/mcp-http-token`` (mode 0600), shown when it is
made, and shown again by ``soloos mcp token``. A request without it, or with another, gets 401 before
it reaches the MCP layer; the comparison takes the same time whatever the presented value.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from memory.secrets import SecretBox

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
TOKEN_FILE = "mcp-http-token"
MCP_PATH = "/mcp"


class NotLoopback(ValueError):
    """``soloos mcp --http`` was asked to listen on an address other machines could reach."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"soloos mcp --http listens on {LOOPBACK} only, not {host!r}: anyone who reaches the port could "
            "read your memory and records. To use it from another machine, forward the port over SSH "
            f"(ssh -L 8765:{LOOPBACK}:8765 …)."
        )


def check_host(host: str) -> str:
    if host != LOOPBACK:
        raise NotLoopback(host)
    return host


def http_token(home: Path, box: SecretBox, *, renew: bool = False) -> tuple[str, bool]:
    """The bearer token and whether it was made just now (first use, or ``renew``)."""
    path = home / TOKEN_FILE
    if path.exists() and not renew:
        return str(box.open(json.loads(path.read_text(encoding="utf-8")))), False
    token = secrets.token_urlsafe(32)
    home.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".new")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(box.seal(token), handle)
    os.replace(partial, path)  # an old token stops working the moment the new one is in place
    return token, True


class BearerToken:
    """ASGI middleware: an HTTP request passes only with ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorised(scope):
            await self._refuse(send)
            return
        await self.app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        presented = b""
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                presented = value
        return hmac.compare_digest(presented, self.expected)

    @staticmethod
    async def _refuse(send: Send) -> None:
        body = b'{"error": "unauthorized: send Authorization: Bearer <token> (soloos mcp token shows it)"}'
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="soloos"'),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


__all__ = ["LOOPBACK", "MCP_PATH", "TOKEN_FILE", "BearerToken", "NotLoopback", "check_host", "http_token"]
