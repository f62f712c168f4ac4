"""HTML, text and charts of results objects."""
