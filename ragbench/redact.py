"""Secrets out of every artefact: collect the secrets a config uses, replace them by ``***``.

Contract:
- ``secrets_for(config)`` returns every secret an :class:`~ragbench.config.ExperimentConfig` can
  put on the wire: the values of the environment variables named by any ``api_key_env`` (generation
  LLM, judge, embedding; in ``base`` and in every sweep point), passwords and token-like query
  parameters inside any URL of the config (``base_url``, a SQL ``url``...), each also in its
  percent-encoded and decoded form. Values shorter than :data:`MIN_SECRET_LEN` are left out:
  placeholders such as ``EMPTY`` or ``none`` are not secrets, and replacing them everywhere would
  corrupt ordinary text (``rerank: none``).
- ``redact(value, secrets)`` returns a copy of ``value`` (a string, or dicts / lists / tuples of
  them, recursively; other types pass through unchanged) in which every given secret, every URL
  userinfo password (``scheme://user:PASSWORD@host``), every ``Bearer TOKEN`` / ``Basic TOKEN`` and every token-like
  URL query value (``?api_key=...``) is replaced by :data:`REDACTED` — the last three even when no
  config named them, so an unconfigured credential in an error message is caught too.

Everything written (DuckDB rows, ``config_json``/``versions_json``, reports, CSVs, notebooks, CLI
messages) passes through ``redact`` first. The package imports this module from ``config`` (trial
labels are redacted where they are made, since charts draw them into images), so it imports
``config`` only inside ``secrets_for``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

if TYPE_CHECKING:  # config imports this module (trial labels are redacted at the source)
    from ragbench.config import ExperimentConfig, PipelineConfig

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


def _variants(secret: str) -> set[str]:
    """The secret as written, percent-encoded (in a URL) and percent-decoded (sent on the wire)."""
    return {secret, quote(secret, safe=""), unquote(secret)}


def url_secrets(text: str) -> list[str]:
    """Passwords and credential query values found in the URLs inside ``text``."""
    found = [m.group("pw") for m in _USERINFO.finditer(text)]
    found += [m.group("val") for m in _QUERY.finditer(text)]
    return found


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _key_envs(pipeline: PipelineConfig) -> list[str]:
    return [
        pipeline.generation.llm.api_key_env,
        pipeline.judge.api_key_env,
        pipeline.embedding.api_key_env,
    ]


def secrets_for(config: ExperimentConfig, environ: dict[str, str] | None = None) -> list[str]:
    """Every secret an experiment config can send or store, longest first.

    Args:
        config: an ``ExperimentConfig``.
        environ: the environment to read ``api_key_env`` variables from (default ``os.environ``).

    Returns:
        Distinct secret strings of at least :data:`MIN_SECRET_LEN` characters, longest first (so a
        secret that contains another is replaced whole).
    """
    from ragbench.config import ConfigError, expand

    env = os.environ if environ is None else environ
    pipelines = [config.base]
    try:
        pipelines += [t.pipeline for t in expand(config)]
    except ConfigError:
        pass  # an invalid sweep never runs; base and the raw sweep values below still count
    names = {name for p in pipelines for name in _key_envs(p)}
    for key, values in config.sweep.items():
        if key.endswith("api_key_env"):
            names.update(v for v in values if isinstance(v, str))
    found = {env[name] for name in names if env.get(name)}
    dumped = [config.model_dump(mode="json"), *(p.model_dump(mode="json") for p in pipelines)]
    for text in (s for tree in dumped for s in _strings(tree)):
        found.update(url_secrets(text))
    variants = {v for s in found for v in _variants(s) if len(v) >= MIN_SECRET_LEN}
    return sorted(variants, key=lambda s: (-len(s), s))


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
