"""Load articles from files and index them into the store (one function for the CLI and the API)."""

from indexer.loaders import LoadFailure, load_paths
from indexer.pipeline import IndexReport, index_articles

__all__ = ["IndexReport", "LoadFailure", "index_articles", "load_paths"]
