"""`airflow standalone` as `make airflow` and `pinterest dev --airflow` start it, against a real Dagster.

Started from the Airflow venv the way pinterest_platform.dev does it (the venv's bin/ and the
wrapper on PATH, every listener on 127.0.0.1), on a free port with a temp AIRFLOW_HOME. Then,
through Airflow 3's REST API (v2) with the admin password standalone generated: the DAG is listed,
unpaused, and one manual run launches the Dagster job on the real `dagster_server`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import psutil
import pytest

from pinterest_assets_tests.airflow_bridge.airflow_env import AIRFLOW_VENV, DAGS_FOLDER
from pinterest_assets_tests.conftest import free_port
from pinterest_platform.dev import airflow_standalone
from pinterest_platform.stack import common

pytestmark = pytest.mark.integration

DAG = "pinterest_daily_batch"
JOB = "noop_job"  # the test location's job that succeeds at once: this test is about Airflow's side


class AirflowApi:
    def __init__(self, base: str):
        self.base = base
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(f"{self.base}{path}", method=method, headers=headers,
                                         data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def login(self, password_file) -> None:
        """Standalone's simple auth manager: user `admin`, password generated into AIRFLOW_HOME."""
        password = json.loads(password_file.read_text())["admin"]
        status, body = self.call("POST", "/auth/token", {"username": "admin", "password": password})
        assert status == 201, body
        self.token = body["access_token"]


def wait_for(what: str, check, timeout: float, proc, log):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"airflow standalone exited while waiting for {what}:\n{log.read_text()[-5000:]}"
        try:
            value = check()
        except (urllib.error.URLError, ConnectionError, OSError, KeyError, json.JSONDecodeError):
            value = None
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}:\n{log.read_text()[-5000:]}")


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    pids = {p.pid for p in procs}
    return {(c.laddr.ip, c.laddr.port) for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.pid in pids}


@pytest.fixture()
def standalone(tmp_path, dagster_server):
    """`airflow standalone` from the Airflow venv; yields (api, process, its log, AIRFLOW_HOME)."""
    home = tmp_path / "airflow_home"
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AIRFLOW") and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    # the main venv's bin/ first on PATH, as under `make dev`: the Airflow venv must still win
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", os.defpath)])
    env.update({"PINTEREST_AIRFLOW_VENV": str(AIRFLOW_VENV), "PINTEREST_DAGSTER_URL": dagster_server,
                "PINTEREST_DAGSTER_JOB": JOB,
                # no catch-up window: the one run in this test is the manual one
                "PINTEREST_DAILY_CATCHUP_DAYS": "0",
                # parse the DAG folder at once and often: the test waits for the DAG to show up
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                # a handful of task workers is plenty here (the default starts up to 32)
                "AIRFLOW__CORE__PARALLELISM": "4"})
    command, airflow_env = airflow_standalone(env, home, port=port)
    assert airflow_env["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS_FOLDER)
    log = tmp_path / "standalone.log"
    proc = common.spawn(command, log, env=airflow_env)
    api = AirflowApi(f"http://127.0.0.1:{port}")
    try:
        yield api, proc, log, home
    finally:
        stop_group(proc)


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                members.append(p)
        except (psutil.Error, ProcessLookupError):
            pass
    return members


def group_alive(proc) -> bool:
    proc.poll()  # reap standalone itself once it exits
    return bool(group_members(proc.pid))


def still_listening(addresses: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Those of `addresses` that something still listens on."""
    return {(c.laddr.ip, c.laddr.port) for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and (c.laddr.ip, c.laddr.port) in addresses}


def stop_group(proc, timeout: float = 30) -> None:
    """Ctrl-C for standalone and its components (they share its process group), then SIGKILL."""
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)


# about 1.5 min on an idle machine; the timeouts leave room for a machine shared with other test runs
@pytest.mark.timeout(1200)
def test_standalone_lists_the_dag_and_a_triggered_run_launches_the_dagster_job(standalone, dagster_server):
    from pinterest_bridge.dagster_runs import AIRFLOW_RUN_TAG, PARTITION_TAG, DagsterClient

    api, proc, log, home = standalone
    started = time.monotonic()
    wait_for("the REST API", lambda: api.call("GET", "/api/v2/monitor/health")[0] == 200, 420, proc, log)
    password_file = home / "simple_auth_manager_passwords.json.generated"
    wait_for("the generated admin password", password_file.exists, 30, proc, log)
    api.login(password_file)

    # the DAG, through the REST API, parsed without import errors
    dag = wait_for(f"{DAG} in GET /api/v2/dags",
                   lambda: next((d for d in api.call("GET", "/api/v2/dags")[1]["dags"] if d["dag_id"] == DAG), None),
                   300, proc, log)
    assert dag["is_paused"] is True  # new DAGs start paused: nothing runs before someone unpauses it
    status, errors = api.call("GET", "/api/v2/importErrors")
    assert (status, errors["total_entries"]) == (200, 0), errors

    status, body = api.call("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": False})
    assert (status, body["is_paused"]) == (200, False), body

    partition = "2024-02-29"
    status, run = api.call("POST", f"/api/v2/dags/{DAG}/dagRuns",
                           {"dag_run_id": f"manual__{uuid.uuid4()}", "logical_date": None,
                            "conf": {"partition": partition}})
    assert status == 200, run
    run_id = run["dag_run_id"]

    def finished(rid):
        state = api.call("GET", f"/api/v2/dags/{DAG}/dagRuns/{rid}")[1]["state"]
        return state if state in ("success", "failed") else None

    assert wait_for(f"DAG run {run_id}", lambda: finished(run_id), 420, proc, log) == "success"

    client = DagsterClient(dagster_server)
    runs = client.find_runs(JOB, {PARTITION_TAG: partition, AIRFLOW_RUN_TAG: run_id})
    assert [r.status for r in runs] == ["SUCCESS"]

    # every listener of the standalone and its parts (all running by now) is on 127.0.0.1
    addresses = listening_addresses(proc.pid)
    assert addresses and {ip for ip, _ in addresses} == {"127.0.0.1"}, addresses

    # with a catch-up window of 0 days, unpausing on a first deploy scheduled nothing
    status, scheduled = api.call("GET", f"/api/v2/dags/{DAG}/dagRuns?run_type=scheduled")
    assert (status, scheduled["dag_runs"]) == (200, []), scheduled
    print(f"standalone: from start to the run's success in {time.monotonic() - started:.0f}s")

    # SIGTERM to standalone alone (what `pinterest dev` and service managers send) stops all its parts
    os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and group_alive(proc):
        time.sleep(0.5)
    assert not group_alive(proc), [p.cmdline()[:3] for p in group_members(proc.pid)]
    assert not still_listening(addresses), addresses
