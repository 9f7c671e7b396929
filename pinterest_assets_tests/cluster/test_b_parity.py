"""The same pipeline on the cluster: `ingest_job` and `daily_batch_job` on the Spark standalone
master (lake on the S3 API via s3a://) produce row-for-row the cleaned Parquet and the Postgres
tables that a `local[*]` run produces from the same Kafka input; the master lists the application.
Then the daily job run from the shell (`eval "$(pinterest stack env)"; dg launch --job
daily_batch_job --partition DAY`) completes on the master and loads the same tables again.

Small input on purpose (150 events + 30 newer versions of posted keys, each a pin, a geo and a
user record): parity is a property of the code path (the same plans on executors in other JVMs,
reading and writing s3a://), not of the volume; every run is one driver JVM, and on the cluster
two executors, whose start-up is most of the time on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from pinterest_assets import entities as registry
from pinterest_assets.settings import Settings, project_root
from pinterest_assets_tests.cluster.parity_run import ENTITIES, postgres_rows
from pinterest_platform.stack import cluster

pytestmark = pytest.mark.cluster

RUN_TIMEOUT = 900     # one run (driver start, ingest_job, daily_batch_job, read back); ~2-3 min on a quiet machine
SERVING = [f"{e}_table" for e in ENTITIES]


def truncate_tables(settings: Settings, tables=(*SERVING, "pin_stream")) -> None:
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        present = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'pinterest' "
            "and table_name = any(%s)", (list(tables),)).fetchall()]
        if present:
            conn.execute("truncate " + ", ".join(f"pinterest.{t}" for t in present))


def run_logged(cmd: list[str], env: dict, log: Path, what: str, cwd=None, timeout: float = RUN_TIMEOUT) -> float:
    """Run cmd with its output in log; fail with the log's tail (timeout included). Returns seconds."""
    started = time.monotonic()
    with open(log, "wb") as handle:
        proc = subprocess.Popen(cmd, cwd=cwd or project_root(), env=env, stdout=handle, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
            pytest.fail(f"{what} did not finish within {timeout}s:\n" + log.read_text(errors="replace")[-4000:])
    assert rc == 0, f"{what} failed ({rc}):\n" + log.read_text(errors="replace")[-4000:]
    return time.monotonic() - started


def lake_uri(settings: Settings, mode: str) -> str:
    return f"s3a://{settings.s3_bucket}/parity-{mode}"


def run(settings: Settings, mode: str, date: str, tmp_path: Path, master: str | None) -> dict:
    truncate_tables(settings)
    env = {**os.environ, "PINTEREST_LAKE_URI": lake_uri(settings, mode)}
    env.pop("PINTEREST_SPARK_MASTER", None)
    if master:
        env["PINTEREST_SPARK_MASTER"] = master
    out = tmp_path / f"{mode}.json"
    seconds = run_logged([sys.executable, "-m", "pinterest_assets_tests.cluster.parity_run", date,
                          str(tmp_path / f"checkpoint-{mode}"), str(out)],
                         env, tmp_path / f"{mode}.log", f"the {mode} run")
    result = json.loads(out.read_text())
    print(f"\nparity {mode} run: {seconds:.0f}s {result['timings']}")
    return result


@pytest.fixture(scope="module")
def parity(cluster_stack: Settings, tmp_path_factory) -> dict:
    """Post the input once, then run the pipeline on local[*] and on the cluster master."""
    from pinterest_assets_tests.ingest.conftest import run_api
    from pinterest_ingest.emulator import EmulatorConfig, run as emulate

    tmp_path = tmp_path_factory.mktemp("parity")
    with run_api() as url:
        report = emulate(EmulatorConfig(url=url, count=150, updates=30, seed=9001, concurrency=8))
    summary = report.summary()
    assert summary["failed"] == 0 and summary["accepted_total"] == summary["sent"] > 0, summary
    date = datetime.now(UTC).date().isoformat()
    local = run(cluster_stack, "local", date, tmp_path, master=None)
    on_cluster = run(cluster_stack, "cluster", date, tmp_path, master=cluster.master_url(cluster_stack))
    return {"date": date, "report": report, "local": local, "cluster": on_cluster, "tmp_path": tmp_path}


@pytest.mark.timeout(2 * RUN_TIMEOUT + 300)  # two runs + posting the input on a shared 2-core machine
def test_cluster_run_equals_local_run_row_for_row(cluster_stack: Settings, parity):
    local, on_cluster, report = parity["local"], parity["cluster"], parity["report"]
    assert local["master"].startswith("local[")
    assert on_cluster["master"] == cluster.master_url(cluster_stack)
    assert local["lake"] == lake_uri(cluster_stack, "local") and on_cluster["lake"] == lake_uri(cluster_stack, "cluster")
    for entity in ENTITIES:
        assert len(local["cleaned"][entity]) > 0, entity
        assert on_cluster["cleaned"][entity] == local["cleaned"][entity], f"cleaned_{entity} differs"
    for table, rows in local["postgres"].items():
        assert len(rows) > 0, table
        assert on_cluster["postgres"][table] == rows, f"pinterest.{table} differs"
    # the lake and Postgres hold the same keys, each once, all of them posted keys; every posted pin
    for entity in ENTITIES:
        key = registry.entity(entity).key
        accepted = {str(r["key"]).lower() for r in report.accepted_records if r["topic"] == f"pinterest.{entity}"}
        cleaned_keys = sorted(str(json.loads(r)[key]).lower() for r in on_cluster["cleaned"][entity])
        table_keys = sorted(str(json.loads(r)[key]).lower() for r in on_cluster["postgres"][f"{entity}_table"])
        assert cleaned_keys == table_keys and len(set(cleaned_keys)) == len(cleaned_keys), entity
        assert set(cleaned_keys) <= accepted, entity
        if entity == "pin":
            assert accepted <= set(cleaned_keys)

    # the master ran the cluster application (its executors did the work) and lists it completed
    master = cluster.master_json(cluster_stack)
    completed = {app["id"]: app for app in master["completedapps"]}
    assert on_cluster["app_id"] in completed, list(completed)
    app = completed[on_cluster["app_id"]]
    assert app["state"] == "FINISHED" and app["cores"] >= 1, app


@pytest.mark.timeout(RUN_TIMEOUT + 120)
def test_daily_job_run_from_the_shell_completes_on_the_master(cluster_stack: Settings, parity, tmp_path):
    """What a user types: `eval "$(pinterest stack env)"` (PINTEREST_SPARK_MASTER = the master),
    then `dg launch --job daily_batch_job --partition DAY`. The run is the master's application, it
    finishes, and the serving tables it loads equal those of the local[*] run."""
    truncate_tables(cluster_stack, SERVING)
    before = {app["id"] for app in cluster.master_json(cluster_stack)["completedapps"]}
    env = {k: v for k, v in os.environ.items() if k not in ("PINTEREST_SPARK_MASTER", "DAGSTER_HOME")}
    env["PINTEREST_LAKE_URI"] = lake_uri(cluster_stack, "cluster")   # `stack env` exports it back
    cli = f"{sys.executable} -m pinterest_platform.cli"
    dg = Path(sys.executable).parent / "dg"
    script = (f'set -e; eval "$({cli} stack env)"; '
              'test "$PINTEREST_SPARK_MASTER" = "$EXPECTED_MASTER"; '
              f'exec {dg} launch -m pinterest_assets.definitions --job daily_batch_job --partition "$DAY"')
    env.update(EXPECTED_MASTER=cluster.master_url(cluster_stack), DAY=parity["date"])
    log = tmp_path / "dg-launch.log"
    seconds = run_logged(["bash", "-c", script], env, log, "dg launch --job daily_batch_job", cwd=tmp_path)
    print(f"\ndaily_batch_job from the shell on the master: {seconds:.0f}s")
    text = log.read_text(errors="replace")
    assert "RUN_SUCCESS" in text, text[-3000:]

    # the master marks the application finished once it sees the driver go (a moment after exit)
    deadline = time.monotonic() + 60
    while True:
        new = [app for app in cluster.master_json(cluster_stack)["completedapps"] if app["id"] not in before]
        if new or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [app["name"] for app in new] == ["pinterest-dagster"], new
    assert new[0]["state"] == "FINISHED" and new[0]["cores"] >= 1, new
    rows = postgres_rows(cluster_stack.postgres_dsn)
    for table in SERVING:
        assert rows[table] == parity["local"]["postgres"][table], f"pinterest.{table} differs"
