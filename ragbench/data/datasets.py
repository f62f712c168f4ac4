"""Datasets: a corpus and a question set, every named loader returning the same contract.

Contract (after BEIR's corpus/queries/qrels): ``load_dataset(cfg, limit=None) -> Dataset`` with
- ``corpus``: LlamaIndex ``Document`` objects with stable ``doc_id`` ids (see :mod:`ragbench.data.corpus`
  for ids, metadata and access control);
- ``questions``: :class:`Question` rows in the validated native schema (see
  :mod:`ragbench.data.questions`): ragas field names plus ``gold_doc_ids``, ``gold_spans``, optional
  graded ``gold_relevance`` and ``answerable`` (missing gold ids do not make a question
  unanswerable). Accepted rows only: rejected and pending ones are counted in one warning;
- ``skipped``: ``(file or record, reason)`` for every input that could not be read. One bad file or
  record never aborts a load;
- ``warnings``: problems the user should see but that do not stop a run (gold ids naming no
  document, with ``dataset.unknown_gold_ids: warn``; ignored hub columns; skipped rejected and
  pending questions).

A dataset that cannot be used at all (no folder, no readable document, no question, a row that
breaks the question schema, duplicate question ids, unknown gold ids by default) raises
:class:`DataError` with one line naming the file. Module map: ``readers`` (file formats -> text),
``corpus`` (folders, permissions, database rows), ``questions`` (schema, local files, hub sets),
this module (named loaders and the checks that need both corpus and questions).
"""

from __future__ import annotations

import difflib
import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core import Document

from ragbench.config.experiment import DatasetConfig
from ragbench.data.corpus import load_corpus, make_document, resolve_url, sql_documents
from ragbench.data.labelled import dataset_name, load_labelled, ready_made
from ragbench.data.questions import Question, read_questions
from ragbench.data.readers import DataError

# The contract's types, importable from here (experiment, cli and notebooks import this module).
__all__ = ["DataError", "Dataset", "Question", "load_dataset", "make_document"]

DEMO_DIR = Path(__file__).parents[1] / "demo"
QUESTIONS_FILE = "questions.jsonl"  # a qa-folder's question set unless `questions` names another
SHOWN = 5  # unknown gold ids listed in one message


@dataclass
class Dataset:
    """A corpus, its questions, and what could not be loaded; see the module docstring."""

    name: str
    corpus: list[Document]
    questions: list[Question]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or record, reason)
    warnings: list[str] = field(default_factory=list)

    @property
    def corpus_hash(self) -> str:
        """Content hash of the whole corpus: changes when any document's text or id changes."""
        digest = hashlib.sha256()
        for doc in sorted(self.corpus, key=lambda d: d.id_):
            # surrogatepass: loaders reject such text, but a hash must never be where it surfaces.
            digest.update(f"{doc.id_}\0{doc.text}\0".encode("utf-8", "surrogatepass"))
        return digest.hexdigest()[:16]

    def summary(self) -> str:
        """One line: documents by file type, questions, and each skipped input with its reason."""
        kinds = Counter(d.metadata.get("file_type", "?") for d in self.corpus)
        parts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        text = (
            f"{self.name}: {len(self.corpus)} documents ({parts}), {len(self.questions)} questions"
        )
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + "; ".join(
                f"{p} ({r})" for p, r in self.skipped
            )
        return text


def _hf_rows(path: Path, field: str | None = None) -> list[dict[str, Any]]:
    """Rows of a published dataset's local JSON file, read through Hugging Face ``datasets``.

    ``field`` names the top-level key holding the rows (SQuAD files keep them under "data").
    """
    import datasets

    if not path.is_file():
        raise DataError(f"question file not found: {path}")
    datasets.disable_progress_bars()
    try:
        table = datasets.load_dataset("json", data_files=str(path), field=field, split="train")
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a bad file
        raise DataError(f"cannot read questions from {path}: {exc}") from None
    return table.to_list()


Exclude = Mapping[Path, str]  # files and folders that are not documents -> why (see data.walk)
QUESTION_FILE_NOTE = "the experiment's question file, not a document"


def _corpus(
    cfg: DatasetConfig, root: Path, exclude: Exclude, questions: Path | None
) -> tuple[list[Document], list[tuple[str, str]]]:
    """``load_corpus`` with the config's link rule, leaving out ``exclude`` and the question file."""
    own = dict(exclude)
    if questions is not None:
        own[questions] = QUESTION_FILE_NOTE
    return load_corpus(root, cfg.follow_symlinks, own)


