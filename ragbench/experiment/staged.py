"""The staged-search stage: after retrieval, keep the trials that go on to be answered and judged.

Contract: ``select_trials(ctx, trials)`` returns every trial when the experiment has no
``staged:`` block or no more trials than ``top_n``. Otherwise it ranks the trials by
``staged.rank_by`` (the retrieval scores ``ctx.rank_scores`` holds, on the dev questions when the
experiment holds some out) with ``stats.order_trials`` (the one best-trial rule the gate and the
report use), keeps the best ``top_n`` plus pinned ones (by label or trial id), and stores each
trial's decision on its row: the stage it reached (``answer+judge`` when kept, ``retrieval`` when
pruned) and why, with its rank and mean.
"""

from __future__ import annotations

import pandas as pd

from ragbench.config.experiment import Trial
from ragbench.data.splits import dev_scores
from ragbench.experiment.context import RunContext
from ragbench.records import ANSWER_JUDGE, RETRIEVAL
from ragbench.stats import order_trials


def select_trials(ctx: RunContext, trials: list[Trial]) -> list[Trial]:
    """The trials that go on to be answered and judged (see the module docstring)."""
    staged = ctx.config.staged
    if staged is None or len(trials) <= staged.top_n:
        return trials
    labels = {t.trial_id: t.label for t in trials}
    frame = pd.DataFrame(ctx.rank_scores, columns=["trial_id", "question_id", "value"])
    frame = dev_scores(frame[frame.trial_id.isin(labels)], ctx.splits)  # chosen on dev
    frame = frame.assign(metric=staged.rank_by, label=frame.trial_id.map(labels))
    ranking = order_trials(frame, staged.rank_by)
    order = [str(t) for t in ranking.trial_id]
    means = dict(zip(order, ranking["mean"], strict=True))
    order += [t.trial_id for t in trials if t.trial_id not in order]  # never scored: last
    keep_ids = set(order[: staged.top_n])
    pinned = {t.trial_id for t in trials if t.label in staged.pin or t.trial_id in staged.pin}
    decisions = {}
    for rank, trial_id in enumerate(order, start=1):
        mean = means.get(trial_id)
        value = "no score" if mean is None or mean != mean else f"{mean:.3f}"
        where = f"{staged.rank_by} {value}, rank {rank} of {len(trials)}"
        if trial_id in keep_ids:
            decisions[trial_id] = (ANSWER_JUDGE, f"kept: {where} (top {staged.top_n})")
        elif trial_id in pinned:
            decisions[trial_id] = (ANSWER_JUDGE, f"kept: pinned ({where})")
        else:
            decisions[trial_id] = (RETRIEVAL, f"pruned: {where}; top {staged.top_n} go on")
    ctx.store.set_stage(ctx.run_id, decisions)
    return [t for t in trials if decisions[t.trial_id][0] == ANSWER_JUDGE]
