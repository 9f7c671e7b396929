"""Apache Kafka 4 as a single KRaft node (broker + controller), from the Maven Central jars."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from pinterest_assets import entities as registry
from pinterest_assets.settings import Settings
from pinterest_platform.stack import common

TOPIC_PARTITIONS = 3
MARKER = "kafka.Kafka"
UNSUPPORTED_IN_PASSWORD = '"\\,[]='

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


def kafka_dir(settings: Settings) -> Path:
    return settings.home / "kafka"


def secure_listener(settings: Settings) -> dict[str, str]:
    """The SASL_SSL listener on PINTEREST_KAFKA_SECURE_PORT: TLS with the stack's certificate
    (<home>/tls), a SCRAM-SHA-512 user (made by :func:`add_scram_user`) and PLAIN users (the
    JAAS line here). The plaintext listener stays for the broker's own traffic."""
    from pinterest_platform.stack import tls

    user, password = settings.kafka_sasl_username, settings.kafka_sasl_password
    if not (user and password):
        raise common.StackError("PINTEREST_KAFKA_SECURE_PORT needs PINTEREST_KAFKA_SASL_USERNAME and "
                                "PINTEREST_KAFKA_SASL_PASSWORD (the user the stack creates)")
    keystore = tls.ensure_certificates(settings) / "server-keystore.pem"
    secret = password.get_secret_value()
    if set(secret) & set(UNSUPPORTED_IN_PASSWORD):
        raise common.StackError("the local stack cannot create a Kafka user whose password holds any of "
                                f"{UNSUPPORTED_IN_PASSWORD} (JAAS and kafka-configs syntax): choose another")
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return {
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
        "listener.name.sasl_ssl.plain.sasl.jaas.config":
            f'org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}="{secret}";',
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
    }


def server_properties(settings: Settings) -> str:
    host, port, cport = settings.bind_host, settings.kafka_port, settings.kafka_controller_port
    data = kafka_dir(settings) / "data"
    listeners, advertised = f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}", f"PLAINTEXT://{host}:{port}"
    extra = ""
    if settings.kafka_secure_port:
        listeners += f",SASL_SSL://{host}:{settings.kafka_secure_port}"
        advertised += f",SASL_SSL://{host}:{settings.kafka_secure_port}"
        extra = "".join(f"{k}={v}\n" for k, v in secure_listener(settings).items())
    return extra + f"""\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={host}:{cport}
listeners={listeners}
advertised.listeners={advertised}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs={data}
num.partitions={TOPIC_PARTITIONS}
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
message.max.bytes=2097152
log.retention.hours=-1
log.retention.bytes=-1
log.retention.check.interval.ms=5000
"""


def _java_cmd(settings: Settings, main_class: str, *args: str) -> list[str]:
    jars = settings.jars / "kafka"
    common.require_jars(jars, "Kafka broker")
    log_dir = kafka_dir(settings) / "logs"
    return [
        common.java_executable(), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={kafka_dir(settings) / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={log_dir}",
        "-cp", str(jars / "*"), main_class, *args,
    ]


def _write_config(settings: Settings) -> Path:
    root = kafka_dir(settings)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    (root / "log4j2.properties").write_text(LOG4J2.format(log_dir=root / "logs"))
    props = root / "server.properties"
    props.touch(mode=0o600)  # may hold the PLAIN user's password
    props.write_text(server_properties(settings))
    return props


def new_cluster_id() -> str:
    """A Kafka cluster id (base64url of a UUID). One that starts with '-' would be read as an
    option by the storage tool's argument parser, so draw again."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _format_storage_once(settings: Settings, props: Path) -> None:
    """`kafka-storage format --standalone`, only when the data folder has never been formatted."""
    import subprocess

    data = kafka_dir(settings) / "data"
    if (data / "meta.properties").exists():
        return
    cluster_id = new_cluster_id()
    cmd = _java_cmd(settings, "kafka.tools.StorageTool", "format", "--standalone",
                    "-t", cluster_id, "-c", str(props), "-g")
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise common.StackError(f"formatting Kafka storage in {data} failed: {result.stderr.strip()[-500:]}")


def is_running(settings: Settings) -> bool:
    info = common.read_state(settings).get("kafka", {})
    return common.process_matches(info.get("pid"), str(kafka_dir(settings)))


def start(settings: Settings, timeout: float = 90.0) -> dict:
    if is_running(settings):
        return common.read_state(settings)["kafka"]
    host = settings.bind_host
    common.ensure_port_free(host, settings.kafka_port, "Kafka", "PINTEREST_KAFKA_PORT")
    common.ensure_port_free(host, settings.kafka_controller_port, "the Kafka controller",
                            "PINTEREST_KAFKA_CONTROLLER_PORT")
    props = _write_config(settings)
    _format_storage_once(settings, props)
    log = kafka_dir(settings) / "logs" / "kafka.out"
    proc = common.spawn(_java_cmd(settings, MARKER, str(props)), log)
    info = {"pid": proc.pid, "port": settings.kafka_port, "bootstrap": f"{host}:{settings.kafka_port}"}
    common.record(settings, "kafka", info)
    common.wait_until(lambda: _metadata_ok(info["bootstrap"]), timeout, interval=0.5,
                      alive=lambda: proc.poll() is None, what="Kafka", log=log)
    ensure_topics(info["bootstrap"])
    if settings.kafka_secure_port:
        add_scram_user(settings, info["bootstrap"])
        info["secure_bootstrap"] = f"{host}:{settings.kafka_secure_port}"
        common.record(settings, "kafka", info)
    return info


def add_scram_user(settings: Settings, bootstrap: str) -> None:
    """Create or update the SCRAM-SHA-512 credential of PINTEREST_KAFKA_SASL_USERNAME
    (kafka-configs through the plaintext listener; idempotent)."""
    import subprocess

    user, secret = settings.kafka_sasl_username, settings.kafka_sasl_password.get_secret_value()
    creds = f"SCRAM-SHA-512=[iterations=4096,password={secret}]"
    cmd = _java_cmd(settings, "kafka.admin.ConfigCommand", "--bootstrap-server", bootstrap, "--alter",
                    "--add-config", creds, "--entity-type", "users", "--entity-name", user)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise common.StackError(f"creating the Kafka SCRAM user {user!r} failed: "
                                f"{result.stderr.replace(secret, '***').strip()[-400:]}")


def _metadata_ok(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)  # the local plaintext listener
    try:
        admin.list_topics()
        return True
    finally:
        admin.close()


def ensure_topics(bootstrap: str, partitions: int = TOPIC_PARTITIONS, replication_factor: int = 1,
                  configs: dict[str, str] | None = None, security=None) -> None:
    """Create the registry's topics (pinterest.{pin,geo,user}) when missing (idempotent);
    `security`: a KafkaSecurity (default plaintext)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    options = security.python_options() if security is not None else {}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10000, **options)
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(name=t, num_partitions=partitions, replication_factor=replication_factor,
                            topic_configs=dict(configs or {}))
                   for t in registry.topics().values() if t not in existing]
        if missing:
            admin.create_topics(missing, timeout_ms=30000, raise_errors=False)
        common.wait_until(lambda: set(registry.topics().values()) <= set(admin.list_topics()), 30,
                          what="Kafka topics")
    finally:
        admin.close()


def stop(settings: Settings) -> bool:
    info = common.read_state(settings).get("kafka", {})
    stopped = False
    if common.process_matches(info.get("pid"), str(kafka_dir(settings))):
        common.terminate(info["pid"], timeout=60)
        stopped = True
    common.record(settings, "kafka", None)
    return stopped
