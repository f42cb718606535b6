"""Domain errors. A message says what is wrong and what to do in words that fit every shell; `code` names the
situation, so that each shell can add its own hint (a command for the CLI, a field or a route for the API)."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error a user can cause or fix. Never shown with a traceback."""

    exit_code: int = 1
    http_status: int = 400
    default_code: str = "error"

    def __init__(self, message: str, code: str | None = None, *, article_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.article_id = article_id  # the article the error is about, for a client to act on (open, replace)


class InvalidInput(QAError):
    """The request itself is malformed (empty question, oversized input, bad field)."""

    exit_code = 2
    http_status = 422
    default_code = "invalid_input"


class NotIndexed(QAError):
    """Asked before anything was indexed."""

    exit_code = 3
    http_status = 409
    default_code = "not_indexed"


class NotFound(QAError):
    """An article or session that does not exist."""

    exit_code = 4
    http_status = 404
    default_code = "not_found"


class Conflict(QAError):
    """The request would silently overwrite something that exists."""

    exit_code = 2
    http_status = 409
    default_code = "conflict"


class EmbedderMismatch(QAError):
    """The collection was built by another embedder than the one configured."""

    exit_code = 5
    http_status = 409
    default_code = "embedder_mismatch"


class StoreUnavailable(QAError):
    """The Chroma server cannot be reached, or the data directory cannot be used."""

    exit_code = 6
    http_status = 503
    default_code = "store_unavailable"


class ModelError(QAError):
    """The language model's server answered, but not with something usable (rejected key, bad reply)."""

    exit_code = 8
    http_status = 502
    default_code = "model_error"


class ModelUnavailable(QAError):
    """The language model's server cannot be reached, timed out, or keeps rate-limiting."""

    exit_code = 8
    http_status = 503
    default_code = "model_unavailable"


class ConfigError(QAError):
    """A setting is missing or contradicts another."""

    exit_code = 2
    http_status = 500
    default_code = "config_error"


class LoadError(QAError):
    """An article file cannot be loaded (missing, empty, binary, unsupported)."""

    exit_code = 7
    http_status = 422
    default_code = "load_error"


# Codes of the situations a shell may add a hint to (see qa/cli/console.py and api/errors.py).
EMPTY_QUESTION = "empty_question"
UNKNOWN_ARTICLE = "unknown_article"
UNKNOWN_SESSION = "unknown_session"
EMPTY_WINDOW = "empty_window"  # a date filter that ends where or before it starts
UNKNOWN_SOURCE = "unknown_source"  # a source filter naming an outlet no article has
UNKNOWN_FILTER_ARTICLE = "unknown_filter_article"  # an article filter naming an id no article has


class Unauthenticated(QAError):
    """No API key, or one that is not (or no longer) valid, where the server requires one."""

    exit_code = 9
    http_status = 401
    default_code = "invalid_api_key"


class Forbidden(QAError):
    """A valid key without the scope the call needs, or an anonymous call the server does not take."""

    exit_code = 9
    http_status = 403
    default_code = "forbidden"


class RateLimited(QAError):
    """A key (or an anonymous address) that made more calls than its rate limit allows."""

    exit_code = 9
    http_status = 429
    default_code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
