"""Domain errors. Each message says what went wrong and what to do next; shells map them to exit codes/statuses."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error a user can cause or fix. Never shown with a traceback."""

    exit_code: int = 1
    http_status: int = 400


class InvalidInput(QAError):
    """The request itself is malformed (empty question, oversized input, bad field)."""

    exit_code = 2
    http_status = 422


class NotIndexed(QAError):
    """Asked before anything was indexed."""

    exit_code = 3
    http_status = 409


class NotFound(QAError):
    """An article or session that does not exist."""

    exit_code = 4
    http_status = 404


class Conflict(QAError):
    """The request would silently overwrite something that exists."""

    exit_code = 2
    http_status = 409


class EmbedderMismatch(QAError):
    """The collection was built by another embedder than the one configured."""

    exit_code = 5
    http_status = 409


class StoreUnavailable(QAError):
    """The Chroma server cannot be reached, or the data directory cannot be used."""

    exit_code = 6
    http_status = 503


class ModelError(QAError):
    """The language model's server answered, but not with something usable (rejected key, bad reply)."""

    exit_code = 8
    http_status = 502


class ModelUnavailable(QAError):
    """The language model's server cannot be reached, timed out, or keeps rate-limiting."""

    exit_code = 8
    http_status = 503


class ConfigError(QAError):
    """A setting is missing or contradicts another."""

    exit_code = 2
    http_status = 500


class LoadError(QAError):
    """An article file cannot be loaded (missing, empty, binary, unsupported)."""

    exit_code = 7
    http_status = 422
