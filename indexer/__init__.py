"""Load articles from files and index them into the store (one function for the CLI and the API)."""

from indexer.loaders import LoadedArticle, LoadFailure, load_paths, make_article
from indexer.pipeline import IndexReport, index_articles

__all__ = ["IndexReport", "LoadFailure", "LoadedArticle", "index_articles", "load_paths", "make_article"]
