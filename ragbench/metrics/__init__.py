"""Metric definitions: retrieval metrics (no LLM) and the answer metrics read without a model."""
