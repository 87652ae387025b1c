"""Retry policy for Studio calls: capped exponential backoff with full jitter, Retry-After, a time budget."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RetryPolicy", "parse_retry_after"]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long idempotent calls are retried, and how a lost train POST is recovered.

    ``attempts`` counts every try including the first; ``budget_s`` bounds the whole call (never
    slept past). Waits are ``uniform(0, min(max_delay_s, base_delay_s * 2**n))`` (full jitter)
    unless the server sent ``Retry-After``, which is honoured as given.
    """

    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    budget_s: float = 300.0
    jitter: bool = True
    # After an unanswered train POST: wait this long before the second look-up, re-POST at most this often.
    settle_s: float = 2.0
    train_reposts: int = 2
    # A job created this long before the submission time still counts as ours (clock skew).
    clock_skew_s: float = 60.0
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1 (got {self.attempts})")
        for name in ("base_delay_s", "max_delay_s", "budget_s", "settle_s", "clock_skew_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0 (got {getattr(self, name)})")
        if self.train_reposts < 0:
            raise ValueError(f"RetryPolicy.train_reposts must be >= 0 (got {self.train_reposts})")

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (0 = the first retry) without Retry-After."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2.0 ** retry))
        return ceiling * self.random() if self.jitter else ceiling

    def next_delay(self, retry: int, elapsed_s: float, retry_after_s: float | None = None) -> float | None:
        """How long to sleep before retry number ``retry``, or None when attempts or budget are spent.

        A Retry-After that would end past the budget gives up at once (retrying earlier is
        pointless); a backoff is shortened to what is left of the budget.
        """
        if retry + 1 >= self.attempts:
            return None
        left = self.budget_s - elapsed_s
        if left <= 0:
            return None
        if retry_after_s is not None:
            return retry_after_s if retry_after_s <= left else None
        return min(self.backoff(retry), left)
