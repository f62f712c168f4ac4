"""Experiment configuration: YAML -> validated pydantic models -> a list of trials.

Contract:
- ``load_config(path)`` returns an :class:`ExperimentConfig` or raises :class:`ConfigError` whose
  message names the file, the offending key and, for unknown keys or component names, the closest
  valid spelling.
- ``expand(config)`` returns one :class:`Trial` per point of the sweep's cartesian product. A trial's
  ``trial_id`` is a hash of its fully resolved pipeline parameters, so the same set-up gets the same
  id in every run and every experiment file.

Every model forbids unknown keys (``extra="forbid"``): a typo is an error, never a silent default.
Numbers are strict: ``top_k: true``, ``top_k: 2.0`` or ``top_k: "3"`` are errors, not 1, 2 or 3
(an integer is accepted where a float is expected). The YAML reader rejects a key given twice in
one mapping (naming both lines) and reads ``1e-3`` as the number YAML 1.2 says it is.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ragbench.config.components import (  # noqa: F401 - config is where callers find them
    CHUNKERS,
    DATASET_LOADERS,
    EMBEDDING_PROVIDERS,
    FUSION_MODES,
    LLM_PROVIDERS,
    MAX_TRIALS,
    QUERY_TRANSFORMS,
    RERANKERS,
    RETRIEVERS,
    VECTOR_STORES,
    ChunkingConfig,
    DatasetConfig,
    EmbeddingConfig,
    ExecutorConfig,
    GenerationConfig,
    JudgeConfig,
    LLMConfig,
    PipelineConfig,
    RetrievalConfig,
    SqlConfig,
    Strict,
)
from ragbench.config.redact import redact
from ragbench.config.validation import (
    ConfigError,
    Int,
    Real,
    check_name,
    format_errors,
    read_yaml,
    suggest,
)
from ragbench.metrics import names as metric_names


class StagedConfig(Strict):
    """Staged search: answer and judge only the trials that retrieve best (plus pinned ones)."""

    rank_by: str = "mrr"  # a cheap retrieval metric computed for every trial in retrieval
    top_n: Int = Field(2, ge=1)  # trials that go on to generation + LLM judging
    pin: list[str] = []  # trial labels or ids that always go on (e.g. today's production set-up)

    @field_validator("rank_by")
    @classmethod
    def _rank_by(cls, v: str) -> str:
        retrieval = metric_names("retrieval")
        if v in metric_names("answered"):
            raise ValueError(
                f"'{v}' is judged only after stage 1 (it needs answers); rank by a retrieval "
                f"metric, one of: {', '.join(retrieval)}"
            )
        return check_name("staged search ranking metric", v, retrieval)


class SplitConfig(Strict):
    """A held-out test split of the questions: the best trial is chosen on the dev questions."""

    test: Real = Field(gt=0, lt=1)  # share of the questions held out, e.g. 0.3
    seed: Int | None = None  # None: the experiment's seed


ALLOCATIONS = ("uniform", "adaptive")
#: An experiment name is a folder name (its reports go to ``<db folder>/<name>/``): no separator.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class JudgeBudget(Strict):
    """How much judging a run may do (whichever ends first); see ``ragbench.experiment.allocation``."""

    verdicts: Int | None = Field(None, ge=1)  # one question answered + judged for one trial
    seconds: Real | None = Field(None, gt=0)  # answer + judge seconds, summed over verdicts

    @model_validator(mode="after")
    def _some(self) -> JudgeBudget:
        if self.verdicts is None and self.seconds is None:
            raise ValueError("give verdicts, seconds or both, e.g. {verdicts: 120}")
        return self


class ExperimentConfig(Strict):
    # The YAML file it was read from (``load_config``), so a run never reads it as a document;
    # not part of the config (nor of its hash).
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source_file(self) -> Path | None:
        """The YAML file this config was read from (None: built in code)."""
        return self._source

    name: str = Field(pattern=NAME_PATTERN, max_length=100)  # a folder name
    description: str = ""
    dataset: DatasetConfig = DatasetConfig()
    base: PipelineConfig = PipelineConfig()
    sweep: dict[str, list[Any]] = {}
    # The trial's label when nothing is swept (None: "base"); the tuning panel names its choice.
    label: str | None = None
    # Every gold-label retrieval metric, and the two judged ones that need no reference answer.
    metrics: list[str] = [*metric_names("gold"), "faithfulness", "answer_relevancy"]
    limit: Int | None = Field(None, ge=1)  # questions per trial; None = all
    judge_limit: Int | None = Field(None, ge=0)  # questions answered + LLM-judged; None = all
    staged: StagedConfig | None = None  # None: every trial is answered and judged
    # Hold out a share of the questions: every question is scored, the best trial is chosen on
    # the dev questions only, and the report checks it on the test ones. None: no split.
    split: SplitConfig | None = None
    # Judged questions (verdicts) or seconds for the whole run; a bare number is verdicts.
    # None: every judged question of every trial. judge_limit still caps the questions.
    judge_budget: JudgeBudget | None = None
    allocation: str = "uniform"  # adaptive: stop judging trials significantly worse than the best
    allocation_metric: str | None = None  # what adaptive decides on; None: first judged metric
    seed: Int = 0
    executor: ExecutorConfig = ExecutorConfig()  # where the work runs: never swept, not hashed

    @field_validator("judge_budget", mode="before")
    @classmethod
    def _bare_budget(cls, v: Any) -> Any:
        if isinstance(v, bool) or isinstance(v, float | str):
            raise ValueError(
                f"give a whole number of verdicts (e.g. 120) or {{verdicts: N}} / {{seconds: S}}, "
                f"got {v!r}"
            )
        return {"verdicts": v} if isinstance(v, int) else v

    @field_validator("allocation")
    @classmethod
    def _allocation(cls, v: str) -> str:
        return check_name("allocation", v, ALLOCATIONS)

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one metric")
        known = metric_names()
        for m in v:
            check_name("metric", m, known)
        twice = sorted({m for m in v if v.count(m) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return v

    @model_validator(mode="after")
    def _sweep(self) -> ExperimentConfig:
        base = self.base.model_dump()
        for key, values in self.sweep.items():
            _resolve_dotted(base, key)
            if not values:
                raise ValueError(f"sweep '{key}' has no values")
            if key.split(".")[0] == "judge":
                raise ValueError(
                    f"sweep key '{key}': the judge is the ruler every trial is scored with; "
                    "it cannot be swept (run one experiment per judge instead)"
                )
        n_trials = math.prod(len(v) for v in self.sweep.values())
        if n_trials > MAX_TRIALS:
            raise ValueError(
                f"sweep has {n_trials} points (the product of its axes' lengths); "
                f"at most {MAX_TRIALS} trials per experiment"
            )
        return self

    @model_validator(mode="after")
    def _staged(self) -> ExperimentConfig:
        # Staged search ranks by scores of the retrieval stage: a metric the run never computes
        # would rank every trial as 0 (or crash) after the whole retrieval stage.
        if self.staged and self.staged.rank_by not in self.metrics:
            ranked = [m for m in self.metrics if m in metric_names("retrieval")]
            hint = (
                f"rank by one of them ({', '.join(ranked)})"
                if ranked
                else "metrics has no retrieval metric to rank by"
            )
            raise ValueError(
                f"staged.rank_by '{self.staged.rank_by}' is not in metrics "
                f"({', '.join(self.metrics)}): add it to metrics or {hint}"
            )
        return self

    @model_validator(mode="after")
    def _budget(self) -> ExperimentConfig:
        every_judged = metric_names("judged")
        judged = [m for m in self.metrics if m in every_judged]
        if (self.judge_budget or self.allocation != "uniform") and not judged:
            raise ValueError(
                "judge_budget and allocation spend judged verdicts, and metrics lists no judged "
                f"metric ({', '.join(every_judged)})"
            )
        metric = self.allocation_metric
        if metric is not None:
            if self.allocation != "adaptive":
                raise ValueError(
                    "allocation_metric is what allocation: adaptive decides on; set allocation: "
                    "adaptive or drop it"
                )
            if metric not in judged:
                raise ValueError(
                    f"allocation_metric '{metric}' is not a judged metric in metrics"
                    f"{suggest(metric, judged)}; judged metrics here: {', '.join(judged)}"
                )
        return self


def _resolve_dotted(tree: dict[str, Any], key: str) -> None:
    """Check that a dotted sweep key names an existing field of the pipeline config."""
    node: Any = tree
    walked: list[str] = []
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            valid = list(node) if isinstance(node, dict) else []
            where = ".".join(walked) or "base"
            raise ValueError(
                f"sweep key '{key}': '{part}' is not a field of {where}{suggest(part, valid)}"
            )
        node = node[part]
        walked.append(part)


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    for part in parents:
        tree = tree[part]
    tree[leaf] = value


class Trial(BaseModel):
    """One point of the sweep: a fully resolved pipeline plus the swept values that define it."""

    trial_id: str
    label: str  # the swept values, human readable: "chunk_size=128, top_k=2"
    overrides: dict[str, Any]
    pipeline: PipelineConfig


#: Pipeline fields added after trial ids were first issued, with their defaults. At its default such
#: a field is left out of the trial id, so a set-up keeps the id it always had: ``diff`` and
#: ``gate --baseline`` pair trials across ragbench versions by id. (The config hash that
#: ``--resume`` checks keeps every field: a run started before a judging change is not finished
#: under the new rules.)
LATER_DEFAULTS: dict[str, Any] = {
    "judge.repair": True,  # degenerate NLI replies re-asked (judge/faithfulness.py)
    "judge.nli": "batch",
    # no stored row depends on it (only the verdicts read from scores); 1.0 since 2026-12-08
    "judge.verdict_threshold": 1.0,
}


def trial_id_of(pipeline: PipelineConfig) -> str:
    """A pipeline's trial id: the hash of its resolved parameters, ``LATER_DEFAULTS`` left out."""
    params = pipeline.model_dump()
    for dotted, default in LATER_DEFAULTS.items():
        *parents, leaf = dotted.split(".")
        node = params
        for part in parents:
            node = node[part]
        if node.get(leaf) == default:
            del node[leaf]
    return params_hash(params)


