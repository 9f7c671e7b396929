"""The Spark session factory against the real Kafka broker and the real S3 server."""

from __future__ import annotations

import json
import uuid

import pytest
from kafka import KafkaProducer

from pinterest_assets.settings import Settings

pytestmark = pytest.mark.integration


def test_session_is_utc_with_connector_jars(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    jvm = spark.sparkContext._jvm
    for cls in ("org.apache.spark.sql.kafka010.KafkaSourceProvider",
                "org.apache.hadoop.fs.s3a.S3AFileSystem", "org.postgresql.Driver"):
        assert jvm.java.lang.Class.forName(cls) is not None


def test_spark_reads_a_kafka_topic(stack: Settings, spark):
    marker = str(uuid.uuid4())
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all")
    for i in range(5):
        producer.send("pinterest.user", key=f"{marker}-{i}".encode(),
                      value=json.dumps({"ind": i, "marker": marker}).encode())
    producer.flush()
    producer.close()
    df = (spark.read.format("kafka")
          .option("kafka.bootstrap.servers", stack.kafka_bootstrap_servers)
          .option("subscribe", "pinterest.user")
          .option("startingOffsets", "earliest").option("endingOffsets", "latest")
          .load())
    # the shared topic may also hold other tests' records, poison messages included
    texts = [r.value for r in df.selectExpr("cast(value as string) as value").collect()]
    values = [json.loads(t) for t in texts if t and marker in t]
    assert sorted(v["ind"] for v in values) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("scheme", ["file", "s3a"])
def test_parquet_round_trip(stack: Settings, spark, tmp_path, scheme):
    base = tmp_path.as_uri() if scheme == "file" else f"s3a://{stack.s3_bucket}/tests/{uuid.uuid4()}"
    rows = [(i, f"tïtle {i}") for i in range(100)]
    spark.createDataFrame(rows, "id long, title string").write.mode("overwrite").parquet(f"{base}/t")
    back = spark.read.parquet(f"{base}/t")
    assert sorted((r.id, r.title) for r in back.collect()) == rows
    if scheme == "s3a":
        from pinterest_platform.stack.s3 import client

        keys = [o["Key"] for o in client(stack).list_objects_v2(
            Bucket=stack.s3_bucket, Prefix=base.split(f"{stack.s3_bucket}/", 1)[1]).get("Contents", [])]
        assert any(k.endswith(".parquet") for k in keys)
