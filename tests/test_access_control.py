"""Access control is a security property: no retrieval set-up returns a chunk a user may not see.

The corpus is built so that the restricted documents are the best match for the question, and the
LLM used for reranking and query rewriting is adversarial: it ranks the first passage it is shown
highest and rewrites every query into the secret's own words.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from conftest import FAKE_MODELS
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from ragbench.config.experiment import FUSION_MODES, PipelineConfig
from ragbench.data.datasets import Dataset, Question, make_document
from ragbench.models import HashingEmbedding
from ragbench.models.cache import ModelCache
from ragbench.pipeline.index import chunk_documents
from ragbench.pipeline.rag import AccessControl, Builder, Pipeline, doc_id_of

SECRET = "payroll"  # a word only the finance documents contain
QUESTION = "What is the payroll salary budget of the finance team for the third quarter?"
SECRET_DOCS = {
    f"finance/payroll-{i}.txt": (
        f"Payroll memo {i}. The payroll salary budget of the finance team for the third quarter "
        f"is {i + 4}.2 million crowns. Payroll figures are confidential."
    )
    for i in range(3)
}
HR_DOC = {"hr/reviews.txt": "Salary reviews for the team happen in the third quarter each year."}
PUBLIC_DOCS = {
    f"public/notice-{i}.txt": text
    for i, text in enumerate(
        [
            "The budget of the library team for the third quarter covers new books and repairs.",
            "The finance office is open on weekdays; the team answers budget questions by email.",
            "Quarterly reports for the third quarter are published on the website in October.",
            "The salary scale for library staff is set by the cooperative board every year.",
            "The team runs reading events for children on Saturday mornings in the main hall.",
            "Members may ask the finance desk for a receipt for any fee paid during the quarter.",
            "The ferry timetable changes in the third quarter, when the summer schedule ends.",
            "Volunteers help the team with the budget for the annual book sale in the quarter.",
        ]
    )
}
TOP_K = 3


class AdversaryLLM(CustomLLM):
    """Ranks every passage it is shown as maximally relevant and steers every rewrite to secrets."""

    prompts: list[str] = []

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="adversary", is_chat_model=False)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        if "Document 1:" in prompt:  # LLMRerank's choice-select prompt
            count = prompt.count("\nDocument ")
            text = "\n".join(f"Doc: {n}, Relevance: {10 - n % 10}" for n in range(1, count + 1))
        else:  # HyDE passage or multi-query rewrites
            text = "\n".join([SECRET_DOCS["finance/payroll-0.txt"]] * 4)
        return CompletionResponse(text=text)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt, formatted=formatted, **kwargs)


class AdversaryModels(ModelCache):
    """A model cache whose every LLM (generator, reranker, query writer) is the adversary."""

    adversary = AdversaryLLM(prompts=[])

    def llm(self, cfg: Any) -> Any:
        return self.adversary


class AdversaryBuilder(Builder):
    """A builder whose every LLM (generator, reranker, query writer) is the adversary."""

    adversary = AdversaryModels.adversary

    def __init__(self, dataset: Dataset) -> None:
        super().__init__(dataset, models=AdversaryModels())


def corpus(groups: dict[str, Any]) -> Dataset:
    """Documents with ``allowed_groups`` metadata taken from ``groups`` (missing = public)."""
    docs = []
    for doc_id, text in (SECRET_DOCS | HR_DOC | PUBLIC_DOCS).items():
        meta: dict[str, Any] = {"source": doc_id, "file_type": "txt"}
        if doc_id in groups:
            meta["allowed_groups"] = groups[doc_id]
        docs.append(make_document(doc_id, text, **meta))
    return Dataset("acl", docs, [Question("q1", QUESTION, "")])


GROUPS = {d: ["finance"] for d in SECRET_DOCS} | {"hr/reviews.txt": ["hr"]}


@pytest.fixture(scope="module")
def builder() -> AdversaryBuilder:
    return AdversaryBuilder(corpus(GROUPS))


def config(chunking: str = "sentence", **retrieval: Any) -> PipelineConfig:
    return PipelineConfig.model_validate(
        FAKE_MODELS
        | {
            "chunking": {"method": chunking, "chunk_size": 64, "chunk_overlap": 0},
            "retrieval": {"top_k": TOP_K, **retrieval},
        }
    )


def doc_ids(chunks: list[NodeWithScore]) -> list[str]:
    return [doc_id_of(c) for c in chunks]


COMBINATIONS = list(
    itertools.product(
        ("dense", "bm25", "hybrid", "mmr"),
        FUSION_MODES,
        ("none", "llm"),
        ("none", "hyde", "multi_query"),
    )
)


@pytest.mark.parametrize(("method", "fusion", "rerank", "transform"), COMBINATIONS)
def test_no_setup_leaks_restricted_chunks(
    builder: AdversaryBuilder, method: str, fusion: str, rerank: str, transform: str
) -> None:
    cfg = config(method=method, fusion=fusion, rerank=rerank, query_transform=transform)
    pipeline = builder.build(cfg)
    builder.adversary.prompts.clear()
    for user in (None, [], ["hr"], ["marketing"], "fin"):
        chunks = pipeline.retrieve(QUESTION, user)
        assert not set(doc_ids(chunks)) & set(SECRET_DOCS), f"leak to {user}"
        assert all(SECRET not in c.node.get_content().lower() for c in chunks)
        assert len(chunks) == TOP_K  # 8 public documents: top_k is filled from permitted ones
        if user != ["hr"]:
            assert "hr/reviews.txt" not in doc_ids(chunks)
    # Restricted text never even reached the LLM (reranking sees permitted candidates only).
    assert not any("confidential" in p.lower() for p in builder.adversary.prompts)
    allowed = pipeline.retrieve(QUESTION, ["finance"])
    assert set(doc_ids(allowed)) & set(SECRET_DOCS), "the finance group cannot see its documents"
    both = pipeline.retrieve(QUESTION, ["finance", "hr"])
    assert len(both) == TOP_K


@pytest.mark.parametrize("chunking", ["sentence_window", "hierarchical", "semantic", "token"])
@pytest.mark.parametrize("method", ["dense", "hybrid"])
def test_chunkers_do_not_leak(builder: AdversaryBuilder, chunking: str, method: str) -> None:
    pipeline = builder.build(config(chunking=chunking, method=method, rerank="llm"))
    chunks = pipeline.retrieve(QUESTION, ["hr"])
    assert chunks and not set(doc_ids(chunks)) & set(SECRET_DOCS)
    assert all(SECRET not in c.node.get_content().lower() for c in chunks)  # windows, parents too
    assert set(doc_ids(pipeline.retrieve(QUESTION, ["finance"]))) & set(SECRET_DOCS)


def test_the_last_filter_catches_a_leaking_retriever(builder: AdversaryBuilder) -> None:
    """Even a retriever that returns every chunk, secrets first, cannot leak through retrieve()."""
    pipeline = builder.build(config())

    class LeakEverything(BaseRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            ranked = sorted(pipeline.nodes, key=lambda n: SECRET not in n.get_content().lower())
            return [NodeWithScore(node=n, score=1.0) for n in ranked]

    leaky = Pipeline(
        make_retriever=lambda view: LeakEverything(),
        index=pipeline.index,
        nodes=pipeline.nodes,
        access=pipeline.access,
        llm=pipeline.llm,
        prompt=pipeline.prompt,
        top_k=TOP_K,
    )
    assert not set(doc_ids(leaky.retrieve(QUESTION, ["hr"]))) & set(SECRET_DOCS)
    assert set(doc_ids(leaky.retrieve(QUESTION, ["finance"]))) <= set(SECRET_DOCS)


def test_group_metadata_never_reaches_text() -> None:
    """Group names stay out of embeddings, BM25 tokens and prompts, even when a loader adds
    ``allowed_groups`` after the document was made (so it is not yet in the excluded keys)."""
    doc = make_document("memo.txt", "A short memo. It has two sentences.", file_type="txt")
    doc.metadata["allowed_groups"] = ["finance"]
    for method in ("sentence", "sentence_window", "hierarchical", "markdown", "token"):
        cfg = config(chunking=method).chunking
        for node in chunk_documents(cfg, HashingEmbedding(), [doc]).nodes:
            assert node.metadata["allowed_groups"] == ["finance"]  # kept for the filter
            for mode in (MetadataMode.EMBED, MetadataMode.LLM):
                assert "finance" not in node.get_content(mode), (method, mode)


def test_malformed_group_labels_fail_closed() -> None:
    docs = corpus(
        {
            "finance/payroll-0.txt": "finance",  # a bare string is one group, not 7 letters
            "finance/payroll-1.txt": 42,  # not a list: admits no one
            "finance/payroll-2.txt": [],  # an empty list: admits no one
        }
    ).corpus
    access = AccessControl(docs)
    by_id = {d.id_: d for d in docs}
    f = access.scope(["f", "finance"])
    assert access.permits(by_id["finance/payroll-0.txt"], f)
    assert not access.permits(by_id["finance/payroll-0.txt"], access.scope(["f", "i"]))
    assert not access.permits(by_id["finance/payroll-1.txt"], f)
    assert not access.permits(by_id["finance/payroll-2.txt"], f)
    assert access.permits(by_id["public/notice-0.txt"], access.scope(None))
    # A chunk that cannot be traced to a corpus document is hidden in a restricted corpus.
    orphan = make_document("elsewhere.txt", "text")
    assert not access.permits(orphan, f)
    assert AccessControl([by_id["public/notice-0.txt"]]).permits(orphan, frozenset())


def test_random_group_assignments() -> None:
    """Seeded property test (hypothesis is not installed): random labels, users and set-ups."""
    rng = random.Random(1234)
    labels: list[Any] = [None, None, ["a"], ["b"], ["a", "b"], ["c"], [], "a"]
    users: list[Any] = [None, [], ["a"], ["b"], ["a", "b"], ["c"], ["a", "c", "z"], ["z"]]
    all_docs = list(SECRET_DOCS | HR_DOC | PUBLIC_DOCS)
    for trial in range(12):
        groups = {d: rng.choice(labels) for d in all_docs}
        groups = {d: g for d, g in groups.items() if g is not None}
        builder = AdversaryBuilder(corpus(groups))
        cfg = config(
            chunking=rng.choice(["sentence", "sentence_window", "hierarchical"]),
            method=rng.choice(["dense", "bm25", "hybrid", "mmr"]),
            fusion=rng.choice(FUSION_MODES),
            rerank=rng.choice(["none", "llm"]),
            query_transform=rng.choice(["none", "hyde", "multi_query"]),
            top_k=rng.randint(1, 6),
        )
        pipeline = builder.build(cfg)
        for user in users:
            mine = set() if user is None else set(user)

            def may_see(
                doc_id: str, mine: set[str] = mine, groups: dict[str, Any] = groups
            ) -> bool:
                label = groups.get(doc_id)
                if label is None:
                    return True
                return bool(({label} if isinstance(label, str) else set(label)) & mine)

            chunks = pipeline.retrieve(QUESTION, user)
            where = f"trial {trial}: {cfg.chunking.method}/{cfg.retrieval}, user {user}"
            assert all(may_see(d) for d in doc_ids(chunks)), where
            visible = [n for n in pipeline.nodes if may_see(doc_id_of(n))]
            if cfg.chunking.method != "hierarchical":  # merging may fold several into one
                assert len(chunks) == min(cfg.retrieval.top_k, len(visible)), where
