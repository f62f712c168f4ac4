"""Test-set synthesis from the user's own documents: ``synthesize`` (``ragbench synth``).

Contract: ``synthesize(corpus, n, out, ...) -> SynthResult`` makes up to ``n`` ACCEPTED questions
from a folder of documents with the configured LLM and appends one JSON row per candidate
(accepted or rejected, with its reason) to ``out``, flushed as it completes; ``<out>.summary.json``
gets the counts. Bad input (missing or empty corpus, no prose, ``n < 1``, bad shares, an out file
of another model or seed) raises :class:`SynthError` with one line; an LLM that cannot be called at
all raises :class:`SynthLLMError` after the rows done so far are written.

How (modules of this package):
1. sampling: documents are cut into ~600-1000 character passages at sentence boundaries; passages
   with little prose are skipped; sources are drawn in a seeded round-robin over documents.
2. plan: each candidate gets a kind (``single``, ``multi``: two documents, ``unanswerable``) so the
   accepted questions follow the requested shares; at most 3 x n candidates are tried.
3. generate: one LLM call drafts question and answer; the evidence sentence is picked by ragbench
   (single: the passage's most fact-dense sentence) or quoted by the model (multi); cheap filters
   run first (``span not found``, ``not self-contained``, ``cites a source``, ``points at
   layout``, ``leaks the answer``, ``not specific to its document`` (BM25 over the corpus's
   documents, ``synth.specific``), ``duplicate``), then a second short LLM call checks the
   question against the evidence span(s) only (``not answerable from the span``) or, for an
   unanswerable question, against the top 3 BM25 passages of the whole corpus (``answerable from
   the corpus``); optional LLM steps (``other_doc_check``, ``both_check``) reject a question
   another document answers alike, or a multi-document one that one passage answers alone
   (``does not need both passages``). ``invalid output``: the JSON was unusable after retries.
   Gold spans are the document's own characters at the aligned offsets. Passages skipped before
   any LLM call (reference lists, author blocks, captions, tables, example prompts, mostly
   citations...) are counted per reason in the summary (``corpus.skipped_passages``).
4. Resume: a rerun with the same arguments reads the rows back, plans exactly the candidates that
   were still to come, and takes every LLM reply it already got from the results store's cache.

Row format (one JSON object per line; agreed with the question loader and the review notebook):
``question_id`` ("synth-" + 12 hex), ``user_input``, ``reference`` ("" when unanswerable),
``gold_doc_ids`` and ``gold_spans`` (from construction; [] when unanswerable), ``answerable``
(false only for kind "unanswerable"), ``kind``, ``status`` ("accepted" | "rejected"), ``reason``
("<filter name>: <detail>" or null) and ``provenance`` (``generator``, ``seed``, ``sources``:
doc_id/start/end/passage, ``spans``: doc_id/start/end, ``reviewed_by`` "filters", ``edited``
false, plus ``evidence`` before alignment, ``alignment``, ``rewritten_from``,
``checked_against``, ``embedding``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llama_index.core import Document
from tqdm.auto import tqdm

from ragbench import models
from ragbench.config.experiment import EmbeddingConfig, LLMConfig
from ragbench.data.readers import DataError
from ragbench.data.walk import inside
from ragbench.store import DEFAULT_DB
from ragbench.synth.filters import DUPLICATE_COS, Deduper
from ragbench.synth.generate import FILTERS, Worker
from ragbench.synth.llm import JsonCaller, SynthLLMError
from ragbench.synth.outfile import SynthError, make_row, read_rows, summary_path
from ragbench.synth.plan import KINDS, STOPS, Candidate, Plan
from ragbench.synth.result import SynthProgress, SynthResult
from ragbench.synth.sampling import PassageIndex, split_passages, stratified_order
from ragbench.synth.specific import SPECIFIC_MARGIN

__all__ = [
    "FILTERS",
    "KINDS",
    "SynthError",
    "SynthLLMError",
    "SynthProgress",
    "SynthResult",
    "synthesize",
]

OWN_DB = "the results file (synth's LLM cache), not a document"
BATCH = 4  # candidates per batch: their generation calls, then their checks, share prompt prefixes


def _documents(
    corpus: str | Path | Sequence[Document], follow_symlinks: bool, exclude: Mapping[Path, str]
) -> tuple[list[Document], list[str]]:
    """The corpus's documents and notes about skipped files; SynthError when there are none."""
    if isinstance(corpus, str | Path):
        from ragbench.data.corpus import load_corpus

        root = Path(corpus).expanduser()
        try:
            docs, skipped = load_corpus(root, follow_symlinks, exclude)
        except DataError as exc:
            raise SynthError(str(exc)) from None
        if not docs:
            why = "; ".join(f"{path}: {reason}" for path, reason in skipped[:3])
            raise SynthError(
                f"corpus {root} has no readable documents"
                + (f" ({len(skipped)} skipped: {why})" if skipped else " (the folder is empty)")
            )
        notes = (
            [f"{len(skipped)} file(s) skipped: {skipped[0][0]}: {skipped[0][1]}"] if skipped else []
        )
        return docs, notes
    docs = list(corpus)
    if not docs:
        raise SynthError("the corpus has no documents")
    return docs, []


