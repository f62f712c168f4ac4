"""Secrets out of every artefact: replace them by ``***`` in anything written or printed.

Contract (the secrets a config names come from ``config.secrets.secrets_for``):
- ``redact(value, secrets)`` returns a copy of ``value`` (a string, or dicts / lists / tuples of
  them, recursively; other types pass through unchanged) in which every given secret, every URL
  userinfo password (``scheme://user:PASSWORD@host``), every ``Bearer TOKEN`` / ``Basic TOKEN``
  whose value looks like a token (the base64 / JWT alphabet, at least ``MIN_SECRET_LEN``
  characters, not a plain word: "basic settings" stays) and every token-like URL query value
  (``?api_key=...``) is replaced by :data:`REDACTED` — the last three even when no config named
  them, so an unconfigured credential in an error message is caught too.
- ``url_secrets(text)`` lists the credentials inside the URLs of ``text``: passwords, the base64
  forms a basic-auth header sends them in (``basic_auth_forms``) and credential query values.

Everything written (DuckDB rows, ``config_json``/``versions_json``, reports, CSVs, notebooks, CLI
messages) passes through ``redact`` first. ``config.experiment`` redacts trial labels where they
are made (charts draw them into images), so this module imports nothing of ragbench.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

REDACTED = "***"
MIN_SECRET_LEN = 8  # real keys and passwords are longer; shorter values are placeholders

# scheme://user:password@host: the password is everything up to the last '@' before the host.
# An unencoded '@' inside the password is allowed: the host starts after the last '@'.
_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://(?P<user>[^\s/:@]*):)(?P<pw>[^\s/]+?)"
    r"(?=@[^\s/@]+(?:[/?#:\s'\"\\]|$))"
)
# Authorization header values: a run of the token alphabet (base64, base64url, JWT; never ending
# in ".", which ends the sentence) after "Bearer" / "Basic". Prose such as "basic settings" or "a bearer token" is left alone: a word
# in one case or capitalised, possibly hyphenated, shorter than PROSE_MAX (see _looks_like_token).
_BEARER = re.compile(
    rf"(?P<head>\b(?:bearer|basic)\s+)(?P<tok>[A-Za-z0-9._~+/=-]{{{MIN_SECRET_LEN},}}(?<!\.))",
    re.IGNORECASE,
)
_WORDS = re.compile(r"(?:[A-Z]?[a-z]+|[A-Z]+)(?:-(?:[a-z]+|[A-Z]+))*")
PROSE_MAX = 24  # no English word (or hyphenated pair) a server writes after "basic" is longer
# ?api_key=...&token=...: names that carry credentials in a URL.
_QUERY = re.compile(
    r"(?P<head>[?&](?:api[_-]?key|key|token|access[_-]?token|secret|password|passwd|pwd|sig|"
    r"signature)=)(?P<val>[^&#\s'\"]+)",
    re.IGNORECASE,
)


def variants(secret: str) -> set[str]:
    """The secret as written, percent-encoded (in a URL) and percent-decoded (sent on the wire)."""
    return {secret, quote(secret, safe=""), unquote(secret)}


def basic_auth_forms(user: str, password: str) -> set[str]:
    """``user:password`` as an HTTP basic-auth header carries it: base64 and base64url, with and
    without padding, of the pair as written and percent-decoded (httpx sends it decoded)."""
    forms = set()
    for pair in {f"{user}:{password}", f"{unquote(user)}:{unquote(password)}"}:
        raw = pair.encode("utf-8")
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            text = encoded.decode("ascii")
            forms.update({text, text.rstrip("=")})
    return forms


def url_secrets(text: str) -> list[str]:
    """Passwords, their basic-auth forms and credential query values in the URLs of ``text``."""
    found = []
    for m in _USERINFO.finditer(text):
        found += [m.group("pw"), *sorted(basic_auth_forms(m.group("user"), m.group("pw")))]
    found += [m.group("val") for m in _QUERY.finditer(text)]
    return found


def _looks_like_token(value: str) -> bool:
    """An Authorization value rather than the word after "basic" or "bearer" in prose."""
    return len(value) >= PROSE_MAX or not _WORDS.fullmatch(value)


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
    text = _BEARER.sub(
        lambda m: m.group("head") + REDACTED if _looks_like_token(m.group("tok")) else m.group(0),
        text,
    )
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
