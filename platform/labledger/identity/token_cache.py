"""A worker's short memory of whose API token it has just seen.

Looking a token up is a query of its own before the request's work: on an
API create it was a third of the statements and a transaction of its own.
So each worker process remembers, for ``TOKEN_CACHE_SECONDS``, the user a
token belonged to. Revoking a token, deactivating, locking or changing a
user, or changing a role's permissions therefore takes effect in every
worker within that time, and at once in the worker that made the change:
the identity services call ``forget_identities`` on every change they make,
which empties every cache of the process. Only tokens that worked are
remembered, so a flood of wrong tokens cannot fill the cache, and the cache
holds at most ``TOKEN_CACHE_SIZE`` tokens (the oldest go first).

The same memory keeps the last use of a token from costing a write per
request: ``LastUseThrottle`` says when a worker last wrote a token's use, so
it writes it again only ``LAST_USE_SECONDS`` later.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from labledger.identity.principal import Principal

#: How long a worker trusts what it read about a token.
TOKEN_CACHE_SECONDS = 1.0
TOKEN_CACHE_SIZE = 4096
#: How often a worker writes that a token was used (``tokens.note_token_use``): an access
#: review asks whether a token is still in use, which a last use a few minutes old answers.
LAST_USE_SECONDS = 300.0

#: Bumped by ``forget_identities``: entries remembered before the bump are stale.
_generation = 0


def forget_identities() -> None:
    """Make every token cache of this process look its tokens up again."""
    global _generation
    _generation += 1


class TokenCache:
    """Token digest -> (user, when read, generation), for ``seconds`` at most."""

    def __init__(
        self,
        seconds: float = TOKEN_CACHE_SECONDS,
        size: int = TOKEN_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[str, tuple[Principal, float, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.last_use = LastUseThrottle(clock=clock, size=size)

    def get(self, key: str) -> Principal | None:
        """The user remembered for the token whose digest is ``key`` (``tokens.token_digest``:
        the cache never holds a token itself), or None when it must be looked up."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            principal, read_at, generation = entry
            if generation != _generation or self.clock() - read_at >= self.seconds:
                del self._entries[key]
                return None
            return principal

    def put(self, key: str, principal: Principal, generation: int) -> None:
        """Remember ``principal`` for the token digest ``key``, as read while ``generation``
        was current."""
        with self._lock:
            self._entries[key] = (principal, self.clock(), generation)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def current_generation() -> int:
    """Read before looking a token up, and given to ``put`` with what was read: a
    change made during the look-up then makes the entry stale at once."""
    return _generation


class LastUseThrottle:
    """Token digest -> when this worker last wrote the token's use.

    ``due`` says whether a use should be written now; ``written`` is called once
    it was, so a write skipped because the database was busy is tried again on
    the next request. At most ``size`` tokens are remembered (the oldest go
    first: forgetting one costs one extra write, never a missed one).
    """

    def __init__(
        self,
        seconds: float = LAST_USE_SECONDS,
        size: int = TOKEN_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._written: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def due(self, key: str) -> bool:
        """Whether the use of the token with digest ``key`` should be written now."""
        with self._lock:
            at = self._written.get(key)
            return at is None or self.clock() - at >= self.seconds

    def written(self, key: str) -> None:
        """Remember that the use of the token with digest ``key`` was just written."""
        with self._lock:
            self._written[key] = self.clock()
            self._written.move_to_end(key)
            while len(self._written) > self.size:
                self._written.popitem(last=False)
