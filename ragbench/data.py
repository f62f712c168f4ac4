"""Datasets: corpora and question sets, every loader returning the same contract.

Contract (after BEIR's corpus/queries/qrels): ``load_dataset(cfg) -> Dataset`` with
- ``corpus``: LlamaIndex ``Document`` objects whose ``id_`` is a stable ``doc_id`` (the file's path
  relative to the corpus root, forward slashes) and whose metadata holds ``doc_id``, ``source`` and
  ``file_type``;
- ``questions``: :class:`Question` rows using ragas field names (``user_input``, ``reference``) plus
  the gold evidence: ``gold_doc_ids`` and, where the set has them, verbatim ``gold_spans``;
- ``skipped``: files that could not be read and why. One bad file never aborts a load.

Question sets are read through Hugging Face ``datasets`` (``load_dataset("json", ...)``): from local
files offline, and the same call takes a hub id when a user is online.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core import Document

from ragbench.config import DatasetConfig

DEMO_DIR = Path(__file__).parent / "demo"


class DataError(ValueError):
    """A dataset that cannot be used at all (missing folder, no readable documents, no questions)."""


@dataclass
class Question:
    question_id: str
    user_input: str
    reference: str
    gold_doc_ids: list[str] = field(default_factory=list)  # empty: the corpus cannot answer it
    gold_spans: list[str] = field(default_factory=list)


@dataclass
class Dataset:
    name: str
    corpus: list[Document]
    questions: list[Question]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def corpus_hash(self) -> str:
        """Content hash of the whole corpus: changes when any document's text or id changes."""
        digest = hashlib.sha256()
        for doc in sorted(self.corpus, key=lambda d: d.id_):
            digest.update(doc.id_.encode() + b"\0" + doc.text.encode() + b"\0")
        return digest.hexdigest()[:16]

    def summary(self) -> str:
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


# --- document readers: file -> text ----------------------------------------------------------------


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def _read_html(path: Path) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes().decode("utf-8"), "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(path)
    if reader.is_encrypted:
        raise ValueError("encrypted PDF")
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _read_docx(path: Path) -> str:
    import docx

    return "\n".join(p.text for p in docx.Document(str(path)).paragraphs if p.text.strip())


def _read_pptx(path: Path) -> str:
    from pptx import Presentation

    texts = []
    for number, slide in enumerate(Presentation(str(path)).slides, start=1):
        texts.append(f"Slide {number}")
        texts += [s.text_frame.text for s in slide.shapes if s.has_text_frame and s.text_frame.text]
    return "\n".join(texts)


READERS: dict[str, Callable[[Path], str]] = {
    ".txt": _read_text,
    ".md": _read_text,
    ".markdown": _read_text,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
    ".pptx": _read_pptx,
}


def load_corpus(root: Path) -> tuple[list[Document], list[tuple[str, str]]]:
    """Read every supported file under ``root`` into Documents; return them and the skipped files."""
    if not root.is_dir():
        raise DataError(f"corpus folder not found: {root}")
    docs, skipped = [], []
    files = (p for p in root.rglob("*") if p.is_file())
    # Hidden files and folders (.git, .ipynb_checkpoints copies) are not part of the corpus.
    for path in sorted(
        p for p in files if not any(s.startswith(".") for s in p.relative_to(root).parts)
    ):
        rel = path.relative_to(root).as_posix()
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            skipped.append((rel, f"unsupported extension '{path.suffix}'"))
            continue
        try:
            text = reader(path)
        except UnicodeDecodeError:
            skipped.append((rel, "undecodable bytes (not UTF-8)"))
            continue
        except Exception as exc:  # noqa: BLE001 - any reader failure skips that one file
            skipped.append(
                (rel, f"unreadable {path.suffix[1:]}: {type(exc).__name__}: {exc}"[:200])
            )
            continue
        if not text.strip():
            skipped.append((rel, "no extractable text"))
            continue
        docs.append(make_document(rel, text, source=str(path), file_type=path.suffix[1:].lower()))
    return docs, skipped


