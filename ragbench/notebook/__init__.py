"""What the notebooks call: the tuning panel, the question review panel, papermill."""
