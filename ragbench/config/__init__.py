"""Experiment configuration: YAML -> validated pydantic models -> trials; secrets and redaction."""
