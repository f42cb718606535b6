"""Who may call the service: API keys with scopes, per-key rate limits, and loopback-only use without keys.

Shell-neutral: the API hands over the bearer token and the client's address and maps the errors to 401, 403 and
429 (with Retry-After). Rate limits use the `limits` library (the engine under slowapi) directly, because the limit
belongs to the key, which is known only once the key is checked, not to the route.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse, storage, strategies

from qa.errors import Forbidden, RateLimited, Unauthenticated
from qa.keys import KeyStore, Scope


@dataclass(frozen=True)
class Caller:
    """Who is calling: a key's id and name, or an anonymous address."""

    key_id: str | None
    name: str
    address: str


class Gate:
    """Admits or refuses a call. With no live key the service is open to loopback callers only, unless the operator
    opened it on purpose (`--insecure-open`); from the first key on, every call needs a key with the right scope."""

    def __init__(self, keys: KeyStore, rate_limit: str, rate_storage: str = "memory://", open_to_all: bool = False):
        self.keys = keys
        self.open_to_all = open_to_all
        self._default = parse(rate_limit)
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(rate_storage))
        self._parsed: dict[str, RateLimitItem] = {}

    def admit(self, token: str | None, scope: Scope, address: str) -> Caller:
        """The caller, or Unauthenticated / Forbidden / RateLimited."""
        if not self.keys.any_live():  # a token is ignored here: clients such as openai's always send one
            if not (self.open_to_all or is_loopback(address)):
                raise Forbidden(
                    "This server has no API keys, so it answers only on its own machine. "
                    "Ask its operator for a key (qa keys create)."
                )
            caller = Caller(None, "anonymous", address)
            if not is_loopback(address):  # opened to the network without keys: at least one limit per address
                self._spend(self._default, f"address:{address}")
            return caller
        if token is None:
            raise Unauthenticated("This server needs an API key: send it as 'Authorization: Bearer KEY'.")
        key = self.keys.verify(token)
        if key is None:
            raise Unauthenticated("The API key is not valid or was revoked.")
        if not key.allows(scope):
            raise Forbidden(f"The key '{key.name}' has the {key.scope} scope; this call needs {scope}.")
        self._spend(self._limit_of(key.rate_limit), f"key:{key.id}")
        return Caller(key.id, key.name, address)

    def _limit_of(self, rate: str | None) -> RateLimitItem:
        if rate is None:
            return self._default
        if rate not in self._parsed:
            self._parsed[rate] = parse(rate)
        return self._parsed[rate]

    def _spend(self, limit: RateLimitItem, who: str) -> None:
        if not self._limiter.hit(limit, who):
            reset = self._limiter.get_window_stats(limit, who).reset_time
            raise RateLimited(
                f"Rate limit of {limit} reached; retry later.", retry_after=max(1, math.ceil(reset - time.time()))
            )


def is_loopback(address: str) -> bool:
    """Whether a client address is this machine (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
