"""What a user does from the shell and the UI: GraphQL lineage, `dagster asset materialize`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from kafka import KafkaProducer

from pinterest_assets.settings import Settings
from pinterest_platform.stack.dagster_home import dagster_env, prepare_dagster_home

pytestmark = pytest.mark.integration


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload
    return payload["data"]


def test_webserver_graphql_shows_the_lineage(dagster_server):
    """topic (external, kind kafka) -> raw_* -> cleaned_* -> *_table, and topic -> pin_stream."""
    data = graphql(dagster_server, "{ assetNodes { assetKey { path } kinds isExecutable dependencyKeys { path } } }")
    edges = {(dep["path"][-1], node["assetKey"]["path"][-1])
             for node in data["assetNodes"] for dep in node["dependencyKeys"]}
    kinds = {node["assetKey"]["path"][-1]: set(node["kinds"]) for node in data["assetNodes"]}
    executable = {node["assetKey"]["path"][-1]: node["isExecutable"] for node in data["assetNodes"]}
    for entity in ("pin", "geo", "user"):
        topic = f"kafka_pinterest_{entity}"
        assert "kafka" in kinds[topic] and not executable[topic]  # external: written outside Dagster
        assert (topic, f"raw_{entity}") in edges
        assert (f"raw_{entity}", f"cleaned_{entity}") in edges
        assert (f"cleaned_{entity}", f"{entity}_table") in edges
    assert ("kafka_pinterest_pin", "pin_stream") in edges


def test_dagster_asset_materialize_from_the_shell(stack: Settings, spark, tmp_path):
    """`dagster asset materialize -m pinterest_assets.definitions --select raw_pin,cleaned_pin --partition D`:
    the landing (unpartitioned) and the day's cleaning in one run, as the daily job runs them."""
    uid = str(uuid.uuid4())
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all")
    producer.send("pinterest.pin", key=uid.encode(), value=json.dumps(
        {"index": 1, "unique_id": uid, "title": "From the shell", "category": "art"}).encode())
    producer.flush()
    producer.close()
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lake = tmp_path / "lake"
    prepare_dagster_home(stack)
    from pinterest_assets.io_managers.lake import read_cleaned_day
    from pinterest_assets.resources.lake import LakeResource

    # the shell's lake under this test's name for its catalog, so this process reads the same tables
    catalog = LakeResource(uri=lake.as_uri()).catalog_name
    env = {**os.environ, **dagster_env(stack), "PINTEREST_LAKE_URI": lake.as_uri(),
           "PINTEREST_ICEBERG_CATALOG": catalog}
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "pinterest_assets.definitions",
         "--select", "raw_pin,cleaned_pin", "--partition", day],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    cleaned = read_cleaned_day(spark, LakeResource(uri=lake.as_uri()), "pin", day)
    assert [r.title for r in cleaned.where(cleaned.unique_id == uid).collect()] == ["From the shell"]
