"""Start the local studio as a child process for one sweep, and stop it (with its workers) afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from pydantic import SecretStr

from sweep.errors import LocalStudioError

if TYPE_CHECKING:
    from sweep.local.datasets import LocalProject

__all__ = ["EmbeddedStudio"]


class EmbeddedStudio:
    """``with EmbeddedStudio(data_dir) as studio:`` -> ``studio.base_url``, ``.api_key``, ``.project(name)``."""

    def __init__(self, data_dir: Path, *, concurrency: int = 1, startup_timeout: float = 120.0,
                 profiling_job: bool = False, extra_args: list[str] | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.concurrency, self.startup_timeout = concurrency, startup_timeout
        self.profiling_job, self.extra_args = profiling_job, list(extra_args or [])
        self.base_url = ""
        self.port = 0
        self.api_key = SecretStr("")
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "server.log"

    # ---- life cycle
    def __enter__(self) -> EmbeddedStudio:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sweep-local-") as tmp:
            port_file = Path(tmp) / "port"
            cmd = [sys.executable, "-m", "sweep.local", "--host", "127.0.0.1", "--port", "0",
                   "--data-dir", str(self.data_dir), "--port-file", str(port_file),
                   "--concurrency", str(self.concurrency), *self.extra_args]
            if self.profiling_job:
                cmd.append("--profiling-job")
            with open(self.log_path, "ab") as err:
                self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                stderr=err, start_new_session=True)
            deadline = time.monotonic() + self.startup_timeout
            try:
                self.port = self._wait_port(port_file, deadline)
                self.base_url = f"http://127.0.0.1:{self.port}/v1"
                self.api_key = SecretStr(self._read_key())
                self._wait_healthy(deadline)
            except BaseException:
                self.stop()
                raise

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the server (it stops its workers), then SIGKILL whatever is left of its group."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()

    def kill(self) -> None:
        """SIGKILL the server alone, as a crash would (its workers notice and stop); for tests."""
        proc, self.process = self.process, None
        if proc is not None:
            proc.kill()
            proc.wait()

    # ---- use
    def project(self, name: str) -> LocalProject:
        from sweep.local.datasets import find_project

        return find_project(self.data_dir, name)

    # ---- internals
    def _tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty server log)"

    def _dead(self, what: str) -> LocalStudioError:
        code = self.process.poll() if self.process is not None else None
        return LocalStudioError(f"the local studio {what} (exit code {code}); the end of {self.log_path}:\n"
                                f"{self._tail()}")

    def _wait_port(self, port_file: Path, deadline: float) -> int:
        assert self.process is not None
        while time.monotonic() < deadline:
            if port_file.exists():
                text = port_file.read_text(encoding="utf-8").strip()
                if text.isdigit():
                    return int(text)
            if self.process.poll() is not None:
                raise self._dead("exited while starting")
            time.sleep(0.05)
        raise self._dead(f"did not start listening within {self.startup_timeout:.0f} s")

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
            assert self.process is not None
            if self.process.poll() is not None:
                raise self._dead("exited while starting")
            try:
                answer = httpx.get(url, headers=headers, timeout=5.0)
                if answer.status_code == 200 and answer.json().get("success") is True:
                    return
                last = f"HTTP {answer.status_code}"
            except (httpx.HTTPError, ValueError) as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        raise self._dead(f"did not answer an authenticated request within {self.startup_timeout:.0f} s ({last})")
