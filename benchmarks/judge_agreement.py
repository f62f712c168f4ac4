"""Judge variants side by side on human labels: agreement, degenerate replies, cost.

Runs ``ragbench.judge.check.check_dataset`` (BEGIN, or a CSV of ``context, answer, label``) once
per judge variant, each into its own fresh results file so no variant is served from another's
cache, on the same seeded, label-stratified sample, one after the other. Printed per variant:

- judged questions per minute (the run's wall time, from an empty file);
- degenerate NLI replies (``ragbench.judge.degenerate.find`` applied to every NLI reply in the
  stored traces that judged two or more statements, the reply as the judge first gave it) and how
  many statements were re-asked;
- balanced accuracy and Cohen's kappa with 95% bootstrap intervals at each verdict threshold.

Thresholds are a choice tuned on labels: pick one on ``--split dev`` and report it on
``--split test`` with ``--thresholds`` set to that one value.

    python benchmarks/judge_agreement.py --split dev --limit 40 \
        --variants baseline,repair,single [--thresholds 0.5,0.75,1] [--keep DIR]

``--count DB`` instead counts the degenerate replies of every run already in a results file (e.g.
``make demo`` with ``judge.repair`` off and on) and exits.

Variants: ``baseline`` (no repair, statements judged together: the judge before issue 20),
``repair`` (the default: degenerate replies re-asked one statement at a time), ``single`` (every
statement asked alone), ``ragas`` (ragas' own prompts, with repair). Needs the local model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragbench.config.components import JudgeConfig
from ragbench.judge import degenerate
from ragbench.judge.check import agreement, check_dataset, fmt
from ragbench.store import Store

VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {"repair": False, "nli": "batch"},
    "repair": {"repair": True, "nli": "batch"},
    "single": {"repair": True, "nli": "single"},
    "ragas": {"repair": True, "nli": "batch", "prompts": "ragas"},
}


def first_replies(trace: list[dict[str, Any]]) -> list[tuple[list[str], list[degenerate.Judged]]]:
    """(statements, the NLI reply as first given) for each NLI call of one faithfulness score."""
    found: list[tuple[list[str], list[degenerate.Judged]]] = []
    statements: list[str] = []
    for step in trace:
        (name, body), *_ = step.items()
        if name == "StatementGeneratorOutput":
            statements = list(body.get("statements") or [])
        elif name.startswith("Verdicts") and statements:
            judged = [degenerate.Judged(v["reason"], int(v["verdict"])) for v in body["verdicts"]]
            found.append((statements, judged))
            statements = []  # a later "Verdicts" step is a re-ask, not a first reply
        elif name == "NLIStatementOutput" and statements:
            judged = [
                degenerate.Judged(s["reason"], int(s["verdict"]), s.get("statement"))
                for s in body["statements"]
            ]
            found.append((statements, judged))
            statements = []
    return found


def degenerate_counts(details: list[dict[str, Any]], echoed: bool) -> dict[str, int]:
    """Replies judging 2+ statements, how many were degenerate (by problem), statements re-asked."""
    out = {"several": 0, "degenerate": 0, "copied_reason": 0, "contradiction": 0, "reasked": 0}
    for d in details:
        out["reasked"] += int(d.get("judge_reasked") or 0)
        for statements, judged in first_replies(d.get("trace") or []):
            if len(statements) < 2:
                continue
            out["several"] += 1
            problems = degenerate.find(statements, judged, echoed)
            out["degenerate"] += bool(problems)
            for p in problems:
                if p.name in out:
                    out[p.name] += 1
    return out


def count_runs(db: Path) -> None:
    """Print the degenerate-reply counts of every run in a results file."""
    store = Store(db, read_only=True)
    for run_id in store.runs().run_id:
        info = store.run_info(run_id)
        scores = store.scores(run_id)
        judged = scores[(scores.metric == "faithfulness") & scores.details.notna()]
        details = [json.loads(d) for d in judged.details]
        judge = info.config.get("base", {}).get("judge", {})
        counts = degenerate_counts(details, echoed=judge.get("prompts") == "ragas")
        values = judged.value.dropna()
        print(
            f"{run_id} ({info.experiment}, repair {judge.get('repair')}, nli {judge.get('nli')}): "
            f"{len(judged)} faithfulness scores, mean {values.mean():.3f}; NLI replies judging "
            f"2+ statements {counts['several']}, degenerate {counts['degenerate']} (copied "
            f"{counts['copied_reason']}, contradictions {counts['contradiction']}); "
            f"re-asked {counts['reasked']}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="begin-wow")
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--variants", default="baseline,repair")
    parser.add_argument("--thresholds", default="0.5,0.67,0.75,1")
    parser.add_argument("--keep", type=Path, help="keep each variant's results file here")
    parser.add_argument("--count", type=Path, help="count degenerate replies in this results file")
    args = parser.parse_args(argv)
    if args.count:
        count_runs(args.count)
        return
    thresholds = [float(t) for t in args.thresholds.split(",")]
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"{args.dataset} {args.split}, {args.limit} items (seeded, label-stratified)")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="judge-agreement-"))
    folder.mkdir(parents=True, exist_ok=True)
    for name in args.variants.split(","):
        settings = VARIANTS[name]
        db = folder / f"{name}-{args.split}.duckdb"
        db.unlink(missing_ok=True)
        start = time.perf_counter()
        result = check_dataset(
            args.dataset,
            split=args.split,
            limit=args.limit,
            judge=JudgeConfig(provider="local", **settings),
            db=db,
            progress=False,
        )
        wall = time.perf_counter() - start
        scores = Store(db, read_only=True).scores(result.run_id)
        judged = scores[(scores.metric == "faithfulness") & scores.details.notna()]
        details = [json.loads(d) for d in judged.details]
        counts = degenerate_counts(details, echoed=settings.get("prompts") == "ragas")
        print(
            f"\n{name} ({', '.join(f'{k}={v}' for k, v in settings.items())}): "
            f"{result.n} judged, {result.n_failed} failed, {wall:.0f} s wall, "
            f"{60 * result.n / wall:.2f} judged questions/min"
        )
        print(
            f"  NLI replies judging 2+ statements: {counts['several']}, degenerate "
            f"{counts['degenerate']} (copied reasons {counts['copied_reason']}, contradictions "
            f"{counts['contradiction']}); statements re-asked {counts['reasked']}"
        )
        for threshold in thresholds:
            a = agreement(scores, threshold)
            c = a["counts"]
            lo, hi = a["balanced_accuracy_ci"]
            klo, khi = a["kappa_ci"]
            print(
                f"  threshold {threshold:g}: balanced accuracy {fmt(a['balanced_accuracy'])} "
                f"[{fmt(lo)}, {fmt(hi)}], kappa {fmt(a['kappa'])} [{fmt(klo)}, {fmt(khi)}], "
                f"confusion {c['tp']} / {c['fn']} ; {c['fp']} / {c['tn']}"
            )
    print(f"\nresults files: {folder}")


if __name__ == "__main__":
    main()
