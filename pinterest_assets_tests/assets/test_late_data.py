"""Late data: events stamped with a day that was already cleaned get that day cleaned again without
anyone asking (late_data_sensor), and "newest" is log order in the daily tables too."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest

from pinterest_assets.assets.cleaned import build_cleaned_assets
from pinterest_assets.assets.raw import build_raw_assets, build_topic_specs
from pinterest_assets.sensors import build_late_data_sensor, late_days
from pinterest_assets_tests.assets.conftest import day_ms
from pinterest_ingest.datagen import generate_pins

DAY = "2025-05-04"


def test_late_days_rule():
    assert late_days(["2025-01-01", "2025-01-02", "2025-01-03"],
                     {"2025-01-01": False, "2025-01-02": True, "2025-01-03": None}, skip=None) == ["2025-01-01"]
    assert late_days(["2025-01-01"], {"2025-01-01": False}, skip="2025-01-01") == []


def test_ingest_job_is_retried_by_the_daemon():
    from pinterest_assets.jobs import build_ingest_job

    assert build_ingest_job().tags["dagster/max_retries"] == "3"
    import yaml

    from pinterest_assets.settings import project_root

    config = yaml.safe_load((project_root() / "dagster.yaml").read_text())
    assert config["run_retries"]["enabled"] is True


@pytest.mark.integration
def test_late_events_for_a_cleaned_day_request_that_day_again(spark, resources, file_lake, produce, topics):
    instance = dg.DagsterInstance.ephemeral()
    # the daily job's lake half (this test has no Postgres side)
    job = dg.define_asset_job("daily_batch_job", selection=dg.AssetSelection.assets(
        *[f"raw_{e}" for e in ("pin", "geo", "user")], *[f"cleaned_{e}" for e in ("pin", "geo", "user")]),
        executor_def=dg.in_process_executor)
    defs = dg.Definitions(assets=[*build_topic_specs(), *build_raw_assets(), *build_cleaned_assets()],
                          jobs=[job], resources=resources)
    sensor = build_late_data_sensor(job=job)

    def tick(cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        return sensor.evaluate_tick(context)

    pins = generate_pins(6, seed=41)
    produce(topics["pin"], pins, key=lambda p: p["unique_id"], timestamp_ms=day_ms(DAY), partition=0)
    first = tick(None)  # starts watching from now
    assert not first.run_requests

    daily = defs.resolve_job_def("daily_batch_job").execute_in_process(
        partition_key=DAY, instance=instance, asset_selection=[dg.AssetKey(k) for k in ("raw_pin", "cleaned_pin")])
    assert daily.success
    # the daily run landed and cleaned DAY itself: nothing late
    after_daily = tick(first.cursor)
    assert not after_daily.run_requests

    # a late version of a pin, stamped DAY but with an older clock, landed by the next ingest
    late = {**pins[0], "title": "late but newest in the log"}
    produce(topics["pin"], [late], key=lambda p: p["unique_id"], timestamp_ms=day_ms(DAY, hour=1), partition=0)
    ingest = dg.materialize(build_raw_assets(), resources=resources, instance=instance)
    assert ingest.success
    result = tick(after_daily.cursor)
    assert [r.partition_key for r in result.run_requests] == [DAY]
    assert result.run_requests[0].tags["pinterest/trigger"] == "late_data"
    assert result.run_requests[0].tags["dagster/max_retries"] == "2"  # the daemon retries a failed re-clean
    # the same landing never asks twice
    assert not tick(result.cursor).run_requests

    # while a run for DAY waits to start (queued or not started), more late events do not ask for another
    queued = dg.DagsterRun(job_name="daily_batch_job", run_id=str(uuid.uuid4()),
                           status=dg.DagsterRunStatus.NOT_STARTED, tags={"dagster/partition": DAY})
    instance.add_run(queued)
    produce(topics["pin"], [{**late, "title": "later still"}], key=lambda p: p["unique_id"],
            timestamp_ms=day_ms(DAY, hour=2), partition=0)
    assert dg.materialize(build_raw_assets(), resources=resources, instance=instance).success
    coalesced = tick(result.cursor)
    assert not coalesced.run_requests
    instance.report_run_canceled(queued)
    late = {**late, "title": "later still"}

    # running the requested day takes the late event: the later offset wins despite its older clock
    rerun = defs.resolve_job_def("daily_batch_job").execute_in_process(
        partition_key=DAY, instance=instance, asset_selection=[dg.AssetKey(k) for k in ("raw_pin", "cleaned_pin")])
    assert rerun.success
    from pinterest_assets.io_managers.lake import read_cleaned_day

    rows = {r.unique_id: r.title for r in read_cleaned_day(spark, file_lake, "pin", DAY).collect()}
    assert rows[pins[0]["unique_id"]] == "later still"
    assert len(rows) == 6
