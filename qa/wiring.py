"""The one place that turns settings into backends (store client, embedder, answerer, follow-up resolver) and
puts the service together. Nothing else branches on which backend is configured."""

from __future__ import annotations

import fcntl
import shutil
import threading
from urllib.parse import urlparse

from qa.answering import Answerer, FallbackAnswerer
from qa.conversation import CarryOverResolver, FollowUpResolver
from qa.doctor import Doctor
from qa.embedder import Embedder, MiniLMEmbedder, bulk_lanes
from qa.engine import Engine
from qa.errors import StoreUnavailable
from qa.extractive import ExtractiveAnswerer
from qa.imports import chromadb_imports
from qa.replica import Replica
from qa.service import NewsService
from qa.settings import Settings
from qa.store import ChromaStore, LocalFiles
from qa.telemetry import configure_tracing


def build_embedder(settings: Settings, fast_start: bool = False, bulk: bool = False) -> Embedder:
    """The configured embedder: the packaged MiniLM, or an OpenAI-compatible embeddings endpoint.

    `fast_start` skips the model's graph optimisation: for processes that embed a question or two. `bulk` suits
    processes that embed many texts and answer no question (`qa index`, `qa watch`): batches run side by side,
    one a core."""
    if settings.embed == "openai":
        from qa.openai_backend import OpenAIEmbedder, make_client

        return OpenAIEmbedder(make_client(settings), settings)
    if bulk:  # in a process of its own: see qa/embedding_process.py
        from qa.embedding_process import ProcessEmbedder

        return ProcessEmbedder(batch_size=settings.embed_batch_size, optimize=not fast_start, lanes=bulk_lanes())
    return MiniLMEmbedder(batch_size=settings.embed_batch_size, optimize=not fast_start)


def build_extractive(settings: Settings) -> ExtractiveAnswerer:
    """The offline answerer."""
    return ExtractiveAnswerer(settings.abstain_threshold, settings.max_answer_sentences)


def build_answerer(settings: Settings, embedder: Embedder) -> Answerer:
    """Extractive by default; the OpenAI-compatible model when QA_LLM=openai (extractive behind it only when
    QA_LLM_FALLBACK=extractive)."""
    extractive = build_extractive(settings)
    if settings.llm != "openai":
        return extractive
    from qa.generative import CitationChecker, GenerativeAnswerer
    from qa.openai_backend import OpenAIChat, make_client

    generative = GenerativeAnswerer(OpenAIChat(make_client(settings), settings), CitationChecker(embedder))
    return FallbackAnswerer(generative, extractive) if settings.llm_fallback == "extractive" else generative


def build_resolver(settings: Settings) -> FollowUpResolver:
    """How follow-ups become standalone questions: the model when one is configured, else carry-over."""
    if settings.llm != "openai":
        return CarryOverResolver()
    from qa.generative import ModelResolver
    from qa.openai_backend import OpenAIChat, make_client

    return ModelResolver(OpenAIChat(make_client(settings), settings))


def chroma_client(settings: Settings) -> tuple[object, str]:
    """A Chroma client and a description of where it points: a server if QA_CHROMA_URL is set, else on disk."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)  # its form was checked by the settings
        port = url.port or (443 if url.scheme == "https" else 8000)
        try:
            with chromadb_imports():  # the client imports the rest of chromadb
                client = chromadb.HttpClient(
                    host=url.hostname or "", port=port, ssl=url.scheme == "https", settings=chroma_settings
                )
            client.heartbeat()
        except Exception as exc:  # connection refused, DNS, TLS...: all mean the same to the user
            raise StoreUnavailable(
                f"Cannot reach the Chroma server at {settings.chroma_url} ({type(exc).__name__}). "
                "Start it (chroma run --path DIR --port PORT) or unset QA_CHROMA_URL to use the local store."
            ) from exc
        return client, settings.chroma_url
    path = settings.data_dir / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
        # The first client creates Chroma's tables: two processes starting on a new directory take turns.
        with (settings.data_dir / "chroma-open.lock").open("a") as lock:  # not the writers' lock: held in a write
            fcntl.flock(lock, fcntl.LOCK_EX)
            with chromadb_imports():  # the client imports the rest of chromadb
                client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        raise StoreUnavailable(f"Cannot open the data directory {path}: {exc}. Check QA_DATA_DIR.") from exc
    return client, str(settings.data_dir)


_RETIRE_AFTER_S = 5.0  # longer than any read takes


def local_files(settings: Settings) -> LocalFiles | None:
    """How an embedded store shares its files with other processes (None with a Chroma server)."""
    if settings.chroma_url:
        return None

    def reopen() -> object:
        from chromadb.api.shared_system_client import SharedSystemClient

        # chromadb keeps one view per path and process, whatever the number of clients: take it out so that the
        # next client loads the files as they are now, and stop it (freeing its vector indexes) once the reads
        # still running on it are done.
        old = SharedSystemClient._identifier_to_system.pop(str(settings.data_dir / "chroma"), None)
        if old is not None:
            retire = threading.Timer(_RETIRE_AFTER_S, old.stop)
            retire.daemon = True
            retire.start()
        return chroma_client(settings)[0]

    return LocalFiles(reopen=reopen, write_lock=settings.data_dir / "chroma.lock")


def open_store(settings: Settings, embedder: Embedder) -> ChromaStore:
    """The index this configuration points at, bound to its embedder."""
    client, where = chroma_client(settings)
    return ChromaStore(client, settings.collection, embedder.model_id, embedder.dimension, where, local_files(settings))


def open_service(settings: Settings, fast_start: bool = False, bulk: bool = False) -> NewsService:
    """The service every shell calls. `fast_start` suits a process that asks a question or two (`qa ask`), `bulk`
    one that indexes and answers nothing (`qa index`, `qa watch`): see build_embedder."""
    configure_tracing(settings.otel_exporter)  # before anything is traced; a no-op unless an exporter is set
    service = _assemble(settings, fast_start, bulk)
    service.store.recover(wait=False)  # a write a killed process left unfinished is finished now
    return service


def open_doctor(settings: Settings) -> Doctor:
    """`qa doctor` over the index this configuration points at: opened without finishing the writes a killed
    process left in the journal (as the service does on opening), which are for it to report."""
    service = _assemble(settings)
    service.store.require()
    return Doctor(service.store, service.engine.replica, service.rewrite_articles)


def _assemble(settings: Settings, fast_start: bool = False, bulk: bool = False) -> NewsService:
    embedder = build_embedder(settings, fast_start, bulk)
    if fast_start and isinstance(embedder, MiniLMEmbedder):  # its question comes next: the model loads beside the store
        embedder.load_in_background()
    store = open_store(settings, embedder)
    replica = Replica(store, settings.data_dir / "replica" / settings.collection)
    # The keyword cache of earlier releases, rebuilt from every chunk on every write: the replica replaces it.
    shutil.rmtree(settings.data_dir / f"bm25-{settings.collection}", ignore_errors=True)
    answerer = build_answerer(settings, embedder)
    engine = Engine(settings, store, replica, embedder, answerer, many_questions=not fast_start)
    return NewsService(settings, engine, build_resolver(settings))
