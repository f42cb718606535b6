"""The child side of tests/test_crash_safety.py: run a write in a process that dies, as kill -9 would, at its Nth
Chroma write call.

Imported once by a fork server (multiprocessing's "forkserver": it imports this module, with chromadb, the model
runtime and the product, before it forks each child), so a child costs a fork and the write, not a Python start.
The kill point is chosen by counting calls to the write methods of chromadb's Collection (add, upsert, update,
delete, modify): every upsert page, delete, journal and change-log record is one boundary. Nothing in the product
knows about it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chromadb.api.models.Collection import Collection

import qa.store
from qa.domain import ArticleDraft
from qa.service import NewsService
from qa.settings import Settings
from qa.wiring import open_service

WRITE_METHODS = ("add", "upsert", "update", "delete", "modify")
PAGE = 2  # records per Chroma call in the child: small articles still cross several page boundaries


@dataclass(frozen=True)
class Step:
    """One write through the service: index a folder, put an article (the API's path), or remove articles."""

    kind: str  # "index", "put" or "remove"
    folder: str = ""
    article: dict[str, str] = field(default_factory=dict)
    ids: tuple[str, ...] = ()

    def run(self, service: NewsService) -> None:
        """Carry the step out."""
        if self.kind == "index":
            service.index_paths([Path(self.folder)])
        elif self.kind == "put":
            service.put_article(ArticleDraft(**self.article))
        else:
            service.remove_articles(list(self.ids))


def fork_server() -> Any:
    """A multiprocessing context whose children are forked from a server that imported this module once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def child(fork: Any, data_dir: Path, steps: list[Step], kill_at: int = 0, **settings: str) -> tuple[int, int]:
    """(exit code, Chroma write calls of the last step) of `run_child` in a forked child."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    counted = data_dir.parent / f"{data_dir.name}.writes"
    counted.unlink(missing_ok=True)
    process = fork.Process(target=run_child, args=(str(data_dir), steps, kill_at, str(counted), settings))
    process.start()
    process.join(timeout=300)
    return process.exitcode, int(counted.read_text()) if counted.exists() else -1


def run_child(
    data_dir: str, steps: list[Step], kill_at: int, count_file: str, settings: dict[str, str] | None = None
) -> None:
    """Open the service on `data_dir` and run the steps; during the last one, die at the `kill_at`th Chroma write
    call (0: never). The number of write calls the last step made is written to `count_file`."""
    qa.store._PAGE = PAGE  # type: ignore[attr-defined]
    config = Settings(data_dir=Path(data_dir), **(settings or {}))
    service = open_service(config, fast_start=True)  # the same vectors, to 1e-7
    for step in steps[:-1]:
        step.run(service)
    writes = [0]

    def counting(method: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Collection, *args: Any, **kwargs: Any) -> Any:
            writes[0] += 1
            if writes[0] == kill_at:
                os._exit(9)  # as kill -9: no cleanup, no flush, no finally
            return method(self, *args, **kwargs)

        return write

    for name in WRITE_METHODS:
        setattr(Collection, name, counting(getattr(Collection, name)))
    steps[-1].run(service)
    Path(count_file).write_text(str(writes[0]))
