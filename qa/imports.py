"""What a process pays to start: dependencies imported without the parts of them this product never uses.

Every `qa` command is a fresh process, and most of its start is imports. These keep a dependency's optional or
development-time work out of that start without changing what the product runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# Held while chromadb's decorator is swapped: a client opened on another thread meanwhile (a server reloading its
# view of the files) must neither see the swap half done nor put back the swapped one as the real one.
_OVERRIDES = threading.RLock()


@contextmanager
def without(*modules: str) -> Iterator[None]:
    """Import something as if these modules (optional dependencies of it) were not installed. nltk imports
    scipy.stats (0.7 s) for two collocation scores and scipy.sparse for a dependency parser, bm25s imports
    scipy.sparse for its BM25 index; each falls back when the import fails, and neither the sentence splitter nor
    the word tokenizer needs scipy. A module already imported stays as it is, and every one stays importable."""
    hidden = [module for module in modules if module not in sys.modules]
    for module in hidden:
        sys.modules[module] = None  # type: ignore[assignment]  # None in sys.modules: the import fails
    try:
        yield
    finally:
        for module in hidden:
            if sys.modules.get(module) is None:
                del sys.modules[module]


@contextmanager
def unchecked_overrides() -> Iterator[None]:
    """Import chromadb without its `@override` decorators checking each method's signature against its base
    class's as the classes are made: a check for chromadb's own developers (a wrong override fails its tests),
    which took 0.3 s of a 1.4 s `import chromadb` here, in every process that opens the store. The decorator
    still marks each method as an override, as the real one does (chromadb's EnforceOverrides classes look for that
    mark); modules imported outside this get the real one."""
    import overrides  # chromadb takes both names from the package: `from overrides import override, overrides`

    def mark(method: Callable[..., Any] | None = None, **_: Any) -> Any:
        if method is None:  # used as @override(check_signature=...)
            return mark
        method.__override__ = True  # type: ignore[attr-defined]
        return method

    with _OVERRIDES:
        real = overrides.override, overrides.overrides
        overrides.override = overrides.overrides = mark
        try:
            yield
        finally:
            overrides.override, overrides.overrides = real


# chromadb's tracing module imports this at its top and makes one only when chromadb's own tracing is configured
# (CHROMA_OTEL_*): its gRPC and protobuf imports took 0.06-0.10 s of every process's start here.
_CHROMA_SPAN_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"


@contextmanager
def exporter_on_use() -> Iterator[None]:
    """Import chromadb with a stand-in for its OTLP span exporter that imports the real one when it is made. The
    product's own traces use the HTTP exporter, on request (qa.telemetry); the stand-in is gone from sys.modules
    afterwards, so a later import gets the real module."""
    if _CHROMA_SPAN_EXPORTER in sys.modules:
        yield
        return

    class OTLPSpanExporter:
        """Stands in for the gRPC span exporter until one is made."""

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            real = importlib.import_module(_CHROMA_SPAN_EXPORTER).OTLPSpanExporter
            return real(*args, **kwargs)

    stand_in = types.ModuleType(_CHROMA_SPAN_EXPORTER)
    stand_in.OTLPSpanExporter = OTLPSpanExporter  # type: ignore[attr-defined]
    with _standing_in(stand_in):
        yield


# chromadb imports every embedding function it ships as it starts, and they this module, which imports jsonschema
# to check an embedding function's configuration: 0.07 s of every process's start here. This product gives Chroma
# its vectors and no embedding function, so no such check is made.
_CHROMA_SCHEMA_CHECKS = "chromadb.utils.embedding_functions.schemas.schema_utils"


@contextmanager
def schema_checks_on_use() -> Iterator[None]:
    """Import chromadb with a stand-in for its embedding functions' schema checks: each of its functions imports
    the real module (and jsonschema) when called, and calls it. The stand-in is gone from sys.modules afterwards,
    so a later import gets the real module."""
    if _CHROMA_SCHEMA_CHECKS in sys.modules:
        yield
        return
    stand_in = types.ModuleType(_CHROMA_SCHEMA_CHECKS)

    def real() -> types.ModuleType:
        if sys.modules.get(_CHROMA_SCHEMA_CHECKS) is stand_in:  # called while chromadb is still being imported
            del sys.modules[_CHROMA_SCHEMA_CHECKS]
        return importlib.import_module(_CHROMA_SCHEMA_CHECKS)

    def on_use(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return getattr(real(), name)(*args, **kwargs)

        call.__name__ = name
        return call

    for name in ("validate_config_schema", "load_schema", "get_schema_version"):  # what chromadb imports of it
        setattr(stand_in, name, on_use(name))
    # the one constant imported of it (by the schema registry): the same path, computed as it computes it
    package = importlib.util.find_spec("chromadb")
    assert package is not None and package.origin is not None, "chromadb is a dependency"
    stand_in.SCHEMAS_DIR = os.path.join(  # type: ignore[attr-defined]
        os.path.dirname(os.path.dirname(package.origin)), "schemas", "embedding_functions"
    )

    def other(name: str) -> Any:  # anything else chromadb may take from it (not "__path__": the import asks)
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(real(), name)

    setattr(stand_in, "__getattr__", other)  # noqa: B010  (a module's __getattr__, PEP 562)
    with _standing_in(stand_in):
        yield


@contextmanager
def _standing_in(stand_in: types.ModuleType) -> Iterator[None]:
    """`stand_in` in sys.modules under its name meanwhile; gone afterwards unless the real module replaced it."""
    sys.modules[stand_in.__name__] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(stand_in.__name__) is stand_in:
            del sys.modules[stand_in.__name__]


@contextmanager
def chromadb_imports() -> Iterator[None]:
    """How every import of chromadb here is made: without its override checks, its span exporter and its schema
    checks imported on use."""
    with unchecked_overrides(), exporter_on_use(), schema_checks_on_use():
        yield
