"""Question answering over news articles: the core (settings, domain types, embedder, store, retrieval,
answerers, engine), the application service every shell calls (qa.service), and the CLI shell (qa.cli)."""
