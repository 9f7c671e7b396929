"""An S3 API server for local runs and tests: moto's standalone server, bound to 127.0.0.1.

Why not S3Proxy: its filesystem (and jimfs "transient") backends map S3A's directory-marker
objects to real folders and answer 500 when S3A deletes a marker whose folder still has
children, which breaks every Spark Parquet commit on s3a://. moto stores plain keys, as S3 does.
It keeps objects in memory: they do not survive `pinterest stack down` (Kafka and Postgres data do).
"""

from __future__ import annotations

import os
import sys

from pinterest_assets.settings import Settings
from pinterest_assets.stack import common

# Credentials of the local S3 server (the AWS_* variables win when set).
LOCAL_ACCESS_KEY = "pinterest"
LOCAL_SECRET_KEY = "pinterest-secret"


def credentials() -> tuple[str, str]:
    return (os.environ.get("AWS_ACCESS_KEY_ID") or LOCAL_ACCESS_KEY,
            os.environ.get("AWS_SECRET_ACCESS_KEY") or LOCAL_SECRET_KEY)


def endpoint(settings: Settings) -> str:
    return f"http://{settings.bind_host}:{settings.s3_port}"


def _marker(settings: Settings) -> str:
    return f"moto.server -H {settings.bind_host} -p {settings.s3_port}"


def is_running(settings: Settings) -> bool:
    info = common.read_state(settings).get("s3", {})
    return common.process_matches(info.get("pid"), _marker(settings))


def start(settings: Settings, timeout: float = 60.0) -> dict:
    if is_running(settings):
        return common.read_state(settings)["s3"]
    common.ensure_port_free(settings.bind_host, settings.s3_port, "the S3 server", "PINTEREST_S3_PORT")
    log = settings.home / "s3" / "moto.log"
    cmd = [sys.executable, "-m", *_marker(settings).split()]
    proc = common.spawn(cmd, log, env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"})
    info = {"pid": proc.pid, "port": settings.s3_port, "endpoint": endpoint(settings)}
    common.record(settings, "s3", info)
    common.wait_until(lambda: _ensure_bucket(settings), timeout, interval=0.5,
                      alive=lambda: proc.poll() is None, what="the S3 server (moto)", log=log)
    return info


def client(settings: Settings, endpoint_url: str | None = None):
    import boto3
    from botocore.config import Config

    key, secret = credentials()
    return boto3.client(
        "s3", endpoint_url=endpoint_url or endpoint(settings), aws_access_key_id=key,
        aws_secret_access_key=secret, region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                      connect_timeout=2, read_timeout=10),
    )


def _ensure_bucket(settings: Settings) -> bool:
    s3 = client(settings)
    names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if settings.s3_bucket not in names:
        s3.create_bucket(Bucket=settings.s3_bucket)
    return True


def stop(settings: Settings) -> bool:
    info = common.read_state(settings).get("s3", {})
    stopped = False
    if common.process_matches(info.get("pid"), _marker(settings)):
        common.terminate(info["pid"], timeout=15)
        stopped = True
    common.record(settings, "s3", None)
    return stopped
