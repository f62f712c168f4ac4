"""``ragbench init``: from a folder of documents to a ready-to-run experiment file.

Contract:
- ``inventory(folder)`` reads the folder with the corpus readers a run uses
  (``corpus.load_corpus``) and returns an :class:`Inventory`: every file's size, the documents
  read, and each file or record skipped with its reason. ``Inventory.lines()`` is the short
  account ``ragbench init`` prints (formats with counts and sizes, the largest files, what was
  skipped and why).
- ``init_experiment(folder, questions=None, out=None, name=None, force=False)`` checks the folder
  (no readable document: :class:`InitError`), validates ``questions`` now when given (schema,
  accepted rows, gold ids against the folder's documents), and writes a commented experiment YAML
  (default ``experiments/<name>.yaml``, never over an existing file without ``force``) that
  ``config.load_config`` loads: loader ``documents`` over the folder, the question file (given,
  or ``questions.jsonl`` beside the YAML for ``ragbench synth`` to write), local models, a 3 x 3
  sweep (chunk size x dense/bm25/hybrid, top_k 4) with staged search, metrics chosen from what
  the questions carry, a question count (for ``ragbench synth --n``), ``judge_limit`` and
  ``judge_budget`` that fit 30 minutes on this machine (``data.budget``, the arithmetic in a
  comment) and ``split: {test: 0.3}`` from 40 questions on. It returns an :class:`InitResult`
  whose ``lines()`` end with the next commands to run. The inventory also counts the lines the
  PDF reader dropped (references, headers, ...: ``data.pdf``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from llama_index.core import Document

from ragbench.config.experiment import load_config
from ragbench.config.validation import one_line
from ragbench.data.budget import Budget, plan_budget
from ragbench.data.corpus import load_corpus
from ragbench.data.datasets import Dataset, unknown_gold_ids
from ragbench.data.inventory import Inventory
from ragbench.data.questions import Question, read_questions
from ragbench.data.readers import DataError
from ragbench.data.walk import corpus_entries, inside, run_files
from ragbench.metrics import description as metric_note
from ragbench.metrics.text import content_words

CHUNK_SIZES = (256, 512, 1024)  # tokens: one chunk per fact, per paragraph, per section
RETRIEVERS = ("dense", "bm25", "hybrid")  # meaning, keywords, and the two fused
TOP_K = 4
TOP_N = 2  # trials staged search sends on to answers and LLM judging
SPLIT_FROM = 40  # questions: below this a 30% test split is too small to say anything
QUESTIONS_FILE = "questions.jsonl"
RESULTS_DB = Path("results") / "ragbench.duckdb"  # where `ragbench run` writes without --db


class InitError(ValueError):
    """Bad input for ``ragbench init``; the message is one line meant for the user."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "folder not found"
        raise InitError(f"{what}: {folder}")


def inventory(
    folder: Path, follow_symlinks: bool = False, exclude: Mapping[Path, str] | None = None
) -> tuple[Inventory, list[Document]]:
    """The folder's files and what the readers make of them; see the module docstring.

    ``follow_symlinks`` and ``exclude`` are ``load_corpus``'s: what a run of the written YAML
    would read is what is counted.

    Returns:
        The inventory, and the documents read (as a corpus for checking gold ids).

    Raises:
        InitError: the folder does not exist, is not a folder, or has no readable document.
    """
    _check_folder(folder)
    try:
        docs, skipped = load_corpus(folder, follow_symlinks, exclude)
        readable = [e for e in corpus_entries(folder, follow_symlinks, exclude) if not e.reason]
    except DataError as exc:
        raise InitError(str(exc)) from None
    files = {e.rel: e.path.stat().st_size for e in readable}
    dropped: dict[str, int] = {}
    for d in docs:
        for key, value in d.metadata.items():
            if key.startswith("dropped_") and isinstance(value, int):
                kind = key.removeprefix("dropped_")
                dropped[kind] = dropped.get(kind, 0) + value
    chars = sum(len(d.text) for d in docs)
    found = Inventory(folder, files, len(docs), skipped, dropped, chars)
    if not docs:
        why = "; ".join(f"{p}: {r}" for p, r in skipped[:3]) or "the folder is empty"
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        raise InitError(f"{folder}: no readable documents ({why}{more})")
    return found, docs


@dataclass
class QuestionSummary:
    """What a question set carries, which decides the metrics."""

    total: int
    answerable: int
    with_gold: int  # answerable, with gold doc ids
    with_spans: int
    reference_only: int  # answerable, no gold doc ids, a reference answer with a content word
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, questions: list[Question], warnings: list[str]) -> QuestionSummary:
        answerable = [q for q in questions if q.answerable]
        return cls(
            total=len(questions),
            answerable=len(answerable),
            with_gold=sum(bool(q.gold_doc_ids) for q in answerable),
            with_spans=sum(bool(q.gold_spans) for q in answerable),
            reference_only=sum(
                not q.gold_doc_ids and bool(content_words(q.reference)) for q in answerable
            ),
            warnings=warnings,
        )

    def line(self) -> str:
        return (
            f"{self.total} questions: {self.answerable} answerable ({self.with_gold} labelled "
            f"with gold documents, {self.reference_only} reference-only), "
            f"{self.total - self.answerable} unanswerable"
        )


