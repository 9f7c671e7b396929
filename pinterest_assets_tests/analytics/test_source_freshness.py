"""dbt source freshness as Dagster asset checks on the daily tables, run by dbt against real Postgres."""

from __future__ import annotations

import uuid

import dagster as dg
import psycopg
import pytest

pytestmark = pytest.mark.integration


def test_source_freshness_checks_pass_warn_and_fail_by_the_newest_event(stack):
    from pinterest_assets.assets.analytics import (
        SOURCE_FRESHNESS_CHECK,
        build_source_freshness_checks,
        dbt_executable,
        dbt_project,
    )
    from pinterest_assets.resources.postgres import PostgresResource
    from dagster_dbt import DbtCliResource

    schema = f"fresh_{uuid.uuid4().hex[:8]}"
    ages = {"pin_table": "1 hour", "geo_table": "30 hours", "user_table": "60 hours"}
    with psycopg.connect(stack.postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        for table, age in ages.items():
            conn.execute(f'CREATE TABLE "{schema}"."{table}" (date date, _kafka_timestamp timestamptz)')
            conn.execute(f"INSERT INTO \"{schema}\".\"{table}\" VALUES (current_date, now() - interval '{age}')")
    checks = build_source_freshness_checks()
    defs = dg.Definitions(
        asset_checks=[checks],
        jobs=[dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(checks))],
        resources={"dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable()),
                   "postgres": PostgresResource(dsn=stack.postgres_dsn)})
    result = defs.resolve_job_def("freshness").execute_in_process(
        run_config={"ops": {SOURCE_FRESHNESS_CHECK: {"config": {"source_schema": schema}}}}, raise_on_error=False)
    evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == set(ages)
    assert evaluations["pin_table"].passed and evaluations["pin_table"].metadata["status"].value == "pass"
    assert evaluations["geo_table"].passed and evaluations["geo_table"].severity == dg.AssetCheckSeverity.WARN
    assert not evaluations["user_table"].passed
    assert evaluations["user_table"].metadata["status"].value == "error"
    assert 59 * 3600 < evaluations["user_table"].metadata["age_seconds"].value < 61 * 3600
