"""A RAG pipeline from its config: chunking and the index, retrieval, access control, prompts."""
