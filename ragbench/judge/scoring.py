"""Judging: one judged metric of one answered question -> a :class:`Score`, cached by content.

Contract:
- ``Judge.score(metric, user_input, response, contexts, reference=...)`` -> :class:`Score`. What
  each metric reads, how it is built, why its NaN means "undefined" and whether its value is a
  cosine to clip come from its spec (``metrics.JUDGED``); a metric that needs a reference answer
  records the failure "no reference answer" when there is none. Judging never raises: invalid
  JSON, a dead endpoint, an unknown metric or a metric that yields NaN becomes a Score with
  ``value=None`` and an ``error`` saying why, after bounded retries. Results are cached in the
  store by a hash of (metric, ragas version, ``JUDGE_PROTOCOL``, judge model, sampling params,
  judge settings (prompts; for faithfulness repair and nli), judge embedding, inputs) (:meth:`Judge.cache_key`), so identical work is never judged twice,
  across trials and runs; each LLM call is cached too (``adapter.JudgeLLM``).
- ``Judge.score`` may be called from several threads at once (the answer+judge stage with ``concurrency`` > 1):
  each thread judges through its own ragas adapter and metric objects (their trace and token
  counts are per call), and concurrent calls with one cache key take turns, so the second finds
  the first's verdict in the cache.
- ``judge_details(score)`` is the JSON stored in a score row's ``details``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ragbench import models
from ragbench.config.experiment import LLMConfig, params_hash
from ragbench.experiment.workers import KeyedLocks
from ragbench.judge import faithfulness as judge_faithfulness
from ragbench.judge import prompts as judge_prompts
from ragbench.judge.adapter import USAGE_KEYS, JudgeEmbedding, JudgeError, JudgeLLM, run_sync
from ragbench.metrics import JUDGED, JudgeSettings, Scorer, names

# Bump when the way ragbench calls ragas changes (adapter, schema mode, metric settings): judge
# verdicts cached under an older protocol are then not reused.
# Not bumped for judge.repair / judge.nli (re-asking degenerate NLI replies changes verdicts):
# faithfulness' verdict key names them and their own version (``faithfulness.key_settings``), so
# no verdict cached before is reused under repair: true, while the per-call key keeps its
# identity: a call's reply depends on its prompt, not on what is done with it, so replies cached
# before still serve (a re-run with repair on asks only the re-asks), and the other metrics'
# verdicts, which the settings do not touch, keep their keys.
JUDGE_PROTOCOL = 3  # 3: judge.prompts (compact or ragas) and the per-call cache


@dataclass
class Score:
    """One judged value (None on failure, with ``error`` saying why) and how it was reached."""

    value: float | None
    error: str | None = None
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    cached: bool = False


class Judge:
    """Scores answers with RAGAS metrics through one judge LLM, caching by content hash."""

    def __init__(
        self,
        cfg: LLMConfig,
        llm: Any,
        embed: Any,
        cache: Any | None = None,
        embed_id: str = "",
    ) -> None:
        """
        Args:
            cfg: the judge's config (its identity and sampling params are part of the cache key).
            llm: the LlamaIndex LLM to judge with.
            embed: the LlamaIndex embedding of the metrics whose spec reads one (answer
                relevancy, answer correctness, semantic similarity); None when none is judged.
            cache: anything with ``cache_get(kind, key)`` / ``cache_put(kind, key, value)``.
            embed_id: the content identity of ``embed`` (``models.embedding_id``), for the cache.
        """
        import ragas

        self.cfg = cfg
        self.cache = cache
        self.embed_id = embed_id
        self.judge_id = models.llm_id(cfg)  # once: it may hash a model file
        # JudgeConfig's fields; a plain LLMConfig (tests) judges like the default
        self.prompts: str = getattr(cfg, "prompts", "compact")
        self.settings = JudgeSettings(
            temperature=cfg.temperature,
            prompts=self.prompts,
            repair=getattr(cfg, "repair", True),
            nli=getattr(cfg, "nli", "batch"),
        )
        self.ragas_version = ragas.__version__
        self._identity = {
            "ragas": self.ragas_version,
            "protocol": JUDGE_PROTOCOL,
            "judge": self.judge_id,
            "settings": self._call_settings(),
        }
        self._base_llm = llm
        self.embed = JudgeEmbedding(embed)
        # Per thread: a ragas adapter (its trace and usage describe one score) and the metric
        # objects that call it. Every adapter is kept, for the call count.
        self._local = threading.local()
        self._adapters: list[JudgeLLM] = []
        self._adapters_lock = threading.Lock()
        self._inflight = KeyedLocks()

    @property
    def llm(self) -> JudgeLLM:
        """This thread's ragas adapter of the judge LLM."""
        if not hasattr(self._local, "llm"):
            self._local.llm = JudgeLLM(
                self._base_llm,
                self.cfg.max_retries,
                self.cfg.max_tokens,
                self.cache,
                self._identity,
                self._inflight,
            )
            self._local.metrics = {}
            with self._adapters_lock:
                self._adapters.append(self._local.llm)
        adapter: JudgeLLM = self._local.llm
        return adapter

    @property
    def calls(self) -> int:
        """Judge LLM calls made so far, by every thread (cache hits make none)."""
        with self._adapters_lock:
            return sum(adapter.calls for adapter in self._adapters)

    def _metric(self, name: str) -> Scorer:
        """This thread's scorer of metric ``name``, built from its spec on first use."""
        adapter = self.llm  # creates the thread's adapter and scorer table on first use
        built: dict[str, Scorer] = self._local.metrics
        if name not in built:
            built[name] = JUDGED[name].build(adapter, self.embed, self.settings)
        return built[name]

    def _call_settings(self) -> dict[str, Any]:
        """The settings one call's reply depends on (with the prompt, the per-call key)."""
        settings = self.cfg.model_dump(
            include={"temperature", "seed", "max_tokens", "context_window"}
        )
        settings["prompts"] = self.prompts
        if self.prompts == "compact":
            settings["compact_version"] = judge_prompts.COMPACT_VERSION
        return settings

    def _settings(self, metric: str) -> dict[str, Any]:
        """The settings ``metric``'s verdict depends on: a call's, and for faithfulness what is
        done with its NLI replies (``judge.repair``, ``judge.nli``; ``faithfulness.key_settings``
        names nothing for the verdicts of before those settings existed)."""
        settings = self._call_settings()
        if metric in judge_faithfulness.CHECKED:
            settings |= judge_faithfulness.key_settings(self.settings.repair, self.settings.nli)
        return settings

    def cache_key(self, metric: str, inputs: dict[str, Any]) -> str:
        """Everything that determines a verdict: the metric and its prompts (ragas version and our
        adapter's protocol), the judge's content identity, every sampling and context setting,
        the judge embedding (answer relevancy and correctness read it) and the inputs."""
        return params_hash(
            {
                "metric": metric,
                "ragas": self.ragas_version,
                "protocol": JUDGE_PROTOCOL,
                "judge": self.judge_id,
                "embedding": self.embed_id,
                "settings": self._settings(metric),
                "inputs": inputs,
            },
            length=32,
        )

    def inputs(
        self,
        metric: str,
        user_input: str,
        response: str,
        contexts: list[str],
        *,
        reference: str = "",
    ) -> dict[str, Any] | None:
        """What judged ``metric`` reads (its spec's ``inputs``; with ``cache_key``, its cache
        key), or None when it is not a judged metric or needs a reference answer and there is
        none."""
        spec = JUDGED.get(metric)
        if spec is None:
            return None
        given = {
            "user_input": user_input,
            "response": response,
            "retrieved_contexts": contexts,
            "reference": reference or "",
        }
        if "reference" in spec.inputs and not given["reference"]:
            return None
        return {name: given[name] for name in spec.inputs}

    def score(
        self,
        metric: str,
        user_input: str,
        response: str,
        contexts: list[str],
        *,
        reference: str = "",
    ) -> Score:
        """One judged score; never raises for a judge failure (see module docstring).

        Only the inputs the metric reads (its spec's ``inputs``) reach ragas and the cache key,
        so e.g. answer_relevancy is not re-judged when only the retrieved contexts change.
        ``details`` holds the judge's structured outputs (``trace``) and the tokens this score
        cost (``judge_prompt_tokens``, ``judge_completion_tokens``; a cache hit repeats the
        original cost and spends none). With ``judge.repair`` on, faithfulness' details also
        count its degenerate NLI replies and re-asked statements (``judge_degenerate``,
        ``judge_reasked``; ``judge.faithfulness``).
        """
        if metric not in JUDGED:
            return Score(
                None, f"unknown judged metric '{metric}'; valid: {', '.join(names('judged'))}"
            )
        inputs = self.inputs(metric, user_input, response, contexts, reference=reference)
        if inputs is None:
            # Not cached and not an LLM call: adding references to the QA set fixes it.
            return Score(None, "no reference answer")
        key = self.cache_key(metric, inputs)
        with self._inflight.hold(key):  # the same verdict asked twice at once is judged once
            return self._score(metric, inputs, key)

    def _score(self, metric: str, inputs: dict[str, Any], key: str) -> Score:
        hit = self.cache.cache_get("judge", key) if self.cache is not None else None
        if hit is not None and hit.get("error") is None:  # files of older versions cached failures
            return Score(hit["value"], None, 0.0, hit["details"], cached=True)
        llm = self.llm
        llm.trace = []
        llm.usage = dict.fromkeys(USAGE_KEYS, 0)
        calls_before, cached_before, batched_before = llm.calls, llm.cached_calls, llm.batched_calls
        start = time.perf_counter()
        value, error = self._value(metric, inputs)
        details: dict[str, Any] = {
            "trace": llm.trace,
            "judge_prompt_tokens": llm.usage["prompt_tokens"],
            "judge_completion_tokens": llm.usage["completion_tokens"],
            "judge_calls": llm.calls - calls_before,
            "judge_cached_calls": llm.cached_calls - cached_before,
            "judge_batched_calls": llm.batched_calls - batched_before,
        }
        if self.settings.repair and metric in judge_faithfulness.CHECKED:
            details |= judge_faithfulness.counts(llm.trace)  # how often replies were repaired
        if llm.usage["evaluated_prompt_tokens"]:  # the local model says where time went
            details |= {
                "judge_evaluated_prompt_tokens": llm.usage["evaluated_prompt_tokens"],
                "judge_prompt_s": round(llm.usage["prompt_s"], 3),
                "judge_generation_s": round(llm.usage["generation_s"], 3),
            }
        score = Score(value, error, time.perf_counter() - start, details)
        # A failure is never cached: the endpoint may be back, or more retries may succeed.
        if self.cache is not None and error is None:
            self.cache.cache_put(
                "judge", key, {"value": value, "error": error, "details": score.details}
            )
        return score

    def _value(self, metric: str, inputs: dict[str, Any]) -> tuple[float | None, str | None]:
        """The metric's value in [0, 1], or None and why: NaN, a judge failure, a metric bug."""
        spec = JUDGED[metric]
        try:
            raw = float(run_sync(self._metric(metric).ascore(**inputs)).value)
        except JudgeError as exc:
            return None, str(exc)
        except Exception as exc:  # noqa: BLE001 - a metric bug must not kill a run
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if math.isnan(raw):
            return None, f"{metric} is undefined for this answer ({spec.nan_reason})"
        if spec.cosine:
            # Cosine similarity can dip below 0 for unrelated texts; the metric's range is
            # [0, 1], so "unrelated" is 0 rather than a negative that skews the mean.
            return min(1.0, max(0.0, raw)), None
        return raw, None


def judge_details(score: Score) -> str:
    """The JSON of a score row's ``details``: the judge's trace and costs, and whether cached."""
    return json.dumps(score.details | {"cached": score.cached}, default=str)


__all__ = ["JUDGE_PROTOCOL", "Judge", "JudgeError", "Score", "judge_details"]
