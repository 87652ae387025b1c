"""scripts/postgres.sh as scripts/test.sh uses it: the PostgreSQL it starts for the tests is stopped at the end, and
a server that was already running is left alone. Run against stand-in commands (no real server is touched)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
URL = "postgresql+psycopg://sweep_test:sweep_test@127.0.0.1:5432/sweep_test"

# Each stand-in records its call; the "server" runs while the file `up` exists.
_STUBS = {
    "id": 'echo 0',
    "psql": '[ -e "$STATE/up" ]',
    "runuser": 'exit 0',
    "pg_lsclusters": 'echo "16 main 5432 down postgres /var/lib/postgresql/16/main /var/log/postgresql.log"',
    "pg_createcluster": 'exit 0',
    "pg_isready": '[ -e "$STATE/up" ]',
    "pg_ctlcluster": ('case "$3" in status) [ -e "$STATE/up" ] ;; start) touch "$STATE/up" ;; '
                      'stop) rm -f "$STATE/up" ;; esac'),
    "apt-get": 'exit 1',
}


@pytest.fixture
def fake_pg(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine whose PostgreSQL commands are stand-ins; ``$STATE/calls`` lists their calls."""
    bin_dir, lib = tmp_path / "bin", tmp_path / "lib" / "16" / "bin"
    bin_dir.mkdir()
    lib.mkdir(parents=True)
    (lib / "postgres").touch()
    for name, body in _STUBS.items():
        stub = bin_dir / name
        stub.write_text(f'#!/usr/bin/env bash\necho "{name} $*" >> "$STATE/calls"\n{body}\n')
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(tmp_path),
            "SWEEP_TEST_PG_LIB": str(tmp_path / "lib")}


def _postgres(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPTS / "postgres.sh"), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def _calls(tmp_path: Path) -> list[str]:
    path = tmp_path / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_a_server_the_script_started_is_stopped_by_it(fake_pg: dict[str, str], tmp_path: Path) -> None:
    started = tmp_path / "started"
    proc = _postgres(fake_pg, "--started-file", str(started))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == URL + "\n" and (tmp_path / "up").exists()
    assert started.read_text() == "16 main\n"
    stop = _postgres(fake_pg, "--stop", str(started))
    assert stop.returncode == 0, stop.stderr
    assert not (tmp_path / "up").exists() and "pg_ctlcluster 16 main stop" in _calls(tmp_path)


def test_a_server_already_running_is_left_running(fake_pg: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "up").touch()
    started = tmp_path / "started"
    started.touch()  # test.sh's empty temporary file
    proc = _postgres(fake_pg, "--started-file", str(started))
    assert proc.returncode == 0 and proc.stdout == URL + "\n", proc.stderr
    assert started.read_text() == ""
    assert _postgres(fake_pg, "--stop", str(started)).returncode == 0
    assert (tmp_path / "up").exists() and not any(c.startswith("pg_ctlcluster") for c in _calls(tmp_path))


def test_test_sh_stops_only_what_postgres_sh_says_it_started() -> None:
    text = (SCRIPTS / "test.sh").read_text()
    assert "bash scripts/postgres.sh --started-file \"$PG_STARTED\"" in text
    assert "trap 'bash scripts/postgres.sh --stop \"$PG_STARTED\"" in text
