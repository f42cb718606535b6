"""Question answering over news articles: the core (settings, types, embedder, store, retrieval, answerers)."""
