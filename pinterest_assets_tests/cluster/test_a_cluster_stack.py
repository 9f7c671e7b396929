"""`pinterest stack up --cluster`: 3 brokers with RF 3 topics, a Spark master with 2 alive workers,
`stack status --json` / `stack env` naming them; the local S3 server's honesty about memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
import pytest

from pinterest_assets.settings import Settings
from pinterest_platform.stack import cluster, common, manager

pytestmark = pytest.mark.cluster


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pinterest_platform.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_status_json_lists_three_brokers_and_the_spark_master(cluster_stack: Settings):
    out = cli("stack", "status", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    ports = cluster.ports(cluster_stack)
    expected = [f"127.0.0.1:{p}" for p in ports["brokers"]]
    assert info["mode"] == "cluster"
    assert [b["address"] for b in info["kafka_brokers"]] == expected
    assert all(b["running"] and b["pid"] for b in info["kafka_brokers"]), info["kafka_brokers"]
    assert info["kafka_bootstrap"] == ",".join(expected)
    assert info["spark_master"] == f"spark://127.0.0.1:{ports['spark_master']}"
    assert info["spark_master_ui"] == f"http://127.0.0.1:{ports['spark_master_ui']}"
    for name in ("kafka_1", "kafka_2", "kafka_3", "spark_master", "spark_worker_1", "spark_worker_2",
                 "postgres", "s3"):
        svc = info["services"][name]
        assert svc["running"] and svc["pid"], (name, svc)
        assert psutil.pid_exists(svc["pid"]), name
    # every broker is its own JVM, every Spark daemon too (7 distinct processes)
    pids = {info["services"][n]["pid"] for n in ("kafka_1", "kafka_2", "kafka_3", "spark_master",
                                                 "spark_worker_1", "spark_worker_2")}
    assert len(pids) == 6
    assert all("java" in psutil.Process(p).name() for p in pids)


def test_topics_have_replication_factor_3_and_min_insync_2(cluster_stack: Settings):
    from kafka import KafkaAdminClient

    described = cluster.describe_topics(cluster.bootstrap(cluster_stack))
    assert described == {topic: {"partitions": 3, "replication_factor": 3, "in_sync_replicas": 3,
                                 "min_insync_replicas": 2}
                         for topic in ("pinterest.pin", "pinterest.geo", "pinterest.user")}
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap(cluster_stack).split(","))
    try:
        brokers = sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"])
        # leadership is spread: every broker leads at least one of the 9 partitions
        leaders = {p["leader_id"] for t in admin.describe_topics(list(described)) for p in t["partitions"]}
    finally:
        admin.close()
    assert brokers == [1, 2, 3]
    assert leaders == {1, 2, 3}


def test_spark_master_reports_two_alive_workers(cluster_stack: Settings):
    info = cluster.master_json(cluster_stack)
    assert info["status"] == "ALIVE"
    assert info["aliveworkers"] == 2
    alive = [w for w in info["workers"] if w["state"] == "ALIVE"]
    assert len(alive) == 2
    assert all(w["cores"] == 1 and w["memory"] == 3072 for w in alive), alive
    assert all(w["host"] == "127.0.0.1" for w in alive)


def test_up_again_is_idempotent(cluster_stack: Settings):
    before = manager.status(cluster_stack)["services"]
    out = cli("stack", "up", "--cluster", "--s3", "--json")
    assert out.returncode == 0, out.stderr
    after = json.loads(out.stdout)["services"]
    assert {k: v["pid"] for k, v in after.items()} == {k: v["pid"] for k, v in before.items()}


def test_env_points_spark_and_clients_at_the_cluster(cluster_stack: Settings):
    out = cli("stack", "env")
    assert out.returncode == 0, out.stderr
    lines = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines())
    assert lines["PINTEREST_SPARK_MASTER"] == f"'{cluster.master_url(cluster_stack)}'"
    assert lines["PINTEREST_KAFKA_BOOTSTRAP"] == f"'{cluster.bootstrap(cluster_stack)}'"
    assert lines["PINTEREST_S3_ENDPOINT"] == f"'http://127.0.0.1:{cluster_stack.s3_port}'"


def test_single_node_up_refuses_while_the_cluster_listens_and_plain_up_keeps_the_cluster(cluster_stack):
    out = cli("stack", "up")
    assert out.returncode == 0, out.stderr
    # no single-node broker was started next to the cluster
    assert "kafka" not in manager.status(cluster_stack)["services"]
    assert not common.read_state(cluster_stack).get("kafka")


def test_stack_up_help_names_moto_and_says_in_memory():
    out = cli("stack", "up", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "moto" in text and "IN MEMORY" in text
    assert "S3Proxy" not in text


def test_up_s3_says_plainly_that_the_local_s3_is_in_memory(cluster_stack: Settings):
    out = cli("stack", "up", "--s3")
    assert out.returncode == 0, out.stderr
    assert "moto" in out.stderr and "IN MEMORY" in out.stderr and "gone after" in out.stderr
    status = cli("stack", "status")
    assert "keeps objects in memory" in status.stdout


def test_down_refuses_to_drop_an_s3_lake_without_force(cluster_stack: Settings):
    lake = f"s3a://{cluster_stack.s3_bucket}/lake"
    before = manager.status(cluster_stack)["services"]
    out = cli("stack", "down", env={"PINTEREST_LAKE_URI": lake})
    assert out.returncode == 1
    assert out.stderr.startswith("Error: refusing to stop the local S3 server"), out.stderr
    assert lake in out.stderr and "--force" in out.stderr and "Traceback" not in out.stderr
    # nothing was stopped
    assert manager.status(cluster_stack)["services"] == before
