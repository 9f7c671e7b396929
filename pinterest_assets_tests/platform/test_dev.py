"""`pinterest dev` binds nothing beyond 127.0.0.1 and stops everything it started, and only that,
whether it gets Ctrl-C (SIGINT), SIGTERM to itself, or SIGTERM to its whole process group."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from pinterest_assets.settings import Settings
from pinterest_platform.dev import SENSOR, sensor_running
from pinterest_assets_tests.platform.conftest import wait_for_no_runs_in_flight
from pinterest_platform.stack.dagster_home import dagster_env, prepare_dagster_home
from pinterest_assets_tests.conftest import free_port

pytestmark = pytest.mark.integration

PINTEREST = str(Path(sys.executable).parent / "pinterest")


def wait_for(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"pinterest dev exited early:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:  # it answers (401 without a token is an answer)
                return
            time.sleep(1)
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} never answered:\n{log.read_text()[-3000:]}")


def listening(pids: set[int]) -> list[tuple[int, str, int]]:
    return [(c.pid, c.laddr.ip, c.laddr.port) for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.pid in pids]


def tree(pid: int) -> set[int]:
    try:
        return {pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


def alive(pids: set[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return out


def running_in(folder: Path) -> list[str]:
    """Processes whose working directory is `folder` or under it: `pinterest dev` starts Dagster
    there, so its code servers, run workers and their Spark JVMs all inherit it, even after being
    orphaned out of dev's process tree."""
    out = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline", "status"]):
        cwd = proc.info["cwd"]
        if cwd and proc.info["status"] != psutil.STATUS_ZOMBIE and Path(cwd).is_relative_to(folder):
            out.append(f"{proc.info['pid']} {' '.join(proc.info['cmdline'] or [])[:120]}")
    return out


def wait_for_a_run_in_flight(web: int, timeout: float) -> bool:
    """True once the dev Dagster shows a started run (the sensor launched an ingest_job)."""
    import json

    query = json.dumps({"query": "{ runsOrError(filter: {statuses: [STARTED]}) "
                                 "{ ... on Runs { results { runId } } } }"}).encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"http://127.0.0.1:{web}/graphql", data=query,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                if json.load(response)["data"]["runsOrError"]["results"]:
                    return True
        except (OSError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    return False


def _loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, and IPv4-mapped loopback (``::ffff:127.0.0.1``, how a JVM's dual-stack
    socket bound to 127.0.0.1 is listed)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def test_loopback_check_tells_loopback_from_exposed():
    assert all(map(_loopback, ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.0.2"]))
    assert not any(map(_loopback, ["0.0.0.0", "::", "::ffff:0.0.0.0", "10.0.0.5", "::ffff:192.168.1.2"]))


@pytest.mark.timeout(1500)  # Airflow standalone alone takes minutes on a loaded 2-core machine
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigterm-group-with-airflow"])
def test_dev_binds_loopback_and_stops_everything_it_started(stack, tmp_path, how):
    web, api = free_port(), free_port()
    args = [PINTEREST, "dev", "--port", str(web), "--rate", "5"]
    airflow_port = None
    if how.endswith("with-airflow"):
        airflow_port = free_port()
        args += ["--airflow", "--airflow-port", str(airflow_port)]
    env = {**os.environ, "PINTEREST_API_PORT": str(api)}
    log = tmp_path / "dev.log"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in dagster_env(stack).items():
            mp.setenv(name, value)
        prepare_dagster_home(stack)
        sensor_was_off_before = not sensor_running(SENSOR)
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{web}/server_info", proc, 300, log)
        wait_for(f"http://127.0.0.1:{api}/healthz", proc, 120, log)
        if airflow_port:
            wait_for(f"http://127.0.0.1:{airflow_port}/api/v2/monitor/health", proc, 420, log)
        time.sleep(3)  # let every child open its sockets (the code server, Airflow's parts)
        started = tree(proc.pid) - {proc.pid}
        sockets = listening(started | {proc.pid})
        assert {port for _, _, port in sockets} >= {web, api} | ({airflow_port} if airflow_port else set())
        exposed = [s for s in sockets if not _loopback(s[1])]
        assert not exposed, f"listening beyond loopback: {exposed}"

        if how == "ctrl-c":
            # stop it with a run in flight: its worker and Spark JVM must go too
            assert wait_for_a_run_in_flight(web, 300), f"no run started:\n{log.read_text()[-2000:]}"
            proc.send_signal(signal.SIGINT)
        elif how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=180)
        deadline = time.monotonic() + 30
        while alive(started) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not alive(started), f"left running: {alive(started)}\n{log.read_text()[-2000:]}"
        orphans = running_in(Settings().home / "dev" / "logs")
        assert not orphans, f"left running outside dev's tree: {orphans}\n{log.read_text()[-2000:]}"
        assert not listening({pid for pid, _, _ in sockets})
        assert "Aborted" not in log.read_text()
        # the stack was running before `pinterest dev`: it is still up (only what dev started stops)
        from pinterest_platform.stack import manager

        services = manager.status(stack)["services"]
        assert services["kafka"]["running"] and services["postgres"]["running"], services
        # the sensor dev switched on is off again in the instance other daemons on this stack share
        # (a daemon that saw it on would go on landing and streaming under other tests)
        assert sensor_was_off_before
        with pytest.MonkeyPatch.context() as mp:
            for name, value in dagster_env(stack).items():
                mp.setenv(name, value)
            assert not sensor_running(SENSOR), "pinterest dev left kafka_new_events_sensor switched on"
            assert "switched off again" in log.read_text()
        # runs dev's sensor queued may be picked up by another daemon on the shared instance (the
        # test session's): let them finish here rather than under the next tests
        wait_for_no_runs_in_flight(stack)
    finally:
        leftovers = tree(proc.pid)  # before the kill: once dev is gone its children are orphans
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in leftovers:
            try:
                psutil.Process(pid).kill()
            except psutil.NoSuchProcess:
                pass
