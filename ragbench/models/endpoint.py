"""OpenAI-compatible endpoints: the LLM ragbench calls, with its retries in one place.

Contract:
- ``EndpointLLM`` is LlamaIndex's ``OpenAILike`` whose every network call (``complete``, ``chat``,
  and so ``predict``; sync paths, the only ones ragbench uses) goes through :func:`call` : an
  HTTP 429, any 5xx, a timeout or a dropped connection is retried with exponential backoff and
  jitter, waiting what a ``Retry-After`` header asks (seconds or an HTTP date; capped at
  ``retry_cap_s``) when the server sends one, at most ``endpoint_retries`` times. Any other 4xx is
  not retried, nor is a 200 reply that is not JSON. The OpenAI client's own silent retries stay
  off (``max_retries=0``).
- ``timeout`` (the config's ``timeout_s``) bounds the WHOLE call, retries and the waits between
  them included: every attempt runs under one deadline (``models.http``: a reply that trickles in
  byte by byte is cut off at it, where httpx's read timeout would restart with every byte), and
  a retry whose wait would end past the deadline is not made: the call fails at once.
- A call that still fails raises :class:`EndpointError`: one line naming the endpoint (URL without
  credentials), the status or failure (a timeout names ``timeout_s``), how many attempts were
  made and the server's message, with the API key masked.
- A reply without an answer (``content`` null, e.g. ``finish_reason: content_filter``, or empty)
  raises :class:`EndpointError` too ("the endpoint returned no answer (finish_reason
  content_filter)"), not retried (the same prompt is filtered again): an empty answer is never
  taken for one, so nothing caches it and ``--resume`` asks again.
- ``EndpointLLM.retries`` counts the retries made so far (thread-safe: several threads may share
  one instance; the OpenAI client is thread-safe).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import openai
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.llms.openai_like import OpenAILike
from pydantic import Field, PrivateAttr
from tenacity import RetryCallState, Retrying, retry_if_exception

from ragbench.config.redact import url_secrets
from ragbench.config.validation import one_line
from ragbench.models.http import BadReply, deadline, http_client

T = TypeVar("T")

BACKOFF_S = 0.5  # first wait without Retry-After; doubles per retry (plus up to as much jitter)
BACKOFF_MAX_S = 30.0  # no single backoff wait exceeds this


class EndpointError(RuntimeError):
    """An endpoint call that failed for good (not retryable, or out of retries); one line."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


def retryable(exc: BaseException) -> bool:
    """429, 5xx, timeouts and connection failures (including a dropped connection) are transient;
    any other error, e.g. a 400 or 401, or a 200 reply that is not JSON, would fail the same way
    again."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    if isinstance(exc.__cause__, BadReply):
        return False
    return isinstance(exc, openai.APIConnectionError)  # APITimeoutError is one


def retry_after(exc: BaseException | None, now: datetime | None = None) -> float | None:
    """Seconds a response's ``Retry-After`` header asks to wait (delay-seconds or an HTTP date),
    or None when there is none or it cannot be read."""
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter before retry number ``attempt`` (1, 2, ...)."""
    base = min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (attempt - 1))
    return min(BACKOFF_MAX_S, base + random.uniform(0, base))


def call(
    fn: Callable[[], T],
    max_retries: int,
    cap_s: float,
    on_retry: Callable[[], None] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
    until: float | None = None,
) -> T:
    """``fn()``, retried as the module docstring says; the last error is re-raised as it is.

    ``until`` (a ``time.monotonic()`` value) ends the retries: none is made whose wait would end
    past it.
    """
    waits: dict[int, float] = {}  # attempt -> the wait before the next one, drawn once (jitter)

    def wait(state: RetryCallState) -> float:
        if state.attempt_number not in waits:
            exc = state.outcome.exception() if state.outcome is not None else None
            asked = retry_after(exc)
            waits[state.attempt_number] = (
                min(asked, cap_s) if asked is not None else backoff(state.attempt_number)
            )
        return waits[state.attempt_number]

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number > max_retries:
            return True
        return until is not None and time.monotonic() + wait(state) >= until

    retrying = Retrying(
        stop=stop,
        retry=retry_if_exception(retryable),
        wait=wait,
        sleep=sleep,
        before_sleep=lambda state: on_retry(),
        reraise=True,
    )
    return retrying(fn)


