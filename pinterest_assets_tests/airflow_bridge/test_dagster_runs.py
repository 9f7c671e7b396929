"""The DAG against a real Dagster webserver + daemon running this project's code location.

`dag.test()` runs in the Airflow venv (airflow_probe.py); the checks run here, in the main venv."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from kafka import KafkaProducer

from pinterest_assets.settings import Settings
from pinterest_assets_tests.airflow_bridge.airflow_env import airflow_base_env, run_probe

pytestmark = pytest.mark.integration


def produce_day_of_events(stack: Settings, n: int = 12) -> set[str]:
    """Post-API shaped raw records straight to Kafka; their Kafka timestamps are today (UTC)."""
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all",
                             value_serializer=lambda v: json.dumps(v).encode())
    keys = set()
    for i in range(n):
        uid = str(uuid.uuid4())
        keys.add(uid)
        producer.send("pinterest.pin", key=uid.encode(), value={
            "index": i, "unique_id": uid, "title": f"Pin {i}", "follower_count": "12k",
            "tag_list": "a,b", "is_image_or_video": "image", "downloaded": 1,
            "save_location": "Local save in /data/art", "category": "art"})
        producer.send("pinterest.geo", key=str(i).encode(), value={
            "ind": i, "timestamp": "2020-08-28 03:52:47", "latitude": 1.5, "longitude": 2.5, "country": "Chad"})
        producer.send("pinterest.user", key=str(i).encode(), value={
            "ind": i, "first_name": "Ada", "last_name": "Lovelace", "age": 36, "date_joined": "2016-01-01 00:00:00"})
    producer.flush()
    producer.close()
    return keys


def today() -> datetime:
    now = datetime.now(timezone.utc)
    return datetime(now.year, now.month, now.day, tzinfo=timezone.utc)


# the real daily job (Spark landing, cleaning, Postgres) under dag.test(): minutes on a shared machine
@pytest.mark.timeout(1500)
def test_dag_run_launches_daily_job_for_the_interval_day(stack, spark, dagster_server, airflow_db):
    from pinterest_bridge.dagster_runs import DagsterClient

    keys = produce_day_of_events(stack)
    day = today()
    partition = day.strftime("%Y-%m-%d")
    host, port = dagster_server.removeprefix("http://").split(":")
    # Dagster is found through the Airflow connection `dagster_default` here (defined by env var)
    env = airflow_base_env(airflow_db, PINTEREST_DAGSTER_WAIT_TIMEOUT="1500",
                           AIRFLOW_CONN_DAGSTER_DEFAULT=json.dumps({"conn_type": "http", "host": host,
                                                                    "port": int(port)}))
    env.pop("PINTEREST_DAGSTER_URL", None)

    # `airflow dags test pinterest_daily_batch <D+1>`: the interval [D, D+1) -> partition D
    result, output = run_probe(env, "test", (day + timedelta(days=1)).isoformat(), timeout=1200)
    assert result["state"] == "success", output[-6000:]

    runs = DagsterClient(dagster_server).find_runs("daily_batch_job", {"dagster/partition": partition})
    assert [r.status for r in runs] == ["SUCCESS"]

    from pinterest_assets.io_managers.lake import read_cleaned_day
    from pinterest_assets.resources.lake import LakeResource

    cleaned = read_cleaned_day(spark, LakeResource.from_settings(stack), "pin", partition)
    assert keys <= {r.unique_id for r in cleaned.select("unique_id").collect()}
    with psycopg.connect(stack.postgres_dsn) as conn:
        in_table = {r[0] for r in conn.execute("select unique_id from pinterest.pin_table").fetchall()}
    assert keys <= in_table


def test_failed_dagster_run_fails_the_airflow_task_with_its_id(stack, dagster_server, airflow_db):
    from pinterest_bridge.dagster_runs import DagsterClient

    env = airflow_base_env(airflow_db, PINTEREST_DAGSTER_URL=dagster_server,
                           PINTEREST_DAGSTER_JOB="failing_daily_batch_job",
                           PINTEREST_DAILY_START_DATE="2025-01-01")
    result, output = run_probe(env, "test", "2025-03-02T00:00:00", timeout=600)
    assert result["state"] == "failed"
    runs = DagsterClient(dagster_server).find_runs("failing_daily_batch_job", {"dagster/partition": "2025-03-01"})
    assert [r.status for r in runs] == ["FAILURE"]
    assert runs[0].run_id in output
    assert f"{dagster_server}/runs/{runs[0].run_id}" in output


def test_a_retried_launch_reuses_the_dagster_run(dagster_server):
    from pinterest_bridge.dagster_runs import DagsterClient, launch_or_reuse

    client = DagsterClient(dagster_server)
    dag_run_id = f"manual__{uuid.uuid4()}"
    first, reused_first = launch_or_reuse(client, "2025-02-01", dag_run_id, job_name="noop_job")
    second, reused_second = launch_or_reuse(client, "2025-02-01", dag_run_id, job_name="noop_job")
    assert (reused_first, reused_second) == (False, True)
    assert second.run_id == first.run_id
    runs = client.find_runs("noop_job", {"airflow/dag_run_id": dag_run_id})
    assert [r.run_id for r in runs] == [first.run_id]
