"""Documents and questions: file readers, corpora, question sets, named datasets, splits, init."""
