"""Secrets out of every artefact: replace them by ``***`` in anything written or printed.

Contract (the secrets a config names come from ``config.secrets.secrets_for``):
- ``redact(value, secrets)`` returns a copy of ``value`` (a string, or dicts / lists / tuples of
  them, recursively; other types pass through unchanged) in which every given secret, every URL
  userinfo password (``scheme://user:PASSWORD@host``), every ``Bearer TOKEN`` / ``Basic TOKEN`` and every token-like
  URL query value (``?api_key=...``) is replaced by :data:`REDACTED` — the last three even when no
  config named them, so an unconfigured credential in an error message is caught too.

Everything written (DuckDB rows, ``config_json``/``versions_json``, reports, CSVs, notebooks, CLI
messages) passes through ``redact`` first. ``config.experiment`` redacts trial labels where they
are made (charts draw them into images), so this module imports nothing of ragbench.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

REDACTED = "***"
MIN_SECRET_LEN = 8  # real keys and passwords are longer; shorter values are placeholders

# scheme://user:password@host: the password is everything up to the last '@' before the host.
# An unencoded '@' inside the password is allowed: the host starts after the last '@'.
_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)(?P<pw>[^\s/]+?)"
    r"(?=@[^\s/@]+(?:[/?#:\s'\"\\]|$))"
)
# Authorization header values. A token has a digit or punctuation, so prose such as "a bearer
# token" or "basic settings" is left alone.
_BEARER = re.compile(
    r"(?P<head>\b(?:bearer|basic)\s+)(?P<tok>(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,})",
    re.IGNORECASE,
)
# ?api_key=...&token=...: names that carry credentials in a URL.
_QUERY = re.compile(
    r"(?P<head>[?&](?:api[_-]?key|key|token|access[_-]?token|secret|password|passwd|pwd|sig|"
    r"signature)=)(?P<val>[^&#\s'\"]+)",
    re.IGNORECASE,
)


def variants(secret: str) -> set[str]:
    """The secret as written, percent-encoded (in a URL) and percent-decoded (sent on the wire)."""
    return {secret, quote(secret, safe=""), unquote(secret)}


def url_secrets(text: str) -> list[str]:
    """Passwords and credential query values found in the URLs inside ``text``."""
    found = [m.group("pw") for m in _USERINFO.finditer(text)]
    found += [m.group("val") for m in _QUERY.finditer(text)]
    return found


def strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets, URL passwords, auth tokens and URL keys replaced."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    text = _USERINFO.sub(lambda m: m.group("head") + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group("head") + REDACTED, text)
    return _QUERY.sub(lambda m: m.group("head") + REDACTED, text)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of ``value`` with every secret replaced by ``***`` (see the module contract).

    Args:
        value: a string, or a dict / list / tuple holding strings at any depth; anything else
            (numbers, None, bytes, objects) is returned as is.
        secrets: the strings to hide, e.g. from :func:`secrets_for`.

    Returns:
        The same shape with redacted strings; dict keys are redacted too.
    """
    secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
    return _redact(value, secrets)


def _redact(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {_redact(k, secrets): _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact(v, secrets) for v in value)
    return value