def _load_qa_folder(
    cfg: DatasetConfig, root: Path, name: str, exclude: Exclude, questions: str | None = None
) -> Dataset:
    source = questions or QUESTIONS_FILE
    docs, skipped = _corpus(cfg, root / "corpus", exclude, root / source)
    rows, warnings = read_questions(source, base=root)
    return Dataset(name, docs, rows, skipped, warnings)


def _load_demo(cfg: DatasetConfig, exclude: Exclude) -> Dataset:
    return _load_qa_folder(cfg, DEMO_DIR, "demo", exclude)


def _load_generic(cfg: DatasetConfig, exclude: Exclude) -> Dataset:
    if not cfg.path:
        raise DataError(
            "dataset loader 'qa-folder' needs 'path' (a folder with corpus/ and questions.jsonl)"
        )
    return _load_qa_folder(cfg, Path(cfg.path), Path(cfg.path).name, exclude, cfg.questions)


def _load_documents(cfg: DatasetConfig, exclude: Exclude) -> Dataset:
    """Any folder of documents (``path``) and a question file (``questions``): what
    ``ragbench init`` writes. A relative ``questions`` is resolved against the experiment file by
    ``load_config`` (in Python, against the working folder)."""
    if not cfg.path or not cfg.questions:
        raise DataError("dataset loader 'documents' needs 'path' (a folder) and 'questions'")
    root = Path(cfg.path)
    local = None if cfg.questions.startswith("hf:") else Path(cfg.questions).expanduser()
    docs, skipped = _corpus(cfg, root, exclude, local)
    source = Path(cfg.questions).expanduser()
    if not cfg.questions.startswith("hf:") and not source.exists():
        raise DataError(
            f"question file not found: {source}; write it with `ragbench synth {root} --n 100 "
            f"--out {source}`, or point dataset.questions at your own"
        )
    questions, warnings = read_questions(cfg.questions)
    return Dataset(root.name, docs, questions, skipped, warnings)


def _load_pg_essays(cfg: DatasetConfig, exclude: Exclude) -> Dataset:
    """Tonic Validate's Paul Graham essays: essays/*.txt + qa_pairs.json (essay, question, answer, quote)."""
    if not cfg.path:
        raise DataError(
            "dataset loader 'pg-essays' needs 'path' (e.g. ../shared/datasets/pg-essays)"
        )
    root = Path(cfg.path)
    docs, skipped = _corpus(cfg, root / "essays", exclude, None)
    questions = [
        Question(
            question_id=f"pg{i:02d}",
            user_input=row["question"],
            reference=row["answer"],
            gold_doc_ids=[row["essay"]],
            gold_spans=[row["quote"]] if row.get("quote") else [],
        )
        for i, row in enumerate(_hf_rows(root / "qa_pairs.json"))
    ]
    return Dataset("pg-essays", docs, questions, skipped)


COVID_QA_FILE = "200423_covidQA.json"  # the snapshot in ../shared (98 papers, 1,380 QA)


def _load_covid_qa(cfg: DatasetConfig, exclude: Exclude) -> Dataset:
    """deepset's COVID-QA (SQuAD format): one paper per ``context``, extractive QA on it.

    The file is read through `datasets` with ``field="data"``: Arrow keeps the nested
    data -> paragraphs -> qas -> answers structure as lists of structs, so no flattening is needed.
    doc_id is the paper's ``document_id`` (the file has no titles; the paper's title is the first
    line of its context and is kept as metadata). Every question has one answer: its text is both
    the reference and the gold span (it occurs verbatim in the paper, though ``answer_start`` is
    off for some of them, so the offset is not used).
    """
    if not cfg.path:
        raise DataError("dataset loader 'covid-qa' needs 'path' (e.g. ../shared/datasets/covid-qa)")
    path = Path(cfg.path)
    path = path / COVID_QA_FILE if path.is_dir() else path
    docs, questions, skipped = [], [], []
    for article in _hf_rows(path, field="data"):
        for paragraph in article["paragraphs"]:
            doc_id = str(paragraph["document_id"])
            context = paragraph["context"] or ""
            if not context.strip():
                skipped.append((f"{path.name}#{doc_id}", "no extractable text"))
                continue
            head = [line.strip() for line in context.splitlines()[:5] if line.strip()]
            url = next((line for line in head if line.startswith("http")), "")
            docs.append(
                make_document(
                    doc_id,
                    context,
                    title=head[0] if head else "",
                    url=url,
                    source=f"{path}#document_id={doc_id}",
                    file_type="paper",
                )
            )
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa["answers"] if a["text"]]
                questions.append(
                    Question(
                        question_id=str(qa["id"]),
                        user_input=qa["question"],
                        reference=answers[0] if answers else "",
                        gold_doc_ids=[doc_id] if answers else [],
                        gold_spans=answers[:1],
                        answerable=bool(answers),  # SQuAD: no answer = not in the paper
                    )
                )
    return Dataset("covid-qa", docs, questions, skipped)


