"""Project socket tokens: ``GET /api/{projectId}/socket-token`` issues one, the socket accepts it until it expires.

A token is random, bound to one project, kept in memory (a restarted server forgets them: the client asks for a
new one, as it does on Studio when one expires) and valid for :data:`TOKEN_TTL_S` seconds.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

__all__ = ["TOKEN_TTL_S", "SocketTokens", "query_token"]

TOKEN_TTL_S = 3600.0


def query_token(query_string: str | bytes) -> str:
    """The ``token`` of a socket URL's query string ("" if it has none)."""
    raw = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    values = parse_qs(raw).get("token") or [""]
    return values[0]


class SocketTokens:
    """Issued tokens -> (project, expiry); thread-safe (issued by a request, checked by the socket)."""

    def __init__(self, ttl_s: float = TOKEN_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[int, float]] = {}

    def issue(self, project_id: int) -> tuple[str, datetime]:
        """A new token for ``project_id`` and when it expires."""
        token = secrets.token_urlsafe(32)
        clock = time.monotonic()
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > clock}  # forget the expired ones
            self._tokens[token] = (project_id, clock + self.ttl_s)
        return token, datetime.now(UTC) + timedelta(seconds=self.ttl_s)

    def project_of(self, token: str) -> int | None:
        """The project a valid token was issued for; None for an unknown or expired one."""
        with self._lock:
            found = self._tokens.get(token) if token else None
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]
