"""`up`, `down` and `status` over the services: single-node Kafka, or the cluster (3 brokers +
Spark standalone) with `cluster=True`; PostgreSQL; the S3 API server with `with_s3=True`."""

from __future__ import annotations

from pinterest_assets.redaction import redact_dsn
from pinterest_assets.settings import Settings, get_settings
from pinterest_platform.stack import cluster, common, kafka, postgres, s3


def up(settings: Settings | None = None, with_s3: bool = False, cluster_mode: bool = False,
       echo=lambda msg: None) -> dict:
    """Start what is not running yet; return the endpoints. Idempotent."""
    settings = settings or get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    # fail fast, before starting anything, on what the user must fix
    common.java_executable()
    common.require_jars(settings.jars / "kafka", "Kafka broker")
    if with_s3 and not s3.is_running(settings):
        s3.preflight()
    if cluster_mode and kafka.is_running(settings):
        raise common.StackError("single-node Kafka of this stack is running: run `pinterest stack down` "
                                "before `pinterest stack up --cluster` (both listen on the same port)")
    cluster_up = cluster.is_running(settings)
    _start_once("postgres", postgres, settings, echo)
    if cluster_mode or cluster_up:
        echo("cluster: starting what is not running (3 Kafka brokers, Spark master + 2 workers)")
        cluster.start(settings, echo=echo)
    else:
        _start_once("kafka", kafka, settings, echo)
    if settings.kafka_bootstrap is None and not (cluster_mode or cluster_up):
        kafka.ensure_topics(settings.kafka_bootstrap_servers, security=settings.kafka_security)
    if with_s3:
        _start_once("s3", s3, settings, echo, ready=lambda: f"ready at {s3.endpoint(settings)}")
        echo(f"s3: NOTE {s3.describe(settings)}")
    return status(settings)


def _start_once(name: str, service, settings: Settings, echo, ready=lambda: "ready") -> None:
    """Start `service` (a stack module: is_running, start) unless it runs, saying which."""
    if service.is_running(settings):
        echo(f"{name}: already running")
        return
    echo(f"{name}: starting")
    service.start(settings)
    echo(f"{name}: {ready()}")


def lake_in_local_s3(settings: Settings) -> bool:
    """Whether the lake URI points at the running local (in-memory) S3 server."""
    if not settings.lake.startswith(("s3a://", "s3://")) or not s3.is_running(settings):
        return False
    if s3.is_persistent(settings):  # versitygw keeps the lake on disk: stopping it loses nothing
        return False
    endpoint = (settings.s3_endpoint_url or "").rstrip("/")
    local = s3.endpoint(settings)
    return endpoint in ("", local, local.replace("127.0.0.1", "localhost"))


def down(settings: Settings | None = None, force: bool = False, echo=lambda msg: None) -> dict:
    """Stop exactly the processes `up` started (by recorded PID); data stays, except the
    in-memory S3 server's: while the lake points at it, refuse unless `force`."""
    settings = settings or get_settings()
    if not force and lake_in_local_s3(settings):
        raise common.StackError(
            f"refusing to stop the local S3 server: the lake ({settings.lake}) lives in it and it "
            "keeps objects in memory, so stopping it deletes the lake. Copy what you need first, "
            "then run `pinterest stack down --force`")
    in_memory = s3.is_running(settings) and not s3.is_persistent(settings)
    if s3.stop(settings):
        echo("s3: stopped" + (" (its in-memory objects are gone)" if force and in_memory else ""))
    cluster.stop(settings, echo=echo)
    for name, service in (("kafka", kafka), ("postgres", postgres)):
        if service.stop(settings):
            echo(f"{name}: stopped")
    return status(settings)


def status(settings: Settings | None = None) -> dict:
    settings = settings or get_settings()
    state = common.read_state(settings)
    s3_running = s3.is_running(settings)
    services = {
        "kafka": {"running": kafka.is_running(settings), "pid": state.get("kafka", {}).get("pid"),
                  "port": settings.kafka_port},
        "postgres": {"running": postgres.is_running(settings), "pid": postgres.postmaster_pid(settings),
                     "port": settings.pg_port},
        "s3": {"running": s3_running, "pid": state.get("s3", {}).get("pid"), "port": settings.s3_port},
    }
    for info in services.values():
        if not info["running"]:
            info["pid"] = None
    kafka_bootstrap = settings.kafka_bootstrap_servers
    brokers = [{"node_id": 1, "address": kafka_bootstrap, "running": services["kafka"]["running"]}]
    spark_master = spark_master_ui = None
    in_cluster = cluster.is_running(settings)
    if in_cluster:
        part = cluster.status(settings)
        brokers = part["brokers"]
        for broker in brokers:
            services[f"kafka_{broker['node_id']}"] = {"running": broker["running"], "pid": broker["pid"],
                                                     "port": int(broker["address"].rsplit(":", 1)[1])}
        for name, info in part["spark"].items():
            services[name] = info
        del services["kafka"]
        if settings.kafka_bootstrap is None:
            kafka_bootstrap = cluster.bootstrap(settings)
        if part["spark"]["spark_master"]["running"]:
            spark_master, spark_master_ui = cluster.master_url(settings), cluster.master_ui(settings)
    return {
        "mode": "cluster" if in_cluster else "single",
        "kafka_bootstrap": kafka_bootstrap,
        "kafka_security_protocol": settings.kafka_security_protocol,
        "kafka_brokers": brokers,
        "postgres_dsn": redact_dsn(settings.postgres_dsn),  # `stack env` prints it whole
        "lake_uri": settings.lake,
        "s3_endpoint": settings.s3_endpoint_url or (s3.endpoint(settings) if s3_running else None),
        "s3_persistent": s3.is_persistent(settings) if s3_running else None,
        "spark_master": spark_master or settings.spark_master,
        "spark_master_ui": spark_master_ui,
        "api_url": settings.api_base_url,
        "home": str(settings.home),
        "services": services,
    }
