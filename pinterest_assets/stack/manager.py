"""`up`, `down` and `status` over the three services."""

from __future__ import annotations

from pinterest_assets.settings import Settings, get_settings
from pinterest_assets.stack import common, kafka, postgres, s3


def up(settings: Settings | None = None, with_s3: bool = False, echo=lambda msg: None) -> dict:
    """Start what is not running yet; return the endpoints. Idempotent."""
    settings = settings or get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    # fail fast, before starting anything, on what the user must fix
    common.java_executable()
    common.require_jars(settings.jars / "kafka", "Kafka broker")
    for name, service in (("postgres", postgres), ("kafka", kafka)):
        if service.is_running(settings):
            echo(f"{name}: already running")
        else:
            echo(f"{name}: starting")
            service.start(settings)
            echo(f"{name}: ready")
    if settings.kafka_bootstrap is None:
        kafka.ensure_topics(settings.kafka_bootstrap_servers)
    if with_s3:
        if s3.is_running(settings):
            echo("s3: already running")
        else:
            echo("s3: starting")
            s3.start(settings)
            echo("s3: ready")
    return status(settings)


def down(settings: Settings | None = None, echo=lambda msg: None) -> dict:
    """Stop exactly the processes `up` started (by recorded PID); data stays."""
    settings = settings or get_settings()
    for name, service in (("s3", s3), ("kafka", kafka), ("postgres", postgres)):
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
    return {
        "kafka_bootstrap": settings.kafka_bootstrap_servers,
        "postgres_dsn": settings.postgres_dsn,
        "lake_uri": settings.lake,
        "s3_endpoint": settings.s3_endpoint_url or (s3.endpoint(settings) if s3_running else None),
        "api_url": settings.api_base_url,
        "home": str(settings.home),
        "services": services,
    }
