"""Load articles from files and index them into the store: what the service (qa.service) calls to write."""

from indexer.loaders import LoadedArticle, count_articles, iter_articles, load_paths, make_article
from indexer.pipeline import index_articles

__all__ = ["LoadedArticle", "count_articles", "index_articles", "iter_articles", "load_paths", "make_article"]
