"""Corpus readers and dataset loaders on real files written here by the libraries that make them.

Covers: .docx, .pptx, .pdf (plain, password-encrypted, owner-only encrypted, corrupt), CSV and Excel
rows, JSON/JSONL records, skip reasons, `_permissions.json`, the `sql` loader (SQLite and DuckDB)
and the covid-qa loader on ../shared/datasets.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.schema import MetadataMode

from ragbench.config.experiment import ConfigError, DatasetConfig, parse_config
from ragbench.data.corpus import load_corpus, load_sql
from ragbench.data.datasets import DataError, Dataset, load_dataset
from ragbench.data.questions import Question, write_questions

COVID_QA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "covid-qa"


def collapse(text: str) -> str:
    return " ".join(text.split())


# --- fixture writers ------------------------------------------------------------------------------


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Harbour Report", level=1)
    document.add_paragraph("The east pier reopened in March after repairs.")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Pier", "Status"), ("East", "open")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.save(str(path))


def write_pptx(path: Path) -> None:
    from pptx import Presentation

    deck = Presentation()
    for title, body in [("Budget 2025", "Spending rose 4 percent."), ("Staffing", "Nine hires.")]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(str(path))


def pdf_bytes(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def encrypted_pdf_bytes(text: str, user_password: str) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(pdf_bytes(text)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret")  # RC4: no extras
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def write_xlsx(path: Path) -> None:
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Branches"
    sheet.append(["name", "opened", "seats"])
    sheet.append(["Quayside", dt.date(1998, 5, 1), 40])
    sheet.append([None, None, None])  # an empty row keeps its number but makes no document
    sheet.append(["Hilltop", dt.date(2011, 9, 12), 12.0])
    extra = book.create_sheet("Vans")
    extra.append(["van", "route"])
    extra.append(["V1", "coast road"])
    book.save(path)


def write_corpus(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue()


def by_id(docs: list[Any]) -> dict[str, Any]:
    return {d.id_: d for d in docs}


# --- office formats and PDFs -----------------------------------------------------------------------


def test_docx_and_pptx(tmp_path: Path) -> None:
    write_docx(tmp_path / "report.docx")
    write_pptx(tmp_path / "deck.pptx")
    docs, skipped = load_corpus(tmp_path)
    assert skipped == []
    docs = by_id(docs)
    report = docs["report.docx"]
    assert "The east pier reopened in March" in report.text
    assert "East\topen" in report.text  # table cells are read too
    assert report.metadata["file_type"] == "docx"
    assert report.metadata["source"] == str(tmp_path / "report.docx")
    deck = docs["deck.pptx"]
    assert deck.metadata["slides"] == 2
    assert "Slide 1" in deck.text and "Spending rose 4 percent." in deck.text
    assert "Slide 2" in deck.text and "Nine hires." in deck.text


def test_pdf_plain_encrypted_and_corrupt(tmp_path: Path) -> None:
    write_corpus(
        tmp_path,
        {
            "plain.pdf": pdf_bytes("The tide gauge was installed in 1903."),
            "locked.pdf": encrypted_pdf_bytes("Secret minutes.", user_password="pw"),
            # Owner password only: every viewer opens it without asking, and so do we.
            "restricted.pdf": encrypted_pdf_bytes("Printing is restricted.", user_password=""),
            "corrupt.pdf": random.Random(1).randbytes(2048),
            "truncated.pdf": pdf_bytes("cut short")[:200],
        },
    )
    docs, skipped = load_corpus(tmp_path)
    docs = by_id(docs)
    assert set(docs) == {"plain.pdf", "restricted.pdf"}
    assert "tide gauge was installed in 1903" in docs["plain.pdf"].text
    assert docs["plain.pdf"].metadata["pages"] == 1
    assert "Printing is restricted." in docs["restricted.pdf"].text
    reasons = dict(skipped)
    assert reasons["locked.pdf"] == "encrypted PDF"
    assert reasons["corrupt.pdf"].startswith("corrupt pdf: ")
    assert reasons["truncated.pdf"].startswith("corrupt pdf: ")


def test_skip_reasons_are_specific(tmp_path: Path) -> None:
    write_corpus(
        tmp_path,
        {
            "good.md": "A good document.",
            "notes.xyz": "unknown format",
            "latin1.txt": b"caf\xe9",
            "empty.txt": b"",
            "blank.md": "   \n",
            "broken.docx": b"not a zip file",
            "broken.xlsx": b"not a zip file either",
            "header-only.csv": "a,b\n",
            "bad.json": "{not json",
            "scalar.json": "42",
        },
    )
    docs, skipped = load_corpus(tmp_path)
    assert [d.id_ for d in docs] == ["good.md"]
    reasons = dict(skipped)
    assert reasons == {
        "notes.xyz": "unsupported extension '.xyz'",
        "latin1.txt": "undecodable bytes (not UTF-8)",
        "empty.txt": "empty file",
        "blank.md": "no extractable text",
        "broken.docx": reasons["broken.docx"],
        "broken.xlsx": reasons["broken.xlsx"],
        "header-only.csv": "no records",
        "bad.json": reasons["bad.json"],
        "scalar.json": "JSON top level is a int, not a list or object",
    }
    assert reasons["broken.docx"].startswith("corrupt docx: ")
    assert reasons["broken.xlsx"].startswith("corrupt xlsx: ")
    assert reasons["bad.json"].startswith("invalid JSON: ")


def test_summary_counts_types_and_lists_skips(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus", {"a.md": "alpha", "b.csv": "x\n1\n2\n", "c.xyz": "?"})
    (tmp_path / "questions.jsonl").write_text(
        json.dumps({"question_id": "q", "user_input": "?", "reference": ""}) + "\n"
    )
    ds = load_dataset(DatasetConfig(loader="qa-folder", path=str(tmp_path)))
    assert "3 documents (2 csv, 1 md)" in ds.summary()
    assert "skipped 1: c.xyz (unsupported extension '.xyz')" in ds.summary()


# --- tables ----------------------------------------------------------------------------------------


def test_csv_rows_become_documents(tmp_path: Path) -> None:
    rows = [["title", "year", "notes"], ["Tide tables", "1903", ""], ["Ferry log", "1921", "torn"]]
    write_corpus(
        tmp_path,
        {
            "data/archive.csv": csv_text(rows),
            "semi.csv": "\ufeff" + csv_text([["k", "v"], ["a", "1"], ["b", "2"]], delimiter=";"),
        },
    )
    docs, skipped = load_corpus(tmp_path)
    assert skipped == []
    docs = by_id(docs)
    assert set(docs) == {
        "data/archive.csv#row1",
        "data/archive.csv#row2",
        "semi.csv#row1",
        "semi.csv#row2",
    }
    first = docs["data/archive.csv#row1"]
    assert first.text == "title: Tide tables\nyear: 1903"  # empty cells stay out of the text
    assert first.metadata == {
        "doc_id": "data/archive.csv#row1",
        "title": "Tide tables",
        "year": "1903",
        "notes": "",
        "row": 1,
        "source": str(tmp_path / "data" / "archive.csv"),
        "file_type": "csv",
    }
    assert docs["data/archive.csv#row2"].metadata["notes"] == "torn"
    # A semicolon-separated file with a BOM (what Excel writes) is sniffed, not one column.
    assert docs["semi.csv#row2"].metadata["k"] == "b"
    assert docs["semi.csv#row2"].text == "k: b\nv: 2"
    # Metadata never reaches the embedded text.
    assert "archive.csv" not in first.get_content(metadata_mode=MetadataMode.EMBED)
    assert "archive.csv" not in first.get_content(metadata_mode=MetadataMode.LLM)


def test_csv_reserved_column_names_do_not_override(tmp_path: Path) -> None:
    write_corpus(tmp_path, {"t.csv": csv_text([["source", "doc_id", "x"], ["web", "7", "y"]])})
    doc = load_corpus(tmp_path)[0][0]
    assert doc.id_ == "t.csv#row1"
    assert doc.metadata["source"] == str(tmp_path / "t.csv")
    assert doc.metadata["doc_id"] == "t.csv#row1"
    assert "source: web" in doc.text


def test_xlsx_rows_across_sheets(tmp_path: Path) -> None:
    write_xlsx(tmp_path / "branches.xlsx")
    docs, skipped = load_corpus(tmp_path)
    assert skipped == []
    docs = by_id(docs)
    # Row 2 of the first sheet is empty: no document, and row 3 keeps its number.
    assert set(docs) == {"branches.xlsx#row1", "branches.xlsx#row3", "branches.xlsx#Vans!row1"}
    quay = docs["branches.xlsx#row1"]
    assert quay.text == "name: Quayside\nopened: 1998-05-01\nseats: 40"
    assert quay.metadata["seats"] == "40" and quay.metadata["sheet"] == "Branches"
    assert quay.metadata["file_type"] == "xlsx"
    assert docs["branches.xlsx#row3"].metadata["seats"] == "12"  # whole floats lose ".0"
    assert docs["branches.xlsx#Vans!row1"].metadata == {
        "doc_id": "branches.xlsx#Vans!row1",
        "van": "V1",
        "route": "coast road",
        "sheet": "Vans",
        "row": 1,
        "source": str(tmp_path / "branches.xlsx"),
        "file_type": "xlsx",
    }


# --- JSON records ------------------------------------------------------------------------------------


def test_json_list_and_wrapped_records(tmp_path: Path) -> None:
    records = [
        {"id": "faq-1", "text": "Cards are free.", "topic": "membership"},
        {"title": "Hours", "opens": "9:00", "tags": ["a", "b"]},
    ]
    write_corpus(
        tmp_path,
        {
            "faq.json": json.dumps(records),
            "wrapped.json": json.dumps({"version": 2, "items": [{"body": "Wrapped text."}]}),
            "single.json": json.dumps({"name": "Lone record", "size": 3}),
        },
    )
    docs, skipped = load_corpus(tmp_path)
    assert skipped == []
    docs = by_id(docs)
    assert set(docs) == {"faq-1", "faq.json#2", "wrapped.json#1", "single.json#1"}
    faq = docs["faq-1"]  # a record's own id is its doc_id
    assert faq.text == "Cards are free."
    assert faq.metadata["topic"] == "membership" and faq.metadata["record"] == 1
    assert "id" not in faq.metadata and faq.metadata["file_type"] == "json"
    hours = docs["faq.json#2"]  # no text field: "key: value" lines
    assert hours.text == 'title: Hours\nopens: 9:00\ntags: ["a", "b"]'
    assert docs["wrapped.json#1"].text == "Wrapped text."
    assert docs["single.json#1"].text == "name: Lone record\nsize: 3"


def test_jsonl_records_bad_line_and_duplicates(tmp_path: Path) -> None:
    lines = [
        json.dumps({"doc_id": "n1", "content": "First note.", "author": "Ada"}),
        "{broken",
        "",
        json.dumps({"content": "Third note."}),
        json.dumps([1, 2]),
        json.dumps({"doc_id": "n1", "content": "Same id again."}),
        json.dumps({"content": "  "}),
    ]
    write_corpus(tmp_path, {"notes.jsonl": "\n".join(lines) + "\n"})
    docs, skipped = load_corpus(tmp_path)
    docs = by_id(docs)
    assert set(docs) == {"n1", "notes.jsonl#4"}
    assert docs["n1"].text == "First note." and docs["n1"].metadata["author"] == "Ada"
    assert docs["n1"].metadata["file_type"] == "jsonl"
    reasons = dict(skipped)
    assert reasons["notes.jsonl#2"].startswith("invalid JSON on line 2")
    assert reasons["notes.jsonl#5"] == "record is a JSON list, not an object"
    assert reasons["notes.jsonl#6"] == "duplicate doc_id 'n1' (first from notes.jsonl#1)"
    assert reasons["notes.jsonl#7"] == "no extractable text"


def test_lone_surrogate_records_are_skipped_and_named(tmp_path: Path) -> None:
    """json.loads turns a "\\ud800" escape into a str nothing can encode; it used to abort the
    whole load inside the corpus hash without naming the file."""
    lines = [
        json.dumps({"content": "Good note."}),
        json.dumps({"content": "Bad \ud800 note."}),  # the escape, as JSON writes it
        json.dumps({"content": "Fine text.", "author": "Ann \udfff"}),  # in a metadata field
        json.dumps({"doc_id": "id-\ud83d", "content": "Bad id."}),
    ]
    records = [{"text": "Fine."}, {"text": "\udc00 bad"}]
    write_corpus(
        tmp_path,
        {"notes.jsonl": "\n".join(lines) + "\n", "list.json": json.dumps(records)},
    )
    docs, skipped = load_corpus(tmp_path)
    assert sorted(d.id_ for d in docs) == ["list.json#1", "notes.jsonl#1"]
    reasons = dict(skipped)
    assert reasons["notes.jsonl#2"] == "invalid Unicode: lone surrogate U+D800 at character 4"
    assert reasons["notes.jsonl#3"].startswith("invalid Unicode: lone surrogate U+DFFF")
    assert reasons["notes.jsonl#4"].startswith("invalid Unicode: lone surrogate U+D83D")
    assert reasons["list.json#2"].startswith("invalid Unicode: lone surrogate U+DC00")
    dataset = Dataset("s", docs, [Question("q", "?", "")], skipped)
    assert len(dataset.corpus_hash) == 16  # the hash no longer meets undecodable text


def test_undecodable_file_name_is_skipped(tmp_path: Path) -> None:
    import os

    write_corpus(tmp_path, {"good.md": "Good."})
    with open(os.path.join(os.fsencode(tmp_path), b"bad-\xff.md"), "wb") as out:  # bytes name
        out.write(b"Text.")
    docs, skipped = load_corpus(tmp_path)
    assert [d.id_ for d in docs] == ["good.md"]
    assert skipped == [("bad-\ufffd.md", "file name is not valid UTF-8")]


def test_files_over_the_size_limit_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ragbench.data.corpus

    monkeypatch.setattr(ragbench.data.corpus, "MAX_FILE_BYTES", 2_000_000)
    write_corpus(tmp_path, {"small.txt": "Small.", "big.txt": "word " * 700_000})
    docs, skipped = load_corpus(tmp_path)
    assert [d.id_ for d in docs] == ["small.txt"]
    assert skipped == [("big.txt", "too large (4 MB > 2 MB): split it")]


# --- permissions --------------------------------------------------------------------------------------


def test_permissions_exact_glob_and_public(tmp_path: Path) -> None:
    write_corpus(
        tmp_path,
        {
            "finance/budget.md": "Budget.",
            "finance/payroll/june.md": "Payroll.",
            "finance/open.md": "Open finance note.",
            "staff.csv": csv_text([["name"], ["Ada"], ["Ben"]]),
            "rules.jsonl": json.dumps({"id": "r1", "text": "Rule.", "allowed_groups": "a, b"}),
            "public.md": "Everyone.",
            "_permissions.json": json.dumps(
                {
                    "finance/*": ["finance"],
                    "finance/payroll/*": ["hr"],
                    "finance/open.md": ["finance", "staff"],
                    "staff.csv": ["hr"],
                    "staff.csv#row2": ["hr", "managers"],
                }
            ),
        },
    )
    docs, skipped = load_corpus(tmp_path)
    assert skipped == []  # the permissions file is configuration, not a document
    groups = {d.id_: d.metadata.get("allowed_groups") for d in docs}
    assert groups == {
        "finance/budget.md": ["finance"],
        "finance/payroll/june.md": ["hr"],  # the more specific glob wins
        "finance/open.md": ["finance", "staff"],  # an exact id beats any glob
        "staff.csv#row1": ["hr"],  # a file's path covers all of its rows
        "staff.csv#row2": ["hr", "managers"],
        "r1": ["a", "b"],  # a record's own allowed_groups field, when no rule names it
        "public.md": None,  # absent = public
    }
    budget = next(d for d in docs if d.id_ == "finance/budget.md")
    assert "finance" not in budget.get_content(metadata_mode=MetadataMode.EMBED).lower()
    assert "allowed_groups" in budget.excluded_llm_metadata_keys


@pytest.mark.parametrize("content", ["{bad json", '{"a": "finance"}', "[]"])
def test_broken_permissions_file_raises(tmp_path: Path, content: str) -> None:
    write_corpus(tmp_path, {"a.md": "A.", "_permissions.json": content})
    with pytest.raises(DataError, match="_permissions.json"):
        load_corpus(tmp_path)


def test_question_user_groups_round_trip(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus", {"a.md": "Alpha."})
    questions = [
        Question("q1", "What is alpha?", "Alpha.", ["a.md"], ["Alpha."], ["staff"]),
        Question("q2", "Anything?", ""),
    ]
    write_questions(tmp_path / "questions.jsonl", questions)
    first = json.loads((tmp_path / "questions.jsonl").read_text().splitlines()[1])
    assert "user_groups" not in first  # None is left out: the 5-key schema stays as it was
    ds = load_dataset(DatasetConfig(loader="qa-folder", path=str(tmp_path)))
    assert ds.questions == questions
    assert ds.questions[0].user_groups == ["staff"] and ds.questions[1].user_groups is None


# --- SQL -----------------------------------------------------------------------------------------------

ARTICLES = [
    (1, "Opening hours", "Doors open at nine.", "faq", '["staff", "public"]'),
    (2, "Fines", "Fines were abolished in 2019.", "policy", None),
    (3, "Empty", "", "faq", None),
]


def make_sqlite(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE articles (id INTEGER, title TEXT, body TEXT, kind TEXT, allowed_groups TEXT)"
    )
    con.executemany("INSERT INTO articles VALUES (?, ?, ?, ?, ?)", ARTICLES)
    con.commit()
    con.close()
    return path


def make_duckdb(path: Path) -> Path:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE articles (id INTEGER, title VARCHAR, body VARCHAR, kind VARCHAR, "
        "allowed_groups VARCHAR, added DATE)"
    )
    con.executemany(
        "INSERT INTO articles VALUES (?, ?, ?, ?, ?, DATE '2024-01-02')",
        [list(r) for r in ARTICLES],
    )
    con.close()
    return path


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_load_sql(tmp_path: Path, kind: str) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{make_sqlite(tmp_path / 'lib.db')}"
    else:
        url = f"duckdb:///{make_duckdb(tmp_path / 'lib.duckdb')}"
    docs = load_sql(url, "SELECT * FROM articles ORDER BY id", "id", ["body"])
    assert [d.id_ for d in docs] == ["1", "2"]  # row 3 has no text
    assert docs[0].text == "Doors open at nine."
    assert docs[0].metadata["title"] == "Opening hours" and docs[0].metadata["kind"] == "faq"
    assert docs[0].metadata["allowed_groups"] == ["staff", "public"]
    assert "allowed_groups" not in docs[1].metadata
    assert docs[0].metadata["source"] == url and docs[0].metadata["file_type"] == "sql"
    assert "body" not in docs[0].metadata and "id" not in docs[0].metadata
    if kind == "duckdb":
        assert docs[0].metadata["added"] == "2024-01-02"
    two = load_sql(url, "SELECT id, title, body FROM articles", "id", ["title", "body"])
    assert by_id(two)["2"].text == "title: Fines\nbody: Fines were abolished in 2019."


def test_load_sql_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{make_sqlite(tmp_path / 'lib.db')}"
    with pytest.raises(DataError, match=r"no column 'bdy' \(did you mean 'body'\?\)"):
        load_sql(url, "SELECT * FROM articles", "id", ["bdy"])
    with pytest.raises(DataError, match="query failed"):
        load_sql(url, "SELECT * FROM nowhere", "id", ["body"])
    with pytest.raises(DataError, match="SQLite file not found"):
        load_sql(f"sqlite:///{tmp_path / 'missing.db'}", "SELECT 1", "id", ["body"])
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(DataError, match="DuckDB file not found"):
        load_sql(f"duckdb:///{tmp_path / 'missing.duckdb'}", "SELECT 1", "id", ["body"])


def test_sql_loader_from_experiment_yaml(tmp_path: Path) -> None:
    make_duckdb(tmp_path / "lib.duckdb")
    write_questions(
        tmp_path / "questions.jsonl",
        [Question("s1", "When were fines abolished?", "In 2019.", ["2"], ["abolished in 2019"])],
    )
    data = {
        "name": "sql-test",
        "dataset": {
            "loader": "sql",
            "path": ".",
            "sql": {
                "url": "duckdb:///lib.duckdb",  # relative to dataset.path
                "query": "SELECT * FROM articles",
                "id_column": "id",
                "text_columns": ["body"],
            },
            "questions": "questions.jsonl",
        },
    }
    config = parse_config(data, source="sql-test", root=tmp_path)
    ds = load_dataset(config.dataset)
    assert [d.id_ for d in ds.corpus] == ["1", "2"]
    assert [q.question_id for q in ds.questions] == ["s1"]
    assert ds.skipped == [(f"duckdb:///{tmp_path / 'lib.duckdb'}#row3", "no extractable text")]
    assert ds.summary().startswith(f"{tmp_path.name}: 2 documents (2 sql), 1 questions")


def test_sql_config_validation() -> None:
    with pytest.raises(ConfigError, match="loader 'sql' needs a 'sql' block and 'questions'"):
        parse_config({"name": "x", "dataset": {"loader": "sql"}})
    with pytest.raises(ConfigError, match="belongs to loaders 'qa-folder', 'documents' and 'sql'"):
        parse_config({"name": "x", "dataset": {"loader": "demo", "questions": "q.jsonl"}})
    sql = {"url": "sqlite:///a.db", "query": "SELECT 1", "id_column": "id", "text_columns": []}
    with pytest.raises(ConfigError, match="text_columns"):
        parse_config({"name": "x", "dataset": {"loader": "sql", "sql": sql, "questions": "q"}})


# --- covid-qa -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def covid() -> Dataset:
    if not (COVID_QA / "200423_covidQA.json").is_file():
        pytest.skip(f"{COVID_QA} not present")
    return load_dataset(DatasetConfig(loader="covid-qa", path=str(COVID_QA)))


@pytest.mark.shared
def test_covid_qa_counts_and_ids(covid: Dataset) -> None:
    assert len(covid.corpus) == 98
    assert len(covid.questions) == 1380
    assert covid.skipped == []
    doc_ids = [d.id_ for d in covid.corpus]
    assert len(set(doc_ids)) == 98 and "630" in doc_ids
    assert len({q.question_id for q in covid.questions}) == 1380
    paper = by_id(covid.corpus)["630"]
    assert paper.metadata["title"].startswith("Functional Genetic Variants in DC-SIGNR")
    assert paper.metadata["url"].startswith("https://www.ncbi.nlm.nih.gov/pmc/")
    assert paper.metadata["file_type"] == "paper"
    assert "98 documents (98 paper), 1380 questions" in covid.summary()


@pytest.mark.shared
def test_covid_qa_gold(covid: Dataset) -> None:
    texts = {d.id_: collapse(d.text) for d in covid.corpus}
    found = 0
    for q in covid.questions:
        assert len(q.gold_doc_ids) == 1 and q.gold_doc_ids[0] in texts, q.question_id
        assert q.reference and q.gold_spans == [q.reference]
        found += collapse(q.gold_spans[0]) in texts[q.gold_doc_ids[0]]
    assert found / len(covid.questions) >= 0.95


@pytest.mark.shared
def test_covid_qa_experiment_validates() -> None:
    if not COVID_QA.is_dir():
        pytest.skip(f"{COVID_QA} not present")
    from ragbench.config.experiment import expand, load_config

    config = load_config(Path(__file__).resolve().parents[1] / "experiments" / "covid-qa.yaml")
    assert config.dataset.loader == "covid-qa" and Path(config.dataset.path) == COVID_QA
    assert len(expand(config)) == 6


def test_demo_chunker_retriever_experiment_validates() -> None:
    from ragbench.config.experiment import expand, load_config

    path = Path(__file__).resolve().parents[1] / "experiments" / "demo-chunker-retriever.yaml"
    config = load_config(path)
    labels = [t.label for t in expand(config)]
    assert len(labels) == 6 and "chunking.method=sentence, retrieval.method=hybrid" in labels


def test_broken_links_and_fifos_are_skipped_with_a_reason(tmp_path: Path) -> None:
    import os

    (tmp_path / "a.md").write_text("The east pier reopened in March.")
    (tmp_path / "gone.md").symlink_to(tmp_path / "missing.md")
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would block forever
    docs, skipped = load_corpus(tmp_path)
    assert [d.id_ for d in docs] == ["a.md"]
    assert skipped == [("gone.md", "broken symlink"), ("pipe.txt", "not a regular file")]


def test_a_csv_streams_row_by_row_and_a_bad_tail_drops_the_whole_file(tmp_path: Path) -> None:
    """Rows become parts as they are read (a 200,000-row table is never held whole); a file that
    fails halfway (bad bytes at the end) is one skip, none of its rows kept."""
    from collections.abc import Iterator

    from ragbench.data.readers import READERS

    rows = "".join(f"r{n},The ferry leaves pier {n} at dawn.\n" for n in range(3000))
    (tmp_path / "table.csv").write_bytes(b"id,text\n" + rows.encode() + b"r3000,caf\xe9\n")
    (tmp_path / "a.md").write_text("The east pier reopened in March.")
    parts = READERS[".csv"](tmp_path / "table.csv")
    assert isinstance(parts, Iterator)
    assert next(parts)[0] == "#row1"  # read before the bad bytes at the end are reached
    with pytest.raises(UnicodeDecodeError):
        list(parts)
    docs, skipped = load_corpus(tmp_path)
    assert [d.id_ for d in docs] == ["a.md"]
    assert skipped == [("table.csv", "undecodable bytes (not UTF-8)")]


def test_an_xlsx_streams_too(tmp_path: Path) -> None:
    from collections.abc import Iterator

    import openpyxl

    from ragbench.data.readers import READERS

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "text"])
    for n in range(5):
        sheet.append([f"r{n}", f"Row {n} of the harbour ledger."])
    book.save(tmp_path / "t.xlsx")
    parts = READERS[".xlsx"](tmp_path / "t.xlsx")
    assert isinstance(parts, Iterator)
    assert [p[0] for p in parts] == [f"#row{n}" for n in range(1, 6)]


def test_a_table_column_named_text_is_metadata_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,text\nr1,The east pier reopened in March.\n")
    (doc,), skipped = load_corpus(tmp_path)
    assert skipped == [] and doc.metadata["text"] == "The east pier reopened in March."
    assert doc.text == "id: r1\ntext: The east pier reopened in March."