def choose_metrics(summary: QuestionSummary | None) -> tuple[list[str], str | None]:
    """The metrics the questions can be scored on, and what staged search ranks by (or None).

    ``None`` stands for the set ``ragbench synth`` writes: gold documents and spans, reference
    answers and unanswerable questions.
    """
    gold = summary is None or summary.with_gold > 0
    spans = summary is None or summary.with_spans > 0
    reference = summary is not None and summary.reference_only > 0
    unanswerable = summary is None or summary.answerable < summary.total
    metrics = ["hit_rate", "mrr", "ndcg"] if gold else []
    metrics += ["span_coverage"] * spans + ["reference_recall"] * reference
    metrics += ["abstained"] * unanswerable + ["faithfulness", "answer_relevancy"]
    rank_by = "mrr" if gold else "reference_recall" if reference else None
    return metrics, rank_by


def experiment_name(folder: Path) -> str:
    """The folder's name as an experiment name (letters, digits, ``.``, ``_``, ``-``)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.resolve().name).strip("-._")[:100]
    return name or "experiment"


def experiment_yaml(
    name: str,
    folder: str,
    questions: str,
    found: Inventory,
    summary: QuestionSummary | None,
    follow_symlinks: bool = False,
    budget: Budget | None = None,
) -> str:
    """The commented experiment file (see the module docstring); paths relative to the YAML."""
    metrics, rank_by = choose_metrics(summary)
    budget = budget or plan_for(found, summary, rank_by)
    n = summary.total if summary else budget.questions
    formats = ", ".join(
        f"{files - bad} {ext}" for ext, (files, _, bad) in found.formats().items() if files > bad
    )
    origin = "your question file" if summary else "written by `ragbench synth` (not there yet)"
    lines = [
        f"# Experiment written by `ragbench init` on {date.today()} for {found.folder.name}/.",
        "# `ragbench validate <this file>` checks it; `ragbench run <this file>` runs it.",
        '# A list under `sweep:` means "try each value"; every other value is used as is.',
        f"name: {name}",
        f"description: {json.dumps(f'First sweep over {found.folder.name}: chunk size x retriever.')}",
        "",
        "# The data: every readable file under `path` is a document. init read "
        f"{found.documents} ({formats};",
        f"# {len(found.skipped)} skipped). `questions` is the question file. Relative paths start",
        "# from this file's folder.",
        "dataset:",
        "  loader: documents",
        f"  path: {json.dumps(folder)}",
        f"  questions: {json.dumps(questions)}   # {origin}",
        *(
            ["  follow_symlinks: true   # read what links point to outside the folder"]
            * follow_symlinks
        ),
        "",
        "# The set-up every trial starts from; the sweep below changes some of it.",
        "base:",
        "  chunking:",
        "    method: sentence     # chunks end between sentences",
        "    chunk_size: 512      # tokens per chunk (swept below)",
        "    chunk_overlap: 32    # tokens shared by neighbours: a fact on a boundary survives",
        "  embedding:",
        "    provider: local      # all-MiniLM-L6-v2 from a PyPI wheel: offline, CPU",
        "  retrieval:",
        "    method: dense        # swept below: dense (meaning), bm25 (keywords), hybrid (both)",
        f"    top_k: {TOP_K}             # chunks handed to the LLM per question",
        "  generation:",
        "    llm: {provider: local, max_tokens: 200}  # local Qwen2.5 1.5B; `ragbench models`",
        "  judge: {provider: local}  # the LLM that scores answers; the same for every trial",
        "",
        f"# Every combination is a trial: {len(CHUNK_SIZES)} x {len(RETRIEVERS)} = "
        f"{len(CHUNK_SIZES) * len(RETRIEVERS)} trials.",
        "sweep:",
        f"  chunking.chunk_size: [{', '.join(map(str, CHUNK_SIZES))}]",
        f"  retrieval.method: [{', '.join(RETRIEVERS)}]",
        "",
    ]
    if rank_by:
        lines += [
            "# Staged search: every trial retrieves for every question (seconds); only the",
            "# top_n by rank_by are answered and LLM-judged (minutes per question).",
            f"staged: {{rank_by: {rank_by}, top_n: {TOP_N}}}",
        ]
    else:
        lines.append("# No staged search: the questions carry nothing a retrieval metric can use.")
    lines += ["", "# What is measured, per question:"]
    lines += [f"#   {m}: {metric_note(m)}" for m in metrics]
    lines += [f"metrics: [{', '.join(metrics)}]", "", *budget.comment()]
    lines += [
        f"judge_limit: {budget.judge_limit}  # questions answered + judged per trial",
        f"judge_budget: {{verdicts: {budget.verdicts}}}  # judged (question, trial) pairs in all",
    ]
    split = "split: {test: 0.3}"
    why = "choose the best trial on 70% of the questions, report it on the other 30%"
    if n is None or n >= SPLIT_FROM:
        lines += [f"{split}  # {why}"]
    else:
        lines += [f"# {split}  # from {SPLIT_FROM} questions on: {why}"]
    lines += ["seed: 0  # the judged sample and the split: the same on every run", ""]
    return "\n".join(lines)


def plan_for(found: Inventory, summary: QuestionSummary | None, rank_by: str | None) -> Budget:
    """The 30-minute plan for this corpus: staged search judges ``TOP_N`` trials, else all."""
    trials = len(CHUNK_SIZES) * len(RETRIEVERS)
    judged = TOP_N if rank_by else trials
    given = summary.total if summary else None
    return plan_budget(found.chars, CHUNK_SIZES, trials, judged, given)


def _from(yaml_dir: Path, target: Path) -> str:
    """``target`` as the YAML should name it: relative to its folder when they share more than
    the filesystem root (the pair can move together), else absolute."""
    target = target.expanduser().resolve()
    if os.path.commonpath([yaml_dir, target]) == yaml_dir.anchor:
        return target.as_posix()
    return Path(os.path.relpath(target, yaml_dir)).as_posix()


@dataclass
class InitResult:
    """What ``init_experiment`` found and wrote, and what to run next."""

    inventory: Inventory
    questions: QuestionSummary | None
    path: Path
    name: str
    trials: int
    next_commands: list[str]
    notes: list[str] = field(default_factory=list)
    budget: Budget | None = None

    def lines(self) -> list[str]:
        out = self.inventory.lines()
        if self.questions is not None:
            out += [f"warning: {w}" for w in self.questions.warnings]
            out.append(f"questions: {self.questions.line()}")
        out.append(f"wrote {self.path} (experiment {self.name}, {self.trials} trials)")
        if self.budget is not None:
            out += [line.removeprefix("# ") for line in self.budget.comment()]
        return [*out, *self.notes, "next:", *[f"  {c}" for c in self.next_commands]]


def init_experiment(
    folder: str | Path,
    questions: str | Path | None = None,
    out: str | Path | None = None,
    name: str | None = None,
    force: bool = False,
    follow_symlinks: bool = False,
) -> InitResult:
    """Inventory ``folder`` and write its experiment file; see the module docstring.

    The experiment's own files are left out of the inventory, as a run leaves them out of the
    corpus: the YAML, the question file, the default results file and report folder. The
    question file named for ``ragbench synth`` is never inside ``folder`` (synth refuses that):
    with the YAML inside it, the file goes beside the folder.

    Raises:
        InitError: no readable document, a bad ``name``, ``out`` exists (without ``force``) or is
            a folder, or the question file is unusable (schema, no accepted row, unknown gold ids).
    """
    folder = Path(folder).expanduser()
    _check_folder(folder)
    name = name if name is not None else experiment_name(folder)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise InitError(f"--name '{name}': use letters, digits, '.', '_' and '-' (a folder name)")
    path = Path(out).expanduser() if out is not None else Path("experiments") / f"{name}.yaml"
    if path.is_dir():
        raise InitError(f"--out {path} is a folder: name the YAML file to write")
    if path.exists() and not force:
        raise InitError(f"{path} exists: use --force to overwrite it, or --out another file")
    target = Path(questions).expanduser() if questions is not None else path.parent / QUESTIONS_FILE
    if questions is None and inside(target, folder):
        target = folder.resolve().parent / f"{name}-{QUESTIONS_FILE}"
    own = {
        **run_files(RESULTS_DB, name),
        path: "the experiment file init writes, not a document",
        target: "the experiment's question file, not a document",
    }
    found, docs = inventory(folder, follow_symlinks, own)
    summary = None
    if questions is not None:
        try:
            rows, warnings = read_questions(Path(questions).expanduser())
        except DataError as exc:
            raise InitError(str(exc)) from None
        problem = unknown_gold_ids(Dataset(found.folder.name, docs, rows, found.skipped))
        if problem:
            raise InitError(f"{problem}; fix the question file")
        summary = QuestionSummary.of(rows, warnings)
    yaml_dir = path.parent.resolve()
    beside = questions is None and target.parent.resolve() == yaml_dir
    rel_questions = QUESTIONS_FILE if beside else _from(yaml_dir, target)
    budget = plan_for(found, summary, choose_metrics(summary)[1])
    text = experiment_yaml(
        name, _from(yaml_dir, folder), rel_questions, found, summary, follow_symlinks, budget
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InitError(f"cannot write {path}: {exc.strerror or exc}") from None
    trials = len(CHUNK_SIZES) * len(RETRIEVERS)
    load_config(path)  # what was written must load: a failure here is a bug, said loudly
    run = f"ragbench run {path}"
    notes = []
    if questions is not None:
        commands = [run]
    else:
        links = " --follow-symlinks" * follow_symlinks
        commands = [f"ragbench synth {folder} --n {budget.questions} --out {target}{links}", run]
        if not beside:
            notes.append(
                f"note: the question file goes beside {folder}, not inside it, where it would be "
                "read as a document"
            )
        if target.exists():
            notes.append(f"note: {target} exists already; the experiment reads it as it is")
    return InitResult(found, summary, path, name, trials, commands, notes, budget)
