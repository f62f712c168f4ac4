"""LLM judging: ragas metrics through the judge model, compact prompts, judge checks."""
