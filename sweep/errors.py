"""The one error tree of sweep; every error carries its context, and none ever holds the API key.

    SweepError                      base of everything sweep raises on purpose
    ├── UsageError                  bad input from the user: stop at once, exit 2
    │   ├── StudyFileError          a study file is unreadable or invalid (file, field, value)
    │   └── SettingsError           environment / flags are inconsistent (field, value)
    ├── StudioError                 the Edge Impulse API (either backend) did not do what was asked
    │   ├── AuthError               401/403: stop the sweep at once
    │   ├── ApiError                a definite answer that says no: 4xx or ``success: false``
    │   ├── TransientError          retries exhausted on connect/read errors, 429 or 5xx
    │   └── ProtocolError           an answer that does not parse into the official shape
    ├── JobError                    one train job did not give a usable model: fail the trial, go on
    │   ├── JobFailed               finished with ``finishedSuccessful`` false (reason from its error lines)
    │   ├── JobVanished             the server no longer knows the job (404 on its status)
    │   ├── StaleModelError         metadata older than the job's start
    │   └── JobTimeout              the job or its profiling did not finish in time
    ├── SweepAborted                the sweep stops on purpose (consecutive failures, a budget)
    │   └── Interrupted             Ctrl-C or SIGTERM: running jobs cancelled, their trials recorded (exit 130)
    └── LocalStudioError            the embedded local studio cannot start or serve

    KeyboardInterrupt               (Python's) Ctrl-C, SIGINT
    └── Terminated                  SIGTERM, raised where Ctrl-C raises: stops the run the same way

What happens next is decided by the class, never by the message text. ``transient`` (a class attribute, set per
instance by ``JobFailed``) says that an error tells nothing about the trial's configuration: its job vanished,
its server stopped under it, or Studio kept answering 5xx; such a trial's configuration is tried once more
(:mod:`sweep.run.retries`). A job's own errors, refusals and anything unknown are not transient.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "Interrupted",
    "JobError",
    "JobFailed",
    "JobTimeout",
    "JobVanished",
    "LocalStudioError",
    "ProtocolError",
    "SettingsError",
    "StaleModelError",
    "StudioError",
    "StudyFileError",
    "SweepAborted",
    "SweepError",
    "Terminated",
    "TransientError",
    "UsageError",
    "install_hint",
    "interrupt_reason",
]


class SweepError(Exception):
    """Base of every error sweep raises on purpose."""

    exit_code: int = 1
    transient: bool = False  # says nothing about the trial's configuration (its trial may be retried)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(SweepError):
    """Bad input from the user; nothing was done."""

    exit_code = 2


class StudyFileError(UsageError):
    """A study file is unreadable or invalid."""

    def __init__(self, file: str, field: str, value: Any, reason: str) -> None:
        self.file, self.field, self.value, self.reason = file, field, value, reason
        where = f"{file}: {field}" if field else file
        shown = "" if value is _MISSING else f" (got {value!r})"
        super().__init__(f"{where}: {reason}{shown}")


class SettingsError(UsageError):
    """Environment variables or flags are missing or inconsistent."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


class StudioError(SweepError):
    """The Edge Impulse API did not do what was asked."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        route: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.method, self.route, self.status_code = method, route, status_code
        where = " ".join(p for p in (method, route) if p)
        code = f" -> HTTP {status_code}" if status_code is not None else ""
        super().__init__(f"{where}{code}: {message}" if where else message)


class AuthError(StudioError):
    """401/403: the key is missing, wrong or lacks access (the key itself is never shown)."""

    exit_code = 3


class ApiError(StudioError):
    """A definite refusal: a 4xx answer or ``success: false``."""


class TransientError(StudioError):
    """Connect/read errors, 429 or 5xx that outlasted the retry budget."""

    transient = True


class ProtocolError(StudioError):
    """An answer that does not have the official shape."""


class JobError(SweepError):
    """One train job did not give a usable model."""

    def __init__(self, message: str, *, job_id: int | None = None) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id}: {message}" if job_id is not None else message)


class JobFailed(JobError):
    """The job finished unsuccessfully; ``log_tail`` holds its last lines, oldest first, ``compute_time_s`` the
    compute it still cost (None when the status did not say), ``transient`` whether its server stopped under it
    (the job's status says so: ``Job.stopped_by_server``) rather than the job failing by itself."""

    def __init__(self, message: str, *, job_id: int | None = None, log_tail: list[str] | None = None,
                 compute_time_s: float | None = None, transient: bool = False) -> None:
        super().__init__(message, job_id=job_id)
        self.log_tail = list(log_tail or [])
        self.compute_time_s = compute_time_s
        self.transient = transient


class JobVanished(JobError):
    """The server answers 404 for a job that was submitted: deleted, or the server lost its jobs."""

    transient = True


class StaleModelError(JobError):
    """The learn block's metadata was written before this job started."""


class JobTimeout(JobError):
    """The job (or its profiling job) did not finish within the allowed time."""


class SweepAborted(SweepError):
    """The sweep stopped on purpose: too many consecutive failures, or an interrupt."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Interrupted(SweepAborted):
    """The stop event was set while a job was being followed or awaited (Ctrl-C, SIGTERM)."""

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message, exit_code=130)


def install_hint(extra: str) -> str:
    """How an error tells to install a missing extra: the README's command, from the clone (the distribution is
    not installed from PyPI by name): ``pip install -e '.[dashboard]'``."""
    return f"pip install -e '.[{extra}]'"


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's stop, ``kill``): handled as Ctrl-C is, and told apart from it in messages."""


def interrupt_reason(exc: BaseException) -> str:
    """What stopped the run, for its messages: ``interrupted by SIGTERM``, or by Ctrl-C (SIGINT)."""
    return "interrupted by SIGTERM" if isinstance(exc, Terminated) else "interrupted by Ctrl-C (SIGINT)"


class LocalStudioError(SweepError):
    """The embedded local studio could not start or serve."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
MISSING: Any = _MISSING
