"""The HTTP client of endpoint calls: a deadline for a whole call, and replies checked for JSON.

Contract:
- ``deadline(seconds)`` is a context manager: every socket operation (connect, TLS handshake,
  write, read) of an :func:`http_client` request made inside it, in the same thread, waits at most
  until the deadline, and one past it fails with an ``httpx`` timeout (the OpenAI client's
  ``APITimeoutError``). httpx's own timeouts restart with every byte received, so a server that
  sends one byte every second would otherwise hold a call forever; this bounds the whole call.
- ``http_client(url)`` is an ``httpx.Client`` for the OpenAI client (``OpenAILike(http_client=)``)
  with that deadline and a reply check: a 2xx reply whose body is not JSON (a proxy's login page,
  a server still loading) raises :class:`BadReply`, whose message says so and shows the reply's
  first 200 characters, redacted (the given ``secrets`` and every credential pattern of
  ``config.redact``) before they are cut, so no secret is cut in half and half shown. The OpenAI client passes it on as the cause of an
  ``APIConnectionError``; ``endpoint.retryable`` does not retry it. Environment proxies
  (``HTTPS_PROXY``, ``NO_PROXY``...) apply as they would in the OpenAI client's own.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from ragbench.config.redact import redact_text

SHOWN = 200  # characters of a bad reply shown in its error
# The OpenAI client's own defaults (openai._constants.DEFAULT_CONNECTION_LIMITS).
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)

_deadline: ContextVar[float | None] = ContextVar("ragbench_http_deadline", default=None)


class BadReply(Exception):
    """A 2xx reply that is not JSON; the message is one line, the reply shortened and redacted."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Bound every request of this thread's :func:`http_client` calls to ``seconds`` from now."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """The wait one socket operation may take: its own timeout, cut to what the deadline leaves."""
    end = _deadline.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A connection whose every read and write waits no longer than the deadline allows."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's network backend with the deadline on connecting and on every stream."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, wait, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    """httpx's transport on the deadline backend (httpx offers no public hook for the backend:
    its connection pool, built by httpx from public httpcore classes, is given ours)."""

    def __init__(self, proxy: str | None) -> None:
        super().__init__(limits=LIMITS, proxy=proxy)
        pool: Any = self._pool
        pool._network_backend = _Backend(pool._network_backend)


def _reply_check(secrets: list[str]) -> Callable[[httpx.Response], None]:
    def check(response: httpx.Response) -> None:
        """Raise BadReply for a 2xx reply that is not JSON (streamed replies are left alone)."""
        if not response.is_success or "event-stream" in response.headers.get("content-type", ""):
            return
        body = response.read()
        try:
            json.loads(body)
        except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not text
            text = " ".join(body[: SHOWN * 20].decode("utf-8", "replace").split())
            shown = redact_text(text, secrets)[:SHOWN]
            raise BadReply(
                f"endpoint returned a non-JSON {response.status_code} reply: {shown}"
            ) from None

    return check


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (None: connect directly)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not proxies or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def http_client(url: str, secrets: Iterable[str] = ()) -> httpx.Client:
    """The client of every call to the endpoint at ``url``; see the module docstring."""
    hidden = sorted({s for s in secrets if s}, key=len, reverse=True)
    return httpx.Client(
        transport=_Transport(_env_proxy(url)),
        event_hooks={"response": [_reply_check(hidden)]},
        follow_redirects=True,
        trust_env=False,  # the transport already has the environment's proxy for this URL
    )
