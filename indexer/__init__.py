"""Load articles from files, feeds and pages and index them into the store: what the service (qa.service) calls to
write."""

from indexer.feedstate import FeedState
from indexer.loaders import LoadedArticle, count_articles, iter_articles, load_paths, make_article
from indexer.pipeline import index_articles
from indexer.sources import count_sources, iter_sources, local_folders

__all__ = [
    "FeedState",
    "LoadedArticle",
    "count_articles",
    "count_sources",
    "index_articles",
    "iter_articles",
    "iter_sources",
    "load_paths",
    "local_folders",
    "make_article",
]
