"""dagster.yaml: the Dagster instance keeps its runs in the stack's PostgreSQL."""

from __future__ import annotations

import os

import dagster as dg
import psycopg
import pytest

from pinterest_assets.settings import Settings
from pinterest_platform.stack.dagster_home import dagster_env, prepare_dagster_home

pytestmark = pytest.mark.integration


@dg.op
def say_hello() -> str:
    return "hello"


@dg.job
def hello_job():
    say_hello()


def test_instance_from_dagster_yaml_stores_runs_in_postgres(stack: Settings):
    prepare_dagster_home(stack)
    env = dagster_env(stack)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with dg.DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = hello_job.execute_in_process(instance=instance)
            assert result.success
            run_id = result.run_id
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    with psycopg.connect(stack.postgres_dsn.rsplit("/", 1)[0] + "/dagster") as conn:
        status = conn.execute("select status from runs where run_id = %s", (run_id,)).fetchone()
    assert status == ("SUCCESS",)


def test_definitions_load():
    from pinterest_assets.definitions import defs

    assert isinstance(defs(), dg.Definitions)