def _load_sql(cfg: DatasetConfig, exclude: Exclude) -> Dataset:
    """Database rows as the corpus (``sql`` block), questions from ``questions``."""
    if cfg.sql is None or not cfg.questions:
        raise DataError("dataset loader 'sql' needs a 'sql' block and 'questions'")
    base = Path(cfg.path) if cfg.path else None
    url = resolve_url(cfg.sql.url, base)
    docs, skipped = sql_documents(url, cfg.sql.query, cfg.sql.id_column, cfg.sql.text_columns)
    questions, warnings = read_questions(cfg.questions, base=base)
    name = Path(cfg.path).name if cfg.path else "sql"
    return Dataset(name, docs, questions, skipped, warnings)


def _load_labelled(cfg: DatasetConfig, exclude: Exclude) -> Dataset:
    """A labelled answer set (BEGIN or a CSV) as ready-made records; see ``labelled.py``."""
    items = load_labelled(cfg.path or "", split=cfg.split)
    return Dataset(dataset_name(cfg.path or ""), *ready_made(items))


LOADERS: dict[str, Callable[[DatasetConfig, Exclude], Dataset]] = {
    "labelled": _load_labelled,
    "demo": _load_demo,
    "qa-folder": _load_generic,
    "documents": _load_documents,
    "pg-essays": _load_pg_essays,
    "covid-qa": _load_covid_qa,
    "sql": _load_sql,
}


def unknown_gold_ids(dataset: Dataset) -> str | None:
    """A one-line account of gold doc ids that name no corpus document, or None if all do.

    Lists the first few as ``question_id -> 'doc id'`` with the closest real id or, for a file
    that was skipped, the reason it was skipped.
    """
    known = {d.id_ for d in dataset.corpus}
    skipped = dict(dataset.skipped)
    unknown = [
        (q.question_id, doc_id)
        for q in dataset.questions
        for doc_id in dict.fromkeys([*q.gold_doc_ids, *(q.gold_relevance or {})])
        if doc_id not in known
    ]
    if not unknown:
        return None
    shown = []
    for qid, doc_id in unknown[:SHOWN]:
        if doc_id in skipped:
            hint = f" (skipped: {skipped[doc_id]})"
        else:
            close = difflib.get_close_matches(doc_id, known, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
        shown.append(f"{qid} -> '{doc_id}'{hint}")
    more = f" and {len(unknown) - SHOWN} more" if len(unknown) > SHOWN else ""
    return (
        f"dataset '{dataset.name}': {len(unknown)} gold doc id(s) name no document in the corpus: "
        + ", ".join(shown)
        + more
    )


def load_dataset(
    cfg: DatasetConfig, limit: int | None = None, exclude: Exclude | None = None
) -> Dataset:
    """Load the dataset a config names and check it as a whole.

    Args:
        cfg: the experiment's ``dataset`` block.
        limit: keep the first N questions (checks run on the whole set first).
        exclude: files or folders that are never documents, should they lie inside the corpus
            folder -> the reason listed in ``skipped`` (a run passes its YAML, results file and
            report folder); the question file is always one of them.

    Raises:
        DataError: the folder or question file is missing, a question row breaks the schema, no
            document could be read, question ids repeat, a gold id names no document (unless
            ``cfg.unknown_gold_ids`` is ``warn``), or ``limit`` is not a positive number.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DataError(f"limit must be a whole number of questions >= 1, got {limit!r}")
    dataset = LOADERS[cfg.loader](cfg, exclude or {})
    if not dataset.corpus:
        reasons = "; ".join(f"{p}: {r}" for p, r in dataset.skipped[:5]) or "the folder is empty"
        raise DataError(f"dataset '{dataset.name}' has no readable documents ({reasons})")
    if not dataset.questions:
        raise DataError(f"dataset '{dataset.name}' has no questions")
    ids = [q.question_id for q in dataset.questions]
    if len(set(ids)) != len(ids):
        dupes = sorted(k for k, n in Counter(ids).items() if n > 1)
        raise DataError(f"dataset '{dataset.name}': duplicate question ids {dupes[:5]}")
    problem = unknown_gold_ids(dataset)
    if problem and cfg.unknown_gold_ids == "error":
        raise DataError(f"{problem}; fix the questions or set dataset.unknown_gold_ids: warn")
    if problem:
        dataset.warnings.append(f"{problem}; they score as not retrieved")
    if limit is not None:
        dataset.questions = dataset.questions[:limit]
    return dataset
