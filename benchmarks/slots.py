"""Parallel slots and job-finish detection, measured against the fake Studio (and, with --local, the local studio).

1. Throughput: `sweep run` (in process, Studio's default polling, the project socket on) with
   ``slots = K`` for K = 1, 2, 4, 8 on jobs of fixed length: wall time after set-up beside
   trials x job time / K (rounded up to whole rounds; target: within 5 %); set-up (clones + features) reported apart.
2. Detection: one job of 2, 10 and 60 s followed over the socket and, at the same time, another by
   polling only (the safety net): time from the job's end to the follower noticing it, beside
   max(1 s, 3 % of the run) (target: within it).
3. --local: the embedded local studio on this machine's cores, the digits study with 1 and 2 slots:
   trials per minute (real Keras training).

Run: .venv/bin/python benchmarks/slots.py [--job 5] [--trials 16] [--local] [--skip-fake]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sweep import commands
from sweep.run.follow import Follower, Polling
from sweep.settings import load_settings
from sweep.studio.client import StudioClient, make_http_client
from sweep.studio.models import SetKerasParameterRequest
from sweep.studio.socket import ProjectSocket

from fake_studio import FakeStudio, JobScript
from runner_support import write_study

KEY = "bench-key-0123456789"
SPACE = """
[space]
learning_rate = { low = 1e-4, high = 1e-2, log = true }
batch_size = { choices = [16, 32, 64] }
training_cycles = 10

[[space.layers]]
type = "dense"
neurons = { low = 8, high = 64, step = 8 }
"""


def _env(folder: Path) -> None:
    os.environ.update({"EI_API_KEY": KEY, "SWEEP_STATE_DIR": str(folder / "state"),
                       "SWEEP_REPORTS_DIR": str(folder / "reports"), "SWEEP_DATA_DIR": str(folder / "studio")})


def throughput(k: int, trials: int, job_s: float) -> tuple[float, float, float]:
    """(set-up s, wall after set-up s, ideal s) of one `sweep run` with K slots."""
    with tempfile.TemporaryDirectory() as tmp, FakeStudio(api_key=KEY,
                                                          default_script=JobScript(duration_s=job_s)) as fake:
        folder = Path(tmp)
        _env(folder)
        path = write_study(folder, fake.base_url, name=f"slots{k}", trials=trials, slots=k, space=SPACE)
        started = time.time()
        assert commands.run(path, load_settings(), write_report=False, quiet=True) == 0
        ended = time.time()
        trains = sorted(job.created for job in fake.jobs.values() if job.kind == "train")
        assert len(trains) == trials, f"{len(trains)} train jobs for {trials} trials"
    return trains[0] - started, ended - trains[0], -(-trials // k) * job_s  # rounds of K jobs


def detection(job_s: float) -> tuple[float, float]:
    """(socket lag s, polling lag s): how long after a job of ``job_s`` ended each follower noticed."""
    with FakeStudio(api_key=KEY, learn_block_ids=[7, 8], default_script=JobScript(duration_s=job_s)) as fake, \
            make_http_client(fake.base_url, None) as http:
        http.headers["x-api-key"] = KEY
        client = StudioClient(http, fake.project_id)
        socket = ProjectSocket.open(client.base_url, client.socket_token)
        assert socket is not None, "the fake Studio's socket did not open"
        lags: dict[str, float] = {}

        def follow(learn_id: int, name: str, events: ProjectSocket | None) -> None:
            request = SetKerasParameterRequest(mode="visual", training_cycles=10, learning_rate=0.01)
            job_id = client.start_training(learn_id, request)
            follower = Follower(client, polling=Polling(), stop=threading.Event(), events=events)
            follower.wait(job_id)
            lags[name] = time.time() - fake.jobs[job_id].finished_at()

        try:
            threads = [threading.Thread(target=follow, args=(7, "socket", socket)),
                       threading.Thread(target=follow, args=(8, "polling", None))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            socket.close()
    return lags["socket"], lags["polling"]


def local(slots: int, trials: int, folder: Path) -> tuple[float, float]:
    """(set-up s, trials per minute after set-up) of the digits study on the local studio."""
    import tomllib

    text = (ROOT / "studies" / "digits.toml").read_text()
    study = tomllib.loads(text)
    assert study["target"]["kind"] == "local"
    text = text.replace(f"trials = {study['trials']}", f"trials = {trials}").replace(
        'time_limit = "8m"', 'time_limit = "60m"')
    text = text.replace('project = "digits"', f'project = "digits"\nslots = {slots}')
    path = folder / f"digits{slots}.toml"
    path.write_text(text.replace('name = "digits"', f'name = "digits-slots{slots}"'))
    for key in ("EI_API_KEY",):
        os.environ.pop(key, None)
    os.environ.update({"SWEEP_STATE_DIR": str(folder / "state"), "SWEEP_DATA_DIR": str(folder / f"studio{slots}"),
                       "SWEEP_REPORTS_DIR": str(folder / "reports")})
    started = time.time()
    assert commands.run(path, load_settings(), write_report=False, quiet=True) == 0
    ended = time.time()
    storage = f"journal:{next((folder / 'state').glob(f'digits-slots{slots}*'))}"
    from sweep.session.storage import open_storage

    done = optuna.load_study(study_name=f"digits-slots{slots}", storage=open_storage(storage)).get_trials()
    firsts = [t.datetime_start.timestamp() for t in done if t.datetime_start is not None]
    first = min(firsts)
    return first - started, len(done) / ((ended - first) / 60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", type=float, default=5.0, help="seconds per fake job (throughput)")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--local", action="store_true", help="also the local studio, 1 and 2 slots")
    parser.add_argument("--local-trials", type=int, default=6)
    parser.add_argument("--detect", default="2,10,60", help="job lengths (s) for the detection part")
    parser.add_argument("--skip-fake", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ok = True
    if not args.skip_fake:
        print(f"throughput: {args.trials} trials of {args.job:g} s jobs on the fake Studio (socket on)")
        print("   K   set-up s   after set-up s   ideal s   ratio")
        for k in (1, 2, 4, 8):
            setup, wall, ideal = throughput(k, args.trials, args.job)
            ok &= wall <= 1.05 * ideal
            print(f"{k:4d} {setup:10.2f} {wall:16.2f} {ideal:9.2f} {wall / ideal:7.3f}")
        print("detection: seconds from a job's end to the follower noticing it")
        print("  job s   socket s   polling s   allowed s")
        for job_s in (float(x) for x in args.detect.split(",")):
            socket_lag, polling_lag = detection(job_s)
            allowed = max(1.0, 0.03 * job_s)
            ok &= socket_lag <= allowed and polling_lag <= allowed
            print(f"{job_s:7.0f} {socket_lag:10.3f} {polling_lag:11.3f} {allowed:11.2f}")
    if args.local:
        print(f"local studio: the digits study, {args.local_trials} trials, on {os.cpu_count()} cores")
        print(" slots   set-up s   trials/min")
        with tempfile.TemporaryDirectory() as tmp:
            for slots in (1, 2):
                setup, per_min = local(slots, args.local_trials, Path(tmp))
                print(f"{slots:6d} {setup:10.1f} {per_min:12.2f}")
    print("PASS" if ok else "OVER TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
