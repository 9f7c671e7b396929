"""One running pin_stream query per checkpoint: a second `pinterest stream` says so in one line and
does not start; ingest_job's pin_stream leaves the work to the running stream."""

import subprocess
import sys
import uuid

import dagster as dg
import pytest

from pinterest_assets.assets.streamed import pin_stream
from pinterest_assets.stream.checkpoint import CheckpointInUse
from pinterest_assets.stream.config import PinStreamConfig
from pinterest_assets.stream.postgres_sink import PinStreamSink
from pinterest_assets.stream.query import start_pin_stream
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.resources.lake import LakeResource
from pinterest_assets.resources.spark_resource import SparkResource
from pinterest_assets.settings import project_root
from pinterest_assets_tests.serving.conftest import pin_record

pytestmark = pytest.mark.integration


def test_a_second_owner_of_the_checkpoint_does_not_start(stack, spark, postgres, new_topic, produce, query_pg,
                                                          tmp_path):
    topic = new_topic()
    table = f"pin_stream_owner_{uuid.uuid4().hex[:8]}"
    produce(topic, [pin_record(1, str(uuid.uuid4()))])
    checkpoint = tmp_path / "checkpoint"
    config = PinStreamConfig(topic=topic, table=table, checkpoint_dir=str(checkpoint),
                             bootstrap_servers=stack.kafka_bootstrap_servers)
    running, sink = start_pin_stream(spark, config, PinStreamSink(postgres, table=table), postgres=postgres,
                                     trigger={"processingTime": "1 hour"}, owner="the first stream")
    try:
        # the same folder spelled another way is the same checkpoint
        again = config.model_copy(update={"checkpoint_dir": checkpoint.as_uri() + "/"})
        with pytest.raises(CheckpointInUse) as info:
            start_pin_stream(spark, again, PinStreamSink(postgres, table=table), postgres=postgres,
                             trigger={"availableNow": True})
        message = info.value.description
        assert message.startswith(f"not started: the pin_stream checkpoint {checkpoint} is in use by "
                                  "the first stream (Postgres backend ")
        assert "\n" not in message

        # `pinterest stream`: the same line, before Spark starts, exit code 1
        done = subprocess.run(
            [sys.executable, "-m", "pinterest_platform.cli", "stream", "--topic", topic, "--table", table,
             "--checkpoint-dir", str(checkpoint), "--warm-up-records", "0"],
            capture_output=True, text=True, timeout=120, cwd=project_root())
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.strip().splitlines() == [f"Error: {message}"], done.stdout + done.stderr
        assert "streaming " not in done.stdout

        # ingest_job's pin_stream leaves the work to the running stream: no materialization, no failure
        result = dg.materialize(
            [pin_stream], resources={"postgres": postgres, "kafka": KafkaResource.from_settings(),
                                     "lake": LakeResource.from_settings(), "pyspark": SparkResource()},
            run_config=dg.RunConfig(ops={"pin_stream": config}))
        assert result.success and result.asset_materializations_for_node("pin_stream") == []
    finally:
        running.stop()
        sink.close()

    # given up when the owner stops: the next one starts and catches up
    following, sink = start_pin_stream(spark, config, PinStreamSink(postgres, table=table), postgres=postgres,
                                       trigger={"availableNow": True})
    try:
        following.awaitTermination()
    finally:
        sink.close()
    assert query_pg(f'SELECT count(*) FROM pinterest."{table}"') == [(1,)]
