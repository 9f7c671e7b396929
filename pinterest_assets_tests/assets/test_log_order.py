""""Newest" is log order in batch and stream alike: of two versions of a key in one partition, the
later offset wins in pin_table and in pin_stream even when its producer timestamp is older (a clock
stepped back, another API host)."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest

from pinterest_assets_tests.assets.conftest import day_ms, make_resources
from pinterest_ingest.datagen import generate_pins

pytestmark = pytest.mark.integration

DAY = "2025-08-21"  # a day no other test loads into pin_table


def test_the_later_offset_wins_in_pin_table_and_pin_stream(stack, spark, kafka, file_lake, produce, topics, tmp_path):
    from pinterest_assets.assets.streamed import pin_stream
    from pinterest_assets.stream.config import PinStreamConfig
    from pinterest_assets.definitions import build_defs, build_resources

    pins = generate_pins(4, seed=314)
    first = [{**p, "title": f"first {i}", "follower_count": "1k"} for i, p in enumerate(pins)]
    later = [{**p, "title": f"later {i}", "follower_count": "2M"} for i, p in enumerate(pins[:2])]
    # version 1 at 18:00, version 2 (later offsets, same partition) stamped 06:00 the same day
    produce(topics["pin"], first, key=lambda p: p["unique_id"], partition=1, timestamp_ms=day_ms(DAY, hour=18))
    produce(topics["pin"], later, key=lambda p: p["unique_id"], partition=1, timestamp_ms=day_ms(DAY, hour=6))
    # the same key posted upper-case with spaces: cleaning normalises it to the same key
    produce(topics["pin"], [{**first[3], "unique_id": f"  {pins[3]['unique_id'].upper()} ", "title": "later 3"}],
            partition=1, timestamp_ms=day_ms(DAY, hour=5))
    expected = {pins[0]["unique_id"]: ("later 0", 2_000_000), pins[1]["unique_id"]: ("later 1", 2_000_000),
                pins[2]["unique_id"]: ("first 2", 1_000), pins[3]["unique_id"]: ("later 3", 1_000)}

    defs = build_defs()
    resources = {**defs.resources, **build_resources(stack), **make_resources(kafka, file_lake)}
    job = dg.Definitions(assets=defs.assets, jobs=defs.jobs, resources=resources).resolve_job_def("daily_batch_job")
    assert job.execute_in_process(partition_key=DAY, asset_selection=[
        dg.AssetKey(k) for k in ("raw_pin", "cleaned_pin", "pin_table")]).success
    with resources["postgres"].connect() as conn:
        table = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT unique_id, title, follower_count FROM pinterest.pin_table WHERE date = %s", (DAY,))}
    assert table == expected

    stream_table = f"log_order_{uuid.uuid4().hex[:8]}"
    config = PinStreamConfig(topic=topics["pin"], table=stream_table, checkpoint_dir=str(tmp_path / "cp"))
    result = dg.materialize([pin_stream], resources=resources, run_config=dg.RunConfig(ops={"pin_stream": config}))
    assert result.success
    with resources["postgres"].connect() as conn:
        streamed = {r[0]: (r[1], r[2]) for r in conn.execute(
            f'SELECT unique_id, title, follower_count FROM pinterest."{stream_table}"')}
    assert streamed == expected