def make_document(doc_id: str, text: str, **metadata: Any) -> Document:
    """A Document with a stable id; metadata stays out of the embedded and prompted text."""
    meta = {"doc_id": doc_id, **metadata}
    return Document(
        id_=doc_id,
        text=text,
        metadata=meta,
        excluded_embed_metadata_keys=list(meta),
        excluded_llm_metadata_keys=list(meta),
    )


# --- question sets ----------------------------------------------------------------------------------


def _hf_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a local JSON/JSONL file, read through Hugging Face `datasets`."""
    import datasets

    if not path.is_file():
        raise DataError(f"question file not found: {path}")
    datasets.disable_progress_bars()
    try:
        table = datasets.load_dataset("json", data_files=str(path), split="train")
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a bad file
        raise DataError(f"cannot read questions from {path}: {exc}") from None
    return table.to_list()


def _qa_rows(path: Path) -> list[Question]:
    """The native question schema (see ragbench/demo/README.md)."""
    questions = []
    for i, row in enumerate(_hf_rows(path)):
        # `datasets` fills a field missing from some rows with None rather than raising.
        for name in ("question_id", "user_input"):
            if row.get(name) is None or not str(row[name]).strip():
                raise DataError(f"{path}: row {i} lacks field '{name}'")
        questions.append(
            Question(
                question_id=str(row["question_id"]),
                user_input=row["user_input"],
                reference=row.get("reference") or "",
                gold_doc_ids=list(row.get("gold_doc_ids") or []),
                gold_spans=list(row.get("gold_spans") or []),
            )
        )
    return questions


def _load_qa_folder(root: Path, name: str) -> Dataset:
    docs, skipped = load_corpus(root / "corpus")
    return Dataset(name, docs, _qa_rows(root / "questions.jsonl"), skipped)


def _load_demo(cfg: DatasetConfig) -> Dataset:
    return _load_qa_folder(DEMO_DIR, "demo")


def _load_generic(cfg: DatasetConfig) -> Dataset:
    if not cfg.path:
        raise DataError(
            "dataset loader 'qa-folder' needs 'path' (a folder with corpus/ and questions.jsonl)"
        )
    return _load_qa_folder(Path(cfg.path), Path(cfg.path).name)


def _load_pg_essays(cfg: DatasetConfig) -> Dataset:
    """Tonic Validate's Paul Graham essays: essays/*.txt + qa_pairs.json (essay, question, answer, quote)."""
    if not cfg.path:
        raise DataError(
            "dataset loader 'pg-essays' needs 'path' (e.g. ../shared/datasets/pg-essays)"
        )
    root = Path(cfg.path)
    docs, skipped = load_corpus(root / "essays")
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


LOADERS: dict[str, Callable[[DatasetConfig], Dataset]] = {
    "demo": _load_demo,
    "qa-folder": _load_generic,
    "pg-essays": _load_pg_essays,
}


def load_dataset(cfg: DatasetConfig, limit: int | None = None) -> Dataset:
    """Load the dataset a config names; ``limit`` keeps the first N questions.

    Raises:
        DataError: the folder or question file is missing, or no document could be read.
    """
    dataset = LOADERS[cfg.loader](cfg)
    if not dataset.corpus:
        reasons = "; ".join(f"{p}: {r}" for p, r in dataset.skipped[:5]) or "the folder is empty"
        raise DataError(f"dataset '{dataset.name}' has no readable documents ({reasons})")
    if not dataset.questions:
        raise DataError(f"dataset '{dataset.name}' has no questions")
    ids = [q.question_id for q in dataset.questions]
    if len(set(ids)) != len(ids):
        dupes = sorted(k for k, n in Counter(ids).items() if n > 1)
        raise DataError(f"dataset '{dataset.name}': duplicate question ids {dupes[:5]}")
    if limit is not None:
        dataset.questions = dataset.questions[:limit]
    return dataset


def write_questions(path: Path, questions: list[Question]) -> None:
    """Write questions in the native JSONL schema (used by tests and by users building sets)."""
    with path.open("w") as out:
        for q in questions:
            out.write(json.dumps(q.__dict__) + "\n")
