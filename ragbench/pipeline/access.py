"""Access control: who may see which chunk, from the corpus documents' ``allowed_groups``.

Contract: ``AccessControl(corpus)`` reads each document's ``allowed_groups`` metadata (absent or
None: public); ``scope(user_groups)`` is the part of a user's groups that matters here;
``permits(node, scope)`` is True only when both the chunk's own metadata and its source document
(looked up by ``doc_id_of(node)`` in the corpus, the source of truth) admit one of those groups.
A malformed label admits no one (fails closed). ``pipeline.rag`` searches only what a scope may
see and filters every result again, last.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from llama_index.core import Document
from llama_index.core.schema import BaseNode, NodeWithScore

ACL_KEY = "allowed_groups"  # document metadata: the groups that may see it; absent/None = public


def _acl(value: Any) -> frozenset[str] | None:
    """Normalise an ``allowed_groups`` value; None means public.

    A bare string is one group (never its characters); a value of any other type admits no one,
    so a malformed label fails closed.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(g) for g in value)
    return frozenset()


def _admits(acl: frozenset[str] | None, scope: frozenset[str]) -> bool:
    return acl is None or bool(acl & scope)


class AccessControl:
    """Who may see which chunk, from the corpus documents' ``allowed_groups`` metadata.

    A chunk is visible only when both its own metadata and its source document (looked up by
    doc_id in the corpus, the source of truth) admit one of the user's groups. When the corpus has
    any restricted document, a chunk that cannot be traced to a corpus document is hidden. A user
    without groups (``None``) sees public documents only.
    """

    def __init__(self, corpus: Sequence[Document]) -> None:
        self.documents: dict[str, frozenset[str] | None] = {}
        for doc in corpus:
            acl = _acl(doc.metadata.get(ACL_KEY))
            self.documents[doc.id_] = acl
            self.documents[doc.metadata.get("doc_id") or doc.id_] = acl
        restricted = [acl for acl in self.documents.values() if acl is not None]
        self.restricted = bool(restricted)
        self.groups: frozenset[str] = frozenset().union(*restricted)

    def scope(self, user_groups: Iterable[str] | str | None) -> frozenset[str]:
        """The user's groups that matter here: users with the same scope see the same chunks."""
        if isinstance(user_groups, str):
            user_groups = [user_groups]
        return frozenset(user_groups or ()) & self.groups

    def permits(self, node: BaseNode, scope: frozenset[str]) -> bool:
        if not _admits(_acl(node.metadata.get(ACL_KEY)), scope):
            return False
        doc_id = doc_id_of(node)
        if doc_id not in self.documents:
            return not self.restricted
        return _admits(self.documents[doc_id], scope)

    def visible(self, nodes: list[BaseNode], scope: frozenset[str]) -> list[BaseNode]:
        return [n for n in nodes if self.permits(n, scope)]


def doc_id_of(chunk: NodeWithScore | BaseNode) -> str:
    node = chunk.node if isinstance(chunk, NodeWithScore) else chunk
    return node.metadata.get("doc_id") or node.ref_doc_id or node.node_id
