"""What a process pays to start: dependencies imported without the parts of them this product never uses.

Every `qa` command is a fresh process, and most of its start is imports. These keep a dependency's optional or
development-time work out of that start without changing what the product runs.
"""

from __future__ import annotations

import sys
import threading
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
