"""versitygw, the on-disk local S3 server (PINTEREST_S3_SERVER=versitygw, issue 15): the S3 calls
Spark's s3a connector makes, a partitioned Parquet round trip through s3a://, and objects that
survive a stop and a restart. A server of its own (temp home, free port, own bucket), next to the
session's stack; `make setup` builds the binary into .local/bin."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from pinterest_assets.settings import Settings
from pinterest_platform.stack import common, manager, s3

pytestmark = pytest.mark.integration

BUCKET = "vgw-lake"


def _free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def vgw(tmp_path_factory):
    """A running versitygw on a free port with its own home; yields its Settings."""
    home = tmp_path_factory.mktemp("vgw-home")
    before = os.environ.get("PINTEREST_S3_SERVER")
    os.environ["PINTEREST_S3_SERVER"] = "versitygw"
    settings = Settings(home=home, s3_port=_free(), s3_bucket=BUCKET)
    try:
        s3.start(settings)
        yield settings
    finally:
        s3.stop(settings)
        if before is None:
            os.environ.pop("PINTEREST_S3_SERVER", None)
        else:
            os.environ["PINTEREST_S3_SERVER"] = before


def _keys(client, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def test_versitygw_serves_what_s3a_calls(vgw: Settings):
    assert s3.is_running(vgw) and s3.is_persistent(vgw)
    assert manager.status(vgw)["s3_persistent"] is True
    client = s3.client(vgw)
    keys = ["t/date=2026-01-01/part 0.txt", "t/date=2026-01-02/a=b c.txt"]
    for key in keys:
        client.put_object(Bucket=BUCKET, Key=key, Body=f"body of {key}".encode())
        assert client.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(f"body of {key}")
        assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == f"body of {key}".encode()
    assert client.get_object(Bucket=BUCKET, Key=keys[0], Range="bytes=2-5")["Body"].read() == b"dy o"
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="t/", Delimiter="/")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["t/date=2026-01-01/", "t/date=2026-01-02/"]
    # s3a's rename: copy + delete
    client.copy_object(Bucket=BUCKET, Key="t/date=2026-01-03/copied =.txt", CopySource={"Bucket": BUCKET, "Key": keys[1]})
    assert client.get_object(Bucket=BUCKET, Key="t/date=2026-01-03/copied =.txt")["Body"].read() == \
        f"body of {keys[1]}".encode()
    # multipart: two 5 MiB parts and a small last one
    big = "t/date=2026-01-04/big file.bin"
    upload = client.create_multipart_upload(Bucket=BUCKET, Key=big)["UploadId"]
    chunks = [b"a" * (5 << 20), b"b" * (5 << 20), b"c" * 1000]
    parts = [{"PartNumber": n, "ETag": client.upload_part(Bucket=BUCKET, Key=big, UploadId=upload, PartNumber=n,
                                                          Body=chunk)["ETag"]}
             for n, chunk in enumerate(chunks, 1)]
    client.complete_multipart_upload(Bucket=BUCKET, Key=big, UploadId=upload, MultipartUpload={"Parts": parts})
    assert client.get_object(Bucket=BUCKET, Key=big)["Body"].read() == b"".join(chunks)
    # S3A's directory marker of a folder that still has children: deleting it is no error
    client.put_object(Bucket=BUCKET, Key="m/dir/", Body=b"")
    client.put_object(Bucket=BUCKET, Key="m/dir/child", Body=b"1")
    client.delete_object(Bucket=BUCKET, Key="m/dir/")
    assert _keys(client, "m/") == ["m/dir/child"]
    result = client.delete_objects(Bucket=BUCKET, Delete={"Objects": [
        {"Key": "m/dir/child"}, {"Key": "t/date=2026-01-03/copied =.txt"}, {"Key": big}]})
    assert not result.get("Errors") and len(result["Deleted"]) == 3
    assert _keys(client) == keys


def test_versitygw_spark_round_trip_survives_a_restart(vgw: Settings, spark):
    endpoint = s3.endpoint(vgw)
    # the session's s3a points at the stack's S3 server; this bucket at versitygw
    spark.sparkContext._jsc.hadoopConfiguration().set(f"fs.s3a.bucket.{BUCKET}.endpoint", endpoint)
    path = f"s3a://{BUCKET}/lake/events"
    rows = [(i, f"v{i}", f"2026-01-0{1 + i % 3}") for i in range(300)]
    spark.createDataFrame(rows, "id int, v string, date string").write.mode("overwrite") \
        .partitionBy("date").parquet(path)
    # dynamic partition overwrite (the lake's mode) replaces one partition only
    spark.createDataFrame([(999, "new", "2026-01-02")], "id int, v string, date string").write \
        .mode("overwrite").partitionBy("date").parquet(path)

    def counts() -> dict[str, int]:
        frame = spark.read.option("basePath", path).parquet(path)
        return {str(r["date"]): r["count"] for r in frame.groupBy("date").count().collect()}

    expected = {"2026-01-01": 100, "2026-01-02": 1, "2026-01-03": 100}
    assert counts() == expected
    stored = _keys(s3.client(vgw), "lake/")
    assert stored and all(k.endswith(".parquet") for k in stored), stored
    assert not [k for k in stored if "_temporary" in k or "spark-staging" in k]

    # stop: the port closes, the objects are files on disk; start again: all of them are served
    assert s3.stop(vgw)
    assert not common.port_open("127.0.0.1", vgw.s3_port)
    on_disk = sorted(str(p.relative_to(s3.data_dir(vgw) / BUCKET)) for p in
                     (s3.data_dir(vgw) / BUCKET / "lake").rglob("*.parquet"))
    assert on_disk == stored
    s3.start(vgw)
    assert _keys(s3.client(vgw), "lake/") == stored
    assert counts() == expected


def test_down_does_not_refuse_for_a_lake_on_versitygw(vgw: Settings):
    on_s3 = vgw.model_copy(update={"lake_uri": f"s3a://{BUCKET}/lake"})
    assert s3.is_persistent(on_s3)
    assert not manager.lake_in_local_s3(on_s3)


@pytest.mark.parametrize("env, expected", [
    ({"PINTEREST_S3_SERVER": "minio"}, "PINTEREST_S3_SERVER='minio' is not a local S3 server"),
    ({"PINTEREST_S3_SERVER": "versitygw", "PINTEREST_VERSITYGW": "/nonexistent/versitygw"},
     "PINTEREST_VERSITYGW=/nonexistent/versitygw is not an executable"),
])
def test_bad_s3_server_is_a_one_line_error_before_anything_starts(stack_env, tmp_path, env, expected):
    home = tmp_path / "home"
    run_env = {**os.environ, **env, "PINTEREST_HOME": str(home), "PINTEREST_PG_PORT": str(_free()),
               "PINTEREST_KAFKA_PORT": str(_free()), "PINTEREST_KAFKA_CONTROLLER_PORT": str(_free()),
               "PINTEREST_S3_PORT": str(_free())}
    result = subprocess.run([sys.executable, "-m", "pinterest_platform.cli", "stack", "up", "--s3"],
                            capture_output=True, text=True, env=run_env, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ") and expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not common.read_state(Settings(home=home)).get("postgres")  # nothing was started