def describe(
    exc: BaseException,
    url: str,
    attempts: int,
    secret: str = "",
    timeout_s: float | None = None,
    out_of_time: bool = False,
) -> str:
    """The one line an endpoint failure is recorded as (no traceback, no key).

    ``timeout_s`` is named in a timeout; ``out_of_time``: the deadline, not ``max_retries``,
    ended the retries.
    """
    limit = f"timeout_s {timeout_s:g}" if timeout_s is not None else "timeout_s"
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        what = f"HTTP {exc.status_code}: {message or body or exc.message}"
    elif isinstance(exc, openai.APITimeoutError):
        what = f"timed out ({limit} bounds the whole call, retries included)"
    elif isinstance(exc.__cause__, BadReply):
        what = str(exc.__cause__)
    elif isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        what = f"connection failed ({cause or exc.message})"
    else:
        what = f"{type(exc).__name__}: {exc}"
    if retryable(exc):
        tries = f"failed after {attempts} attempt{'s' if attempts != 1 else ''}"
        if out_of_time and not isinstance(exc, openai.APITimeoutError):
            tries += f" (no time left of {limit} for another)"
    else:
        tries = "failed, not retryable"
    line = " ".join(f"{url} {tries}: {what}".split())  # one line, however the server wrote it
    if len(secret) >= 8:
        line = line.replace(secret, "***")
    return line[:400]


class EndpointLLM(OpenAILike):
    """``OpenAILike`` with bounded, recorded retries (see the module docstring)."""

    endpoint_retries: int = Field(2, ge=0, description="retries after a transient failure")
    retry_cap_s: float = Field(300.0, gt=0, description="longest single Retry-After wait")
    safe_url: str = Field("", description="the endpoint's URL without credentials, for errors")
    _retried: int = PrivateAttr(0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("http_client") is None:
            secrets = [kwargs.get("api_key") or "", *url_secrets(kwargs.get("api_base") or "")]
            kwargs["http_client"] = http_client(kwargs.get("api_base") or "", secrets)
        super().__init__(**kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "ragbench_endpoint_llm"

    @property
    def retries(self) -> int:
        """Retries made so far by every thread using this instance."""
        return self._retried

    def _count_retry(self) -> None:
        with self._lock:
            self._retried += 1

    def _call(self, fn: Callable[[], T]) -> T:
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return fn()

        until = time.monotonic() + self.timeout
        try:
            with deadline(self.timeout):
                return call(
                    attempt, self.endpoint_retries, self.retry_cap_s, self._count_retry, until=until
                )
        except openai.OpenAIError as exc:
            out_of_time = attempts <= self.endpoint_retries  # retries were left: time was not
            line = describe(
                exc,
                self.safe_url or "endpoint",
                attempts,
                self.api_key or "",
                timeout_s=self.timeout,
                out_of_time=out_of_time,
            )
            raise EndpointError(line) from None

    def _answered(self, text: str | None, raw: Any) -> None:
        """Raise :class:`EndpointError` for a reply that holds no answer (see the module docstring)."""
        if text is not None and text.strip():
            return
        choice = (getattr(raw, "choices", None) or [None])[0]
        reason = getattr(choice, "finish_reason", None) or "not given"
        sent = getattr(getattr(choice, "message", None), "content", text)  # LlamaIndex: "" -> None
        what = "no answer" if sent is None else "an empty answer"
        url = self.safe_url or "endpoint"
        raise EndpointError(
            f"{url} failed, not retryable: the endpoint returned {what} (finish_reason {reason})"
        )

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        reply = self._call(lambda: super(EndpointLLM, self)._chat(messages, **kwargs))
        self._answered(reply.message.content, reply.raw)
        return reply

    def _complete(self, prompt: str, **kwargs: Any) -> CompletionResponse:
        reply = self._call(lambda: super(EndpointLLM, self)._complete(prompt, **kwargs))
        self._answered(reply.text, reply.raw)
        return reply
