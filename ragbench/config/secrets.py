"""The secrets an experiment config can send or store (``config.redact`` replaces them).

``secrets_for(config)`` returns every secret an :class:`~ragbench.config.ExperimentConfig` can put
on the wire: the values of the environment variables named by any ``api_key_env`` (generation
LLM, judge, embedding; in ``base`` and in every sweep point), passwords and token-like query
parameters inside any URL of the config (``base_url``, a SQL ``url``...), each also in its
percent-encoded and decoded form, and for every URL with ``user:password@`` the base64 forms of
``user:password`` that an HTTP basic-auth header carries (standard and URL-safe alphabet, padded
and unpadded). Values shorter than ``MIN_SECRET_LEN`` are left out:
placeholders such as ``EMPTY`` or ``none`` are not secrets, and replacing them everywhere would
corrupt ordinary text (``rerank: none``).
"""

from __future__ import annotations

import os

from ragbench.config.components import PipelineConfig
from ragbench.config.experiment import ExperimentConfig, expand
from ragbench.config.redact import MIN_SECRET_LEN, strings, url_secrets, variants
from ragbench.config.validation import ConfigError


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
    for text in (s for tree in dumped for s in strings(tree)):
        found.update(url_secrets(text))
    forms = {v for s in found for v in variants(s) if len(v) >= MIN_SECRET_LEN}
    return sorted(forms, key=lambda s: (-len(s), s))
