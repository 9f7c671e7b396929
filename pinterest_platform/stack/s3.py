"""The local S3 API server, bound to 127.0.0.1: moto's standalone server (default, IN MEMORY) or,
with ``PINTEREST_S3_SERVER=versitygw``, versitygw's posix backend (objects ON DISK under
``<PINTEREST_HOME>/s3/data``: they survive `pinterest stack down`).

moto keeps objects in memory, so `stack up --s3` says so and `stack down` refuses to stop it while
the lake URI points at it unless `--force` (see manager.down). Why these two servers, and which
were tried: docs/decisions.md, "The local S3 servers".
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pinterest_assets.resources.s3 import credentials, region
from pinterest_assets.settings import Settings, project_root
from pinterest_platform.stack import common

# the one pin of versitygw's version: `make setup` reads it from this line
VERSITYGW_VERSION = "v1.8.0"
SERVERS = ("moto", "versitygw")


def server_name() -> str:
    """The server `start` runs: PINTEREST_S3_SERVER (moto | versitygw), moto by default."""
    name = (os.environ.get("PINTEREST_S3_SERVER") or "moto").strip().lower()
    if name not in SERVERS:
        raise common.StackError(f"PINTEREST_S3_SERVER={name!r} is not a local S3 server: use moto "
                                "(in memory, the default) or versitygw (on disk)")
    return name


def versitygw_binary() -> Path:
    """PINTEREST_VERSITYGW, else `make setup`'s .local/bin/versitygw, else one on PATH."""
    configured = os.environ.get("PINTEREST_VERSITYGW")
    candidates = [Path(configured)] if configured else [project_root() / ".local" / "bin" / "versitygw"]
    found = None if configured else shutil.which("versitygw")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = f"PINTEREST_VERSITYGW={configured} is not an executable" if configured else \
        f"versitygw is not installed ({candidates[0]})"
    raise common.StackError(f"{where}: run `make setup` (builds versitygw {VERSITYGW_VERSION} with Go), "
                            "or use PINTEREST_S3_SERVER=moto (in memory)")


def preflight() -> str:
    """Fail fast, before `stack up` starts anything, on a server that cannot start; return its name."""
    server = server_name()
    if server == "versitygw":
        versitygw_binary()
    return server


def endpoint(settings: Settings) -> str:
    return f"http://{settings.bind_host}:{settings.s3_port}"


def data_dir(settings: Settings) -> Path:
    """Where versitygw keeps the buckets (one folder each) and their objects."""
    return settings.home / "s3" / "data"


def _marker(settings: Settings, server: str) -> str:
    if server == "versitygw":
        return f"versitygw --quiet --port {settings.bind_host}:{settings.s3_port}"
    return f"moto.server -H {settings.bind_host} -p {settings.s3_port}"


def _running_server(settings: Settings) -> str | None:
    """The server of this stack that runs now (as recorded by `start`), or None."""
    info = common.read_state(settings).get("s3", {})
    server = info.get("server", "moto")
    if server in SERVERS and common.process_matches(info.get("pid"), _marker(settings, server)):
        return server
    return None


def is_running(settings: Settings) -> bool:
    return _running_server(settings) is not None


def is_persistent(settings: Settings) -> bool:
    """Whether the running local S3 server keeps objects on disk (versitygw) or in memory (moto)."""
    return _running_server(settings) == "versitygw"


def describe(settings: Settings) -> str:
    """One line on what runs and where its objects live."""
    if is_persistent(settings):
        return (f"the local S3 server is versitygw {VERSITYGW_VERSION} (posix backend): objects are kept "
                f"ON DISK under {data_dir(settings)} and survive `pinterest stack down`")
    return ("the local S3 server is moto, which keeps objects IN MEMORY: whatever is written to it "
            "(a lake on s3a://) is gone after `pinterest stack down`. Kafka and Postgres data are kept "
            "on disk. PINTEREST_S3_SERVER=versitygw keeps them on disk too")


def start(settings: Settings, timeout: float = 60.0) -> dict:
    if is_running(settings):
        return common.read_state(settings)["s3"]
    server = server_name()
    binary = versitygw_binary() if server == "versitygw" else None
    common.ensure_port_free(settings.bind_host, settings.s3_port, "the S3 server", "PINTEREST_S3_PORT")
    if server == "versitygw":
        log = settings.home / "s3" / "versitygw.log"
        data_dir(settings).mkdir(parents=True, exist_ok=True)
        key, secret = credentials()
        # keys through the environment, not the command line (`ps` shows that)
        env = {**os.environ, "ROOT_ACCESS_KEY": key, "ROOT_SECRET_KEY": secret}
        cmd = [str(binary), *_marker(settings, server).split()[1:], "--region", region(),
               "posix", str(data_dir(settings))]
    else:
        log = settings.home / "s3" / "moto.log"
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        cmd = [sys.executable, "-m", *_marker(settings, server).split()]
    proc = common.spawn(cmd, log, env=env)
    info = {"pid": proc.pid, "port": settings.s3_port, "endpoint": endpoint(settings), "server": server}
    if server == "versitygw":
        info["data_dir"] = str(data_dir(settings))
    common.record(settings, "s3", info)
    common.wait_until(lambda: _ensure_bucket(settings), timeout, interval=0.5,
                      alive=lambda: proc.poll() is None, what=f"the S3 server ({server})", log=log)
    return info


def client(settings: Settings, endpoint_url: str | None = None):
    import boto3
    from botocore.config import Config

    key, secret = credentials()
    return boto3.client(
        "s3", endpoint_url=endpoint_url or endpoint(settings), aws_access_key_id=key,
        aws_secret_access_key=secret, region_name=region(),
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
    stopped = False
    if is_running(settings):
        common.terminate(common.read_state(settings)["s3"]["pid"], timeout=15)
        stopped = True
    common.record(settings, "s3", None)
    return stopped
