"""Use the local studio of a data dir for one sweep: reuse its live server, or start one; release it afterwards.

One server runs per data dir (``DATA/server.lock``). ``start()`` registers this process as an *owner*
(a lease in ``DATA/owners/``) and either reuses the live server named by ``DATA/server.json`` or starts a
new owned one (``python -m sweep.local --linger ...``, in its own session). ``stop()`` drops the lease; the
last owner stops the server (SIGTERM, then SIGKILL of its process group). If the owner dies instead
(``kill -9`` of ``sweep run``), the server notices within about a second and stops by itself ``linger``
seconds later, killing its workers, unless another run has claimed it by then. A standalone server
(``sweep serve``) is reused but never stopped by a client. See :mod:`sweep.local.lifetime`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from sweep.errors import LocalStudioError
from sweep.local.identity import StudioIdentity, ensure_identity
from sweep.local.lifetime import (
    DEFAULT_LINGER_S,
    live_owners,
    live_server,
    owners_lock,
    process_alive,
    read_server_info,
    register_job_lease,
    register_owner,
    remove_server_info,
    unregister_owner,
)

if TYPE_CHECKING:
    from sweep.local.datasets import LocalProject

__all__ = ["LINGER_ENV", "EmbeddedStudio"]

log = logging.getLogger("sweep.local.embedded")

LINGER_ENV = "SWEEP_LOCAL_LINGER_S"  # seconds an owned server outlives its last owner (default 5)


def _linger_from_env() -> float:
    text = os.environ.get(LINGER_ENV, "").strip()
    if not text:
        return DEFAULT_LINGER_S
    try:
        value = float(text)
    except ValueError:
        raise LocalStudioError(f"{LINGER_ENV} must be a number of seconds (got {text!r})") from None
    if value < 0:
        raise LocalStudioError(f"{LINGER_ENV} must not be negative (got {text!r})")
    return value


class EmbeddedStudio:
    """``with EmbeddedStudio(data_dir) as studio:`` -> ``studio.base_url``, ``.api_key``, ``.project(name)``.

    After ``start()``: ``pid`` is the server's pid, ``reused`` says whether it was already running,
    ``standalone`` whether it is a ``sweep serve`` server, ``process`` is the server if we started it.
    """

    def __init__(self, data_dir: Path, *, concurrency: int = 1, startup_timeout: float = 120.0,
                 profiling_job: bool = False, extra_args: list[str] | None = None,
                 linger: float | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.concurrency, self.startup_timeout = concurrency, startup_timeout
        self.profiling_job, self.extra_args = profiling_job, list(extra_args or [])
        self.linger = _linger_from_env() if linger is None else linger
        self.base_url = ""
        self.port = 0
        self.api_key = SecretStr("")
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.reused = False
        self.standalone = False
        self.log_path = self.data_dir / "server.log"
        self._pid_start: str | None = None
        self._lease: Path | None = None
        self.identity: StudioIdentity | None = None  # the studio's (DATA/studio.json), known once started

    # ---- life cycle
    def __enter__(self) -> EmbeddedStudio:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.identity = ensure_identity(self.data_dir)  # also for a server started before identities existed
        deadline = time.monotonic() + self.startup_timeout
        for _attempt in range(3):
            try:
                with owners_lock(self.data_dir, max(1.0, deadline - time.monotonic())):
                    info = live_server(self.data_dir)
                    self._lease = register_owner(self.data_dir)
                    if info is not None:
                        self._adopt(info)
                    else:
                        self._launch(deadline)
                self.api_key = SecretStr(self._read_key())
                self._wait_healthy(deadline)
                return
            except _Vanished as gone:  # the reused server stopped under us (e.g. SIGTERM): claim again
                log.info("%s; starting over", gone)
                self._forget()
            except BaseException:
                self.stop()
                raise
        raise LocalStudioError(f"the local studio at {self.data_dir} kept going away while we started using it")

    def stop(self, timeout: float = 20.0) -> None:
        """Release the server: the last owner stops it (SIGTERM, then SIGKILL of its group after ``timeout``).

        Under ``owners.lock``, so that no other run can claim the server while it is being stopped.
        """
        lease, proc, pid, start = self._lease, self.process, self.pid, self._pid_start
        self._lease, self.process, self.pid, self._pid_start = None, None, 0, None
        if lease is None and proc is None:
            return
        try:
            with owners_lock(self.data_dir, timeout + 30.0):
                unregister_owner(lease)
                others = live_owners(self.data_dir)
                if others or self.standalone:
                    if not self.standalone:
                        log.info("the local studio (pid %d) stays up for %d other run(s) or left job(s)", pid,
                                 len(others))
                    if proc is not None:
                        _reap_later(proc)
                    return
                self._terminate(proc, pid, start, timeout)
                remove_server_info(self.data_dir, pid)
        except LocalStudioError:  # no lock: leave the server to its own watch (it stops without owners)
            unregister_owner(lease)
            if proc is not None:
                _reap_later(proc)
            raise

    def kill(self) -> None:
        """SIGKILL the server alone, as a crash would (its workers notice and stop); for tests."""
        lease, proc, pid, start = self._lease, self.process, self.pid, self._pid_start
        self._lease, self.process, self.pid, self._pid_start = None, None, 0, None
        unregister_owner(lease)
        if proc is not None:
            proc.kill()
            proc.wait()
        elif process_alive(pid, start):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, start, 10.0)

    def keep_job(self, job_id: int) -> None:
        """Keep the server running for job ``job_id`` after this client stops (``--on-stop leave``): an owned
        server then stops once the job has finished and no owner is left, ``linger`` s later, unless a later run
        reuses it and takes the job over. A standalone server runs on anyway."""
        if self.standalone or self._lease is None:
            return
        register_job_lease(self.data_dir, job_id)
        log.info("the local studio (pid %d) runs on for job %d until it ends", self.pid, job_id)

    # ---- use
    def project(self, name: str) -> LocalProject:
        from sweep.local.datasets import find_project

        return find_project(self.data_dir, name)

    # ---- internals
    def _adopt(self, info: dict[str, Any]) -> None:
        """Use the live server ``info`` (from server.json) describes."""
        self.reused, self.standalone = True, bool(info.get("standalone"))
        self.pid, self._pid_start = int(info["pid"]), info.get("pid_start")
        self.port, self.base_url = int(info.get("port") or 0), str(info["base_url"])
        kind = "standalone (sweep serve)" if self.standalone else "owned"
        log.info("reusing the %s local studio (pid %d) at %s on %s", kind, self.pid, self.base_url, self.data_dir)
        wanted = {"concurrency": self.concurrency, "profiling_job": self.profiling_job}
        differ = {k: info.get(k) for k, v in wanted.items() if k in info and info.get(k) != v}
        if differ:
            log.warning("the running local studio on %s has %s, not %s as asked: using it as it is",
                        self.data_dir, differ, {k: wanted[k] for k in differ})

    def _launch(self, deadline: float) -> None:
        """Start an owned server (our lease is its first owner); return once it announced itself."""
        self.reused, self.standalone = False, False
        cmd = [sys.executable, "-m", "sweep.local", "--host", "127.0.0.1", "--port", "0",
               "--data-dir", str(self.data_dir), "--concurrency", str(self.concurrency),
               "--linger", f"{self.linger:g}", *self.extra_args]
        if self.profiling_job:
            cmd.append("--profiling-job")
        with open(self.log_path, "ab") as err:
            self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=err, start_new_session=True)
        self.pid = self.process.pid
        while time.monotonic() < deadline:
            info = read_server_info(self.data_dir)
            if info is not None and info["pid"] == self.pid:
                self._pid_start = info.get("pid_start")
                self.port, self.base_url = int(info["port"]), str(info["base_url"])
                return
            if self.process.poll() is not None:
                raise self._dead("exited while starting")
            time.sleep(0.05)
        raise self._dead(f"did not start listening within {self.startup_timeout:.0f} s")

    def _forget(self) -> None:
        unregister_owner(self._lease)
        self._lease, self.pid, self._pid_start, self.reused, self.standalone = None, 0, None, False, False

    def _server_alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return process_alive(self.pid, self._pid_start)

    def _terminate(self, proc: subprocess.Popen[bytes] | None, pid: int, start: str | None,
                   timeout: float) -> None:
        """SIGTERM the server (it stops its workers), then SIGKILL whatever is left of its group."""
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
        elif process_alive(pid, start):  # started by an earlier run: not our child, so watch it by pid and start
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            _wait_gone(pid, start, timeout)
        else:
            return  # gone already (its workers went with it); the pid may belong to someone else by now
        try:
            os.killpg(pid, signal.SIGKILL)  # an owned server leads its own session and process group
        except (ProcessLookupError, PermissionError):
            pass
        if proc is not None:
            proc.wait()
        else:
            _wait_gone(pid, start, 5.0)

    def _tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty server log)"

    def _dead(self, what: str) -> LocalStudioError:
        code = self.process.poll() if self.process is not None else None
        who = f"exit code {code}" if self.process is not None else f"pid {self.pid}"
        return LocalStudioError(f"the local studio {what} ({who}); the end of {self.log_path}:\n{self._tail()}")

    def _read_key(self) -> str:
        env = os.environ.get("SWEEP_LOCAL_API_KEY")
        if env:
            return env
        try:
            return (self.data_dir / "api_key").read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise LocalStudioError(f"cannot read the local studio's API key at {self.data_dir / 'api_key'}: "
                                   f"{exc.strerror}") from exc

    def _wait_healthy(self, deadline: float) -> None:
        import httpx

        from sweep.local.datasets import list_projects

        projects = list_projects(self.data_dir)
        if not projects:
            raise LocalStudioError(f"the local studio at {self.data_dir} has no projects")
        url = f"{self.base_url}/api/{projects[0].id}/jobs"
        headers = {"x-api-key": self.api_key.get_secret_value()}
        last = ""
        while time.monotonic() < deadline:
            if not self._server_alive():
                if self.reused:
                    raise _Vanished(f"the local studio (pid {self.pid}) on {self.data_dir} stopped")
                raise self._dead("exited while starting")
            try:
                answer = httpx.get(url, headers=headers, timeout=5.0)
                if answer.status_code == 200 and answer.json().get("success") is True:
                    return
                if answer.status_code == 401 and self.reused:
                    raise LocalStudioError(
                        f"the running local studio (pid {self.pid}) at {self.base_url} on {self.data_dir} refuses "
                        f"our API key (was it started with another SWEEP_LOCAL_API_KEY?)")
                last = f"HTTP {answer.status_code}"
            except (httpx.HTTPError, ValueError) as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        raise self._dead(f"did not answer an authenticated request within {self.startup_timeout:.0f} s ({last})")


class _Vanished(Exception):
    pass


def _wait_gone(pid: int, start: str | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid, start):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _reap_later(proc: subprocess.Popen[bytes]) -> None:
    """Our child server stays up for other runs: wait for it in the background so it leaves no zombie."""
    threading.Thread(target=proc.wait, name=f"sweep-local-reap-{proc.pid}", daemon=True).start()
