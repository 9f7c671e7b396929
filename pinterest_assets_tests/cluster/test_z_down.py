"""`pinterest stack down` stops every cluster process by its recorded PID (runs last)."""

from __future__ import annotations

import json

import psutil
import pytest

from pinterest_assets.settings import Settings
from pinterest_platform.stack import cluster, common
from pinterest_assets_tests.cluster.test_a_cluster_stack import cli

pytestmark = pytest.mark.cluster


def test_down_stops_every_broker_worker_and_master_by_pid(cluster_stack: Settings):
    info = json.loads(cli("stack", "status", "--json").stdout)
    pids = {name: svc["pid"] for name, svc in info["services"].items()}
    assert len(pids) == 8 and all(pids.values()), pids
    out = cli("stack", "down", "--force")
    assert out.returncode == 0, out.stderr
    for name in ("kafka broker 1", "kafka broker 2", "kafka broker 3", "spark_master", "spark_worker_1",
                 "spark_worker_2", "s3", "postgres"):
        assert f"{name}: stopped" in out.stderr, out.stderr
    for name, pid in pids.items():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, name
    ports = cluster.ports(cluster_stack)
    for port in [*ports["brokers"], *ports["controllers"], ports["spark_master"], ports["spark_master_ui"]]:
        assert not common.port_open("127.0.0.1", port), port
    after = json.loads(cli("stack", "status", "--json").stdout)
    assert not any(svc["running"] for svc in after["services"].values()), after["services"]
    assert after["spark_master"] == "local[*]"
    state = common.read_state(cluster_stack)
    assert not any(k.startswith(("kafka", "spark")) for k in state), state
