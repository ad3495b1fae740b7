"""The ASGI layer in front of the app: the bearer token, the body size and the body's timing.

Checked before the app sees a request, in this order:
  1. the token (every path but /healthz): 401 before a byte of the body is read;
  2. a declared Content-Length over the limit: 413 at once (a 1 GB upload is never read);
  3. the body, read here as it streams in: 413 as soon as it passes the limit (a client may
     lie about or omit Content-Length), 408 if no bytes arrive for read_timeout_s or the whole
     body takes longer than body_timeout_s, nothing (the connection is gone) if the client
     disconnects mid-upload.
The app then gets the body replayed from memory; at most max_body bytes are ever held for it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time

from cleverward.engine.serve.config import ServeConfig

OPEN_PATHS = ("/healthz",)
ROUTES = ("/score", "/healthz", "/metrics")  # metric labels; anything else counts as "other"


async def _respond(send, status: int, field: str, message: str, headers=()) -> None:
    body = json.dumps({"error": f"{field}: {message}", "field": field}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app, cfg: ServeConfig, token: str | None, metrics) -> None:
        self.app, self.cfg, self.metrics = app, cfg, metrics
        self.token = token.encode() if token else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"]
        send = self._counting(send, route if route in ROUTES else "other")
        headers = dict(scope["headers"])
        if self.token is not None and route not in OPEN_PATHS and not self._authorised(headers):
            return await _respond(send, 401, "authorization", "a valid bearer token is "
                                  "required (Authorization: Bearer <token>)",
                                  [(b"www-authenticate", b"Bearer")])
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _respond(send, 400, "content-length", "not a number")
            if int(declared) > self.cfg.max_body_bytes:
                return await _respond(send, 413, "body", f"{int(declared)} bytes declared; the "
                                      f"limit is {self.cfg.max_body_bytes}")
        body = await self._read_body(receive, send)
        if body is None:
            return None
        return await self.app(scope, _replay(body, receive), send)

    def _authorised(self, headers: dict) -> bool:
        given = headers.get(b"authorization", b"")
        scheme, _, value = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), self.token)

    async def _read_body(self, receive, send) -> bytes | None:
        """The whole body, or None once an error response is sent / the client has gone."""
        body, start = bytearray(), time.monotonic()
        while True:
            left = self.cfg.body_timeout_s - (time.monotonic() - start)
            try:
                message = await asyncio.wait_for(receive(), min(self.cfg.read_timeout_s, left))
            except TimeoutError:
                await _respond(send, 408, "body", f"not received in time (no data for "
                               f"{self.cfg.read_timeout_s:g} s, or over "
                               f"{self.cfg.body_timeout_s:g} s in all)")
                return None
            if message["type"] == "http.disconnect":
                self.metrics.disconnects.inc()
                return None
            body += message.get("body", b"")
            if len(body) > self.cfg.max_body_bytes:
                await _respond(send, 413, "body", f"over the limit of "
                               f"{self.cfg.max_body_bytes} bytes")
                return None
            if not message.get("more_body", False):
                return bytes(body)

    def _counting(self, send, route: str):
        async def counted(message) -> None:
            if message["type"] == "http.response.start":
                self.metrics.requests.labels(route, str(message["status"])).inc()
            await send(message)

        return counted


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as ASGI expects

    return replay