def _check_args(n: int, multi: float, unanswerable: float, batch_size: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SynthError(f"n must be a whole number >= 1 (accepted questions wanted), got {n!r}")
    for name, share in (("multi", multi), ("unanswerable", unanswerable)):
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise SynthError(f"{name} must be a share between 0 and 1, got {share!r}")
    if multi + unanswerable > 1:
        raise SynthError(f"multi + unanswerable must be at most 1, got {multi} + {unanswerable}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SynthError(f"batch_size must be a whole number >= 1, got {batch_size!r}")


def _check_sources(rows: list[dict[str, Any]], texts: dict[str, str], out: Path) -> None:
    """Refuse to resume rows whose source passages are no longer in the corpus as they were."""
    for row in rows:
        for s in row["provenance"]["sources"]:
            text = texts.get(s.get("doc_id"), "")
            if text[s.get("start", 0) : s.get("end", 0)] != s.get("passage"):
                raise SynthError(
                    f"{out}: the corpus changed since row {row.get('question_id')} was written "
                    f"({s.get('doc_id')} differs): use --force to start it afresh, or another --out"
                )


def synthesize(
    corpus: str | Path | Sequence[Document],
    n: int,
    out: str | Path,
    *,
    llm: LLMConfig | None = None,
    embedding: EmbeddingConfig | None = None,
    seed: int = 0,
    multi: float = 0.15,
    unanswerable: float = 0.10,
    db: str | Path | None = DEFAULT_DB,
    force: bool = False,
    progress: bool = True,
    on_progress: Callable[[SynthProgress], None] | None = None,
    client: Any = None,
    embed_model: Any = None,
    batch_size: int = BATCH,
    duplicate_cos: float = DUPLICATE_COS,
    follow_symlinks: bool = False,
    exclude: Mapping[Path, str] | None = None,
    specific_margin: float | None = SPECIFIC_MARGIN,
    other_doc_check: bool = False,
    both_check: bool = False,
) -> SynthResult:
    """Generate ``n`` accepted questions from a corpus (see the module docstring).

    Args:
        corpus: a folder of documents (read like a qa-folder corpus) or LlamaIndex Documents.
        n: accepted questions wanted; at most 3 x n candidates are tried.
        out: the JSONL file rows are appended to; an existing file of the same generator and seed
            is resumed.
        llm: the generator and checker (default: the local model); ``embedding``: the embedder of
            the duplicate filter (default: the local one).
        seed: the source order and the question ids; with the model, the file's identity.
        multi, unanswerable: shares of the accepted questions of those kinds (single: the rest).
        db: the results file whose cache keeps every LLM reply (None: no cache, no resume of
            replies).
        force: start ``out`` afresh even if it holds rows of another model or seed.
        progress: show a progress bar; ``on_progress`` is called after every row.
        client, embed_model: ready-made LLM / embedding objects to use instead of building them
            from ``llm`` / ``embedding`` (tests, custom clients); the configs still name them.
        batch_size: candidates drafted before their checks (prompt-prefix reuse in llama.cpp).
        duplicate_cos: cosine similarity at or above which a question is a duplicate.
        follow_symlinks: read what links in the corpus folder point to outside it (see
            ``data.walk``; off, they are skipped with a reason).
        exclude: files or folders inside the corpus folder that are not documents -> why (the
            CLI passes ``--config``); ``db`` and its write-ahead log always are.
        specific_margin: the BM25 margin below which a single-passage question is not specific
            to its document (``synth.specific``; None: no such check).
        other_doc_check: also ask the LLM to answer each single-passage question from the best
            passage of another document, and reject it when that answer agrees (one more call).
        both_check: also ask the LLM to answer each multi-document question from each passage
            alone, and reject it when either answer agrees (two more calls).

    Raises:
        SynthError: bad input (one line). SynthLLMError: the LLM could not be called at all.
    """
    _check_args(n, multi, unanswerable, batch_size)
    out = Path(out).expanduser()
    if isinstance(corpus, str | Path) and inside(out, Path(corpus)):
        raise SynthError(
            f"--out {out} is inside the corpus folder {corpus}: the questions would be read as a "
            "document next time; write them elsewhere"
        )
    llm_cfg = llm or LLMConfig()
    embed_cfg = embedding or EmbeddingConfig()
    own = dict(exclude or {})
    if db is not None:
        own |= {Path(db): OWN_DB, Path(f"{db}.wal"): OWN_DB}
    docs, notes = _documents(corpus, follow_symlinks, own)
    texts = {d.id_: d.text for d in docs}
    passages = [p for d in docs for p in split_passages(d.id_, d.text)]
    order = stratified_order(passages, seed)
    if not order:
        problems = Counter(p.problem for p in passages)
        why = ", ".join(f"{k}: {v}" for k, v in problems.most_common(3)) or "no text"
        raise SynthError(
            f"no passage of the corpus's {len(docs)} document(s) is usable prose ({why})"
        )
    generator = models.llm_id(llm_cfg)
    rows = read_rows(out, generator, seed) if not force else []
    if out.is_dir():
        raise SynthError(f"out file is a folder: {out}")
    _check_sources(rows, texts, out)
    index = PassageIndex(passages)
    plan = Plan(n, multi, unanswerable, order, index)
    outcomes: Counter[str] = Counter()
    for row in rows:
        plan.record(row)
        outcomes[str(row.get("reason") or "accepted").split(":")[0]] += 1
    deduper = Deduper(embed_model or models.make_embedding(embed_cfg), duplicate_cos)
    deduper.add_many(
        [
            (r["question_id"], r["user_input"])
            for r in rows
            if (r.get("status") or "accepted") == "accepted"
        ]
    )
    store = None
    if db is not None:
        from ragbench.store import Store

        store = Store(db)
    caller = JsonCaller(client if client is not None else models.make_llm(llm_cfg), llm_cfg, store)
    worker = Worker(
        caller,
        texts,
        index,
        deduper,
        specific_margin=specific_margin,
        other_doc_check=other_doc_check,
        both_check=both_check,
    )
    extra = {"checker": generator, "embedding": models.embedding_id(embed_cfg)}
    start = time.perf_counter()
    new_accepted = 0
    stop: str | None = None
    out.parent.mkdir(parents=True, exist_ok=True)
    _drop_torn_line(out, force)
    bar = tqdm(
        total=n,
        initial=min(n, sum(plan.accepted.values())),
        desc="synth",
        unit="q",
        disable=not progress,
    )
    try:
        with out.open("w" if force else "a", encoding="utf-8") as fh:
            while (stop := plan.stop_reason()) is None:
                batch = plan.next_batch(batch_size, seed)
                if not batch:
                    stop = "passages"
                    break
                for c in sorted(batch, key=lambda c: KINDS.index(c.kind)):
                    worker.draft(c)
                for c in batch:
                    worker.screen(c)
                for c in sorted(batch, key=lambda c: c.kind == "unanswerable"):
                    worker.check(c)
                for c in batch:
                    worker.finish(c)
                    row = make_row(c, texts, generator, seed, extra)
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    fh.flush()
                    plan.record(row)
                    outcomes[_outcome(c)] += 1
                    new_accepted += c.reason is None
                    _tick(bar, plan, c, on_progress, time.perf_counter() - start)
    finally:
        bar.close()
        seconds = time.perf_counter() - start
        result = SynthResult(
            out=out,
            summary_file=summary_path(out),
            target=n,
            accepted=sum(plan.accepted.values()),
            candidates=sum(plan.tried.values()),
            kinds={k: plan.accepted.get(k, 0) for k in KINDS},
            rejected={name: outcomes.get(name, 0) for name in FILTERS},
            stopped=STOPS[stop].format(cap=plan.cap) if stop else "interrupted",
            seconds=seconds,
            accepted_per_minute=60 * new_accepted / seconds if seconds > 0 else 0.0,
            resumed=len(rows),
            llm=caller.stats.as_dict(),
            notes=notes + [f"{k}: {why}" for k, why in plan.unavailable.items()],
            skipped_passages=dict(
                Counter(p.problem.split(" (")[0] for p in passages if p.problem).most_common()
            ),
        )
        summary = result.as_dict() | {
            "settings": {
                "n": n,
                "multi": multi,
                "unanswerable": unanswerable,
                "seed": seed,
                "generator": generator,
                "embedding": extra["embedding"],
                "batch_size": batch_size,
                "duplicate_cos": duplicate_cos,
                "specific_margin": specific_margin,
                "other_doc_check": other_doc_check,
                "both_check": both_check,
            },
            "corpus": {
                "documents": len(docs),
                "passages": len(passages),
                "usable_passages": len(order),
                "skipped_passages": result.skipped_passages,
            },
        }
        summary_path(out).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return result


def _outcome(c: Candidate) -> str:
    return "accepted" if c.reason is None else c.reason.split(":")[0]


def _tick(
    bar: Any,
    plan: Plan,
    c: Candidate,
    on_progress: Callable[[SynthProgress], None] | None,
    elapsed: float,
) -> None:
    accepted, candidates = sum(plan.accepted.values()), sum(plan.tried.values())
    bar.set_postfix_str(f"{accepted}/{candidates} accepted/candidates", refresh=False)
    if c.reason is None and bar.n < bar.total:
        bar.update()
    else:
        bar.refresh()
    if on_progress is not None:
        last = "accepted" if c.reason is None else c.reason
        on_progress(SynthProgress(accepted, plan.n, candidates, plan.cap, last, elapsed))


def _drop_torn_line(out: Path, force: bool) -> None:
    """A run killed while writing leaves a last line without its newline: drop that line."""
    if force or not out.is_file():
        return
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        out.write_bytes(data[: data.rfind(b"\n") + 1])