def params_hash(params: dict[str, Any], length: int = 12) -> str:
    """Stable short hash of a JSON-able dict (keys sorted, no whitespace)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def expand(config: ExperimentConfig) -> list[Trial]:
    """Expand the sweep into trials (cartesian product, in the YAML's axis order)."""
    keys = list(config.sweep)
    base = config.base.model_dump()
    trials = []
    seen: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*(config.sweep[k] for k in keys)):
        tree = copy.deepcopy(base)
        overrides = dict(zip(keys, values, strict=True))
        for key, value in overrides.items():
            _set_dotted(tree, key, value)
        try:
            pipeline = PipelineConfig.model_validate(tree)
        except ValidationError as exc:
            raise ConfigError(
                f"sweep point {overrides}: {format_errors(exc, PipelineConfig)}"
            ) from None
        trial_id = trial_id_of(pipeline)
        if trial_id in seen:
            raise ConfigError(f"sweep points {seen[trial_id]} and {overrides} are the same trial")
        seen[trial_id] = overrides
        label = config.label if config.label and not overrides else trial_label(overrides)
        trials.append(
            Trial(
                trial_id=trial_id,
                label=label,
                overrides=overrides,
                pipeline=pipeline,
            )
        )
    return trials


def trial_label(overrides: dict[str, Any]) -> str:
    """Swept values by their shortest unambiguous key: "chunk_size=128, top_k=2", but
    "chunking.method=token, retrieval.method=dense" when two axes share a last name.

    A URL password in a swept value shows as ``***``: labels end up in tables, CSVs and chart
    images, where no later redaction can reach them.
    """
    tails = [k.rsplit(".", 1)[-1] for k in overrides]
    names = [k if tails.count(t) > 1 else t for k, t in zip(overrides, tails, strict=True)]
    label = ", ".join(f"{n}={v}" for n, v in zip(names, overrides.values(), strict=True))
    return redact(label) or "base"


