"""The gateway's HTTP side: the dashboard's static files and the token check on /ws."""

from __future__ import annotations

import hmac
import importlib.resources
import mimetypes
import secrets
import urllib.parse
from typing import Any, Final

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from engines.errors import GatewayConfigError
from engines.statedir import StateDir

WS_PATH: Final = "/ws"
TOKEN_FILE: Final = "gateway.token"
STATIC: Final = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js",
                 "/style.css": "style.css"}


def load_token(configured: str, state: StateDir) -> str:
    """The configured token, else the one in <state_dir>/gateway.token (made 0600 if absent).
    An empty or unreadable token file is an error: the gateway never runs without a token."""
    if configured:
        return configured
    found = state.read(TOKEN_FILE)
    if found is None:
        state.write_atomic(TOKEN_FILE, secrets.token_urlsafe(24).encode() + b"\n")
        found = state.read(TOKEN_FILE)
    token = (found or b"").decode(errors="replace").strip()
    if not token:
        raise GatewayConfigError(f"token file {state.path / TOKEN_FILE} is empty")
    return token


def _static(name: str) -> bytes:
    return importlib.resources.files("engines.gateway").joinpath("static", name).read_bytes()


def response(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
             ) -> Response:
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 503: "Service Unavailable"}
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
    return Response(status, reason.get(status, ""), headers, body)


def token_of(request: Request) -> str:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
    given = query.get("token", [""])[0]
    auth = request.headers.get("Authorization", "")
    return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else given


class HttpFront:
    """`process_request` for websockets' server: static files, 401 without the token, 503
    when the hub is full; None lets the WebSocket handshake go on."""

    def __init__(self, token: str, hub_full: Any) -> None:
        self.token = token.encode()
        self.hub_full = hub_full
        self.unauthorised = 0

    def __call__(self, _conn: Any, request: Request) -> Response | None:
        path = urllib.parse.urlsplit(request.path).path
        if path == WS_PATH:
            if not hmac.compare_digest(token_of(request).encode(), self.token):
                self.unauthorised += 1
                return response(401, b"a valid token is required\n")
            if self.hub_full():
                return response(503, b"too many clients\n")
            return None
        name = STATIC.get(path)
        if name is None:
            return response(404, b"not found\n")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return response(200, _static(name), f"{kind}; charset=utf-8")
