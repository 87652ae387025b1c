"""RetryPolicy and Retry-After parsing: both header forms, the attempt and time bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sweep.studio.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("header", "seconds"), [
    ("7", 7.0),
    (" 0 ", 0.0),
    ("2.5", 2.5),
    ("Thu, 26 Nov 2026 12:00:42 GMT", 42.0),
    ("Thu, 26 Nov 2026 11:59:00 GMT", 0.0),  # a date in the past: go now
    ("-3", 0.0),
    ("soon", None),
    ("", None),
    (None, None),
    ("nan", None),
])
def test_parse_retry_after_both_forms(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_backoff_doubles_up_to_the_cap_and_jitter_stays_below_it() -> None:
    plain = RetryPolicy(jitter=False, base_delay_s=0.5, max_delay_s=3.0, attempts=10)
    assert [plain.backoff(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    draws = iter([0.0, 0.999, 0.5])
    jittered = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0, random=lambda: next(draws))
    assert [jittered.backoff(n) for n in (0, 1, 6)] == [0.0, pytest.approx(0.999), 1.5]


def test_next_delay_respects_attempts_and_budget() -> None:
    policy = RetryPolicy(jitter=False, attempts=3, budget_s=10.0)
    assert policy.next_delay(0, elapsed_s=0.0) == 0.5
    assert policy.next_delay(2, elapsed_s=0.0) is None            # the third try was the last
    assert policy.next_delay(1, elapsed_s=9.8) == pytest.approx(0.2)  # cut to what is left
    assert policy.next_delay(0, elapsed_s=10.0) is None
    assert policy.next_delay(0, elapsed_s=2.0, retry_after_s=8.0) == 8.0
    assert policy.next_delay(0, elapsed_s=2.0, retry_after_s=9.0) is None  # would end past the budget


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"budget_s": -1.0}, {"train_reposts": -1}])
def test_policy_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)