def parse_config(data: Any, source: str = "<config>", root: Path | None = None) -> ExperimentConfig:
    """Validate an already-parsed YAML mapping; ``root`` resolves relative dataset paths."""
    if data is None:
        raise ConfigError(f"{source}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_errors(exc, ExperimentConfig)}") from None
    if config.dataset.path and root is not None:
        path = Path(config.dataset.path).expanduser()
        if not path.is_absolute():
            path = (root / path).resolve()
        if not path.exists():
            raise ConfigError(f"{source}: dataset.path: not found: {path}")
        config.dataset.path = str(path)
    questions = config.dataset.questions
    if config.dataset.loader == "documents" and questions and root is not None:
        # A plain folder of documents has no place for questions: they sit beside the YAML.
        if not questions.startswith("hf:") and not Path(questions).expanduser().is_absolute():
            config.dataset.questions = str((root / questions).resolve())
    try:
        trials = expand(config)  # every sweep point must validate now, not halfway through a run
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if config.staged:
        names = [t.label for t in trials] + [t.trial_id for t in trials]
        for pin in config.staged.pin:
            if pin not in names:
                raise ConfigError(
                    f"{source}: staged.pin: no trial '{pin}'{suggest(pin, names)}; "
                    f"trials: {', '.join(t.label for t in trials)}"
                )
    return config


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML file.

    Raises:
        ConfigError: missing file, broken YAML, unknown key/name, wrong type, missing dataset.
    """
    path = Path(path)
    data = read_yaml(path)
    config = parse_config(data, source=str(path), root=path.parent)
    config._source = path
    return config
