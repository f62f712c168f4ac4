"""What fits in 30 minutes on this machine: the question count and judged budget ``init`` proposes.

Contract: ``plan_budget(chars, chunk_sizes, trials, top_n, given=None) -> Budget``. From the
corpus size (characters) and the experiment's shape it estimates, with the measured costs below,
the retrieval sweep (embedding every chunk of every chunk size once, plus one retrieval per
question per trial), then splits the rest of :data:`WALL_SECONDS` between synthesis
(:data:`SYNTH_SHARE`; none when the user gave questions: ``given``) and judging (verdicts: one
question answered and judged for one trial, ``top_n`` trials per question under staged search).
``Budget.comment()`` is the arithmetic, as comment lines for the YAML ``init`` writes. When even
the sweep does not fit, the minimums (:data:`MIN_QUESTIONS`, :data:`MIN_VERDICTS`) are proposed
and ``fits`` is False.

The costs are named constants with their date and source; the lead updates them after measuring
the new synth on an idle machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WALL_SECONDS = 30 * 60  # issue 21: a folder of PDFs to a decision in 30 minutes on 2 cores
# 2026-12-02, docs/benchmarks.md "Question synthesis": local Qwen2.5-Coder-1.5B on 2 cores,
# pg-essays, 100 accepted of 207 candidates (the filters of issue 21 part 1 not yet measured).
SYNTH_ACCEPTED_PER_MINUTE = 1.5
# docs/judging.md and docs/status.md (2026-12): ~30-60 s per judged question with the local 1.5B
# judge on 2 cores (answer + faithfulness + answer relevancy); the middle of that range.
JUDGED_SECONDS = 45.0
# 2026-12-01, benchmarks/ingest_throughput.py: all-MiniLM-L6-v2 index build, 2 cores.
EMBED_CHUNKS_PER_SECOND = 25.0
# 2026-12-01, benchmarks/retrieval_sweep.py: 2,000 retrievals (query embedded) in 22.1 s.
RETRIEVAL_SECONDS = 0.011
CHARS_PER_TOKEN = 4.0  # English prose, for chunks of N tokens
SYNTH_SHARE = 0.5  # of the time left after the sweep: half to make questions, half to judge
MIN_QUESTIONS = 10  # fewer say nothing about a ranking
MIN_VERDICTS = 6  # 3 judged questions for each of 2 trials


@dataclass(frozen=True)
class Budget:
    """The plan (see the module docstring); seconds are estimates."""

    questions: int  # to synthesize; the given set's size when the user gave questions
    verdicts: int  # judged (question, trial) pairs: judge_budget
    judge_limit: int  # judged questions per trial
    chunks: int
    sweep_s: float
    synth_s: float
    judge_s: float
    given: bool
    fits: bool

    def comment(self) -> list[str]:
        """The arithmetic, as YAML comment lines."""
        minutes = (self.sweep_s + self.synth_s + self.judge_s) / 60
        made = (
            f"your {self.questions} questions"
            if self.given
            else (
                f"synth {self.questions} questions at {SYNTH_ACCEPTED_PER_MINUTE:g}/min = "
                f"{self.synth_s / 60:.0f} min"
            )
        )
        lines = [
            f"# {WALL_SECONDS // 60}-minute plan on this machine (ragbench/data/budget.py, measured "
            "costs): retrieval sweep",
            f"# ~{self.sweep_s / 60:.1f} min ({self.chunks:,} chunks embedded at "
            f"{EMBED_CHUNKS_PER_SECOND:g}/s + retrievals); {made};",
            f"# judging {self.verdicts} verdicts ({self.verdicts // self.judge_limit} trials x "
            f"{self.judge_limit} questions) at ~{JUDGED_SECONDS:g} s = {self.judge_s / 60:.0f} "
            f"min. Total ~{minutes:.0f} min.",
        ]
        if not self.fits:
            lines.append(
                "# It does not fit: the sweep alone takes most of the time. These are minimums; "
                "expect longer."
            )
        return lines


def plan_budget(
    chars: int,
    chunk_sizes: Sequence[int],
    trials: int,
    top_n: int,
    given: int | None = None,
) -> Budget:
    """The question count and judged budget that fit :data:`WALL_SECONDS` (module docstring)."""
    chunks = sum(math.ceil(chars / (size * CHARS_PER_TOKEN)) for size in chunk_sizes)
    embed_s = chunks / EMBED_CHUNKS_PER_SECOND
    per_question = trials * RETRIEVAL_SECONDS  # every trial retrieves for every question
    left = WALL_SECONDS - embed_s
    if given is not None:
        questions = given
        judge_s = left - questions * per_question
    else:
        # synth's share buys questions, each of which also costs its retrievals
        questions = int(SYNTH_SHARE * left / (60 / SYNTH_ACCEPTED_PER_MINUTE + per_question))
        judge_s = left - questions * (60 / SYNTH_ACCEPTED_PER_MINUTE + per_question)
    verdicts = int(judge_s / JUDGED_SECONDS) // top_n * top_n
    fits = (given is not None or questions >= MIN_QUESTIONS) and verdicts >= MIN_VERDICTS
    if given is None:
        questions = max(questions, MIN_QUESTIONS)
    verdicts = max(verdicts, MIN_VERDICTS)
    synth_s = 0.0 if given is not None else questions * 60 / SYNTH_ACCEPTED_PER_MINUTE
    return Budget(
        questions=questions,
        verdicts=verdicts,
        judge_limit=max(1, verdicts // top_n),
        chunks=chunks,
        sweep_s=embed_s + questions * per_question,
        synth_s=synth_s,
        judge_s=verdicts * JUDGED_SECONDS,
        given=given is not None,
        fits=fits,
    )
