"""A code location for tests only: a job that always fails (failures must reach Airflow) and one
that always succeeds (launch de-duplication is tested on it)."""

import dagster as dg


@dg.op
def explode():
    raise RuntimeError("this run fails on purpose (pinterest_assets_tests.dagster_test_location)")


@dg.op
def do_nothing() -> None:
    return None


@dg.job
def failing_daily_batch_job():
    explode()


@dg.job
def noop_job():
    do_nothing()


defs = dg.Definitions(jobs=[failing_daily_batch_job, noop_job])
