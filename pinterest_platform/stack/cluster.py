"""Cluster mode (`pinterest stack up --cluster`): a real, small cluster on this machine.

- **Kafka**: 3 KRaft nodes from the same Maven Central jars, each a broker and a voter of a
  3-node controller quorum (static ``controller.quorum.voters``). Topics get replication factor 3
  and ``min.insync.replicas=2``, so ``acks=all`` means two copies in two JVMs, and one broker can
  die while the API keeps accepting.
- **Spark standalone**: a master and 2 workers, started with the ``spark-class`` that the pyspark
  wheel ships (``org.apache.spark.deploy.master.Master`` / ``...worker.Worker``). Each worker
  offers 1 core and ``PINTEREST_SPARK_WORKER_MEMORY`` (default 3g) to executors: the two workers
  together fit a 2-core / 24 GB machine next to the driver and the brokers.

Ports are chosen once (the defaults below when free, else any free port), written to
``<home>/cluster/ports.json`` and reused: the quorum's voter endpoints must never change. Every
process is recorded by PID in the stack's state file and stopped by exactly that PID; a PID is
trusted only while its command line still names this home's config file (no PID-reuse accidents).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.request
from pathlib import Path

from pinterest_assets import entities as registry
from pinterest_assets.settings import Settings
from pinterest_platform.stack import common, kafka
from pinterest_platform.stack.kafka import LOG4J2, TOPIC_PARTITIONS, new_cluster_id

BROKERS = 3
# The ingestion API's ack bound in cluster mode (`stack env` exports it as PINTEREST_API_ACK_TIMEOUT).
# It must exceed a leader failover (fencing after broker.session.timeout.ms, then an election):
# measured with the default 5 s (and fencing after 6 s): 11-12 s without a single 202 after each
# broker SIGKILL, until the API replaced its wedged producer; with 10 s (and fencing after 4 s): no
# 503 at all (pinterest_assets_tests/cluster/test_c_broker_kill.py).
API_ACK_TIMEOUT = "10"
WORKERS = 2
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
KAFKA_HEAP = os.environ.get("PINTEREST_CLUSTER_KAFKA_HEAP", "512m")
WORKER_CORES = 1
SPARK_DAEMON_MEMORY = "512m"


def cluster_dir(settings: Settings) -> Path:
    return settings.home / "cluster"


def node_dir(settings: Settings, node: int) -> Path:
    return cluster_dir(settings) / f"kafka-{node}"


def spark_dir(settings: Settings) -> Path:
    return cluster_dir(settings) / "spark"


# ------------------------------------------------------------------------------------------ ports


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def ports(settings: Settings) -> dict:
    """The cluster's ports: chosen on first use, then fixed (the quorum remembers its voters)."""
    path = cluster_dir(settings) / "ports.json"
    if path.exists():
        return json.loads(path.read_text())
    host = settings.bind_host
    taken: set[int] = set()

    def pick(preferred: int) -> int:
        port = preferred
        if port in taken or common.port_open(host, port):
            port = _free_port(host)
            while port in taken:
                port = _free_port(host)
        taken.add(port)
        return port

    chosen = {
        # broker 1 listens where single-node Kafka would: the default bootstrap keeps working
        "brokers": [pick(settings.kafka_port + 2 * i) for i in range(BROKERS)],
        "controllers": [pick(settings.kafka_controller_port + 2 * i) for i in range(BROKERS)],
        "spark_master": pick(settings.spark_master_port),
        "spark_master_ui": pick(settings.spark_master_ui_port),
        "spark_worker_ui": [pick(8091 + i) for i in range(WORKERS)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(chosen, indent=2))
    return chosen


def bootstrap(settings: Settings) -> str:
    return ",".join(f"{settings.bind_host}:{p}" for p in ports(settings)["brokers"])


def master_url(settings: Settings) -> str:
    return f"spark://{settings.bind_host}:{ports(settings)['spark_master']}"


def master_ui(settings: Settings) -> str:
    return f"http://{settings.bind_host}:{ports(settings)['spark_master_ui']}"


def configured(settings: Settings) -> bool:
    """Whether `up --cluster` ever ran in this home."""
    return (cluster_dir(settings) / "ports.json").exists()


# ------------------------------------------------------------------------------------------ Kafka


def node_properties(settings: Settings, node: int) -> str:
    host = settings.bind_host
    p = ports(settings)
    voters = ",".join(f"{i + 1}@{host}:{c}" for i, c in enumerate(p["controllers"]))
    port, cport = p["brokers"][node - 1], p["controllers"][node - 1]
    return f"""\
process.roles=broker,controller
node.id={node}
controller.quorum.voters={voters}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={node_dir(settings, node) / 'data'}
num.partitions={TOPIC_PARTITIONS}
default.replication.factor={REPLICATION_FACTOR}
min.insync.replicas={MIN_INSYNC_REPLICAS}
unclean.leader.election.enable=false
# a SIGKILLed broker is fenced (its partitions' leadership moves) after 4 s without heartbeats:
# well inside a producer's delivery timeout (API_ACK_TIMEOUT below), so no batch expires
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=500
offsets.topic.replication.factor={REPLICATION_FACTOR}
transaction.state.log.replication.factor={REPLICATION_FACTOR}
transaction.state.log.min.isr={MIN_INSYNC_REPLICAS}
share.coordinator.state.topic.replication.factor={REPLICATION_FACTOR}
share.coordinator.state.topic.min.isr={MIN_INSYNC_REPLICAS}
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
message.max.bytes=2097152
log.retention.hours=-1
log.retention.bytes=-1
"""


def _props_path(settings: Settings, node: int) -> Path:
    return node_dir(settings, node) / "server.properties"


def _kafka_cmd(settings: Settings, node: int, main_class: str, *args: str) -> list[str]:
    jars = settings.jars / "kafka"
    common.require_jars(jars, "Kafka broker")
    root = node_dir(settings, node)
    return [
        common.java_executable(), "-Xms128m", f"-Xmx{KAFKA_HEAP}", "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={root / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={root / 'logs'}",
        "-cp", str(jars / "*"), main_class, *args,
    ]


def _write_node_config(settings: Settings, node: int) -> Path:
    root = node_dir(settings, node)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    (root / "log4j2.properties").write_text(LOG4J2.format(log_dir=root / "logs"))
    props = _props_path(settings, node)
    props.write_text(node_properties(settings, node))
    return props


def _format_once(settings: Settings) -> None:
    """Format all 3 nodes' storage with one cluster id, only on the very first start."""
    unformatted = [n for n in range(1, BROKERS + 1)
                   if not (node_dir(settings, n) / "data" / "meta.properties").exists()]
    if not unformatted:
        return
    if len(unformatted) != BROKERS:
        raise common.StackError(
            f"Kafka cluster storage in {cluster_dir(settings)} is half formatted (nodes "
            f"{unformatted} are empty): remove {cluster_dir(settings)} to start the cluster afresh")
    id_file = cluster_dir(settings) / "kafka-cluster-id"
    cluster_id = id_file.read_text().strip() if id_file.exists() else new_cluster_id()
    id_file.write_text(cluster_id)
    for node in unformatted:
        cmd = _kafka_cmd(settings, node, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                         "-c", str(_props_path(settings, node)), "-g")
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise common.StackError(f"formatting Kafka node {node} failed: {result.stderr.strip()[-500:]}")


def _state_key(node: int) -> str:
    return f"kafka_{node}"


def broker_running(settings: Settings, node: int) -> bool:
    info = common.read_state(settings).get(_state_key(node), {})
    return common.process_matches(info.get("pid"), str(_props_path(settings, node)))


def start_broker(settings: Settings, node: int) -> dict:
    """Start one node (used by `up` and by tests that restart a killed broker)."""
    if broker_running(settings, node):
        return common.read_state(settings)[_state_key(node)]
    p = ports(settings)
    host = settings.bind_host
    common.ensure_port_free(host, p["brokers"][node - 1], f"Kafka broker {node}", "PINTEREST_KAFKA_PORT")
    common.ensure_port_free(host, p["controllers"][node - 1], f"Kafka controller {node}",
                            "PINTEREST_KAFKA_CONTROLLER_PORT")
    props = _write_node_config(settings, node)
    log = node_dir(settings, node) / "logs" / "kafka.out"
    proc = common.spawn(_kafka_cmd(settings, node, "kafka.Kafka", str(props)), log)
    info = {"pid": proc.pid, "port": p["brokers"][node - 1], "controller_port": p["controllers"][node - 1],
            "node_id": node, "log": str(log)}
    common.record(settings, _state_key(node), info)
    return info


def _brokers_registered(bootstrap_servers: str) -> int:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), request_timeout_ms=3000)
    try:
        return len(admin.describe_cluster()["brokers"])
    finally:
        admin.close()


def ensure_topics(bootstrap_servers: str) -> None:
    """pinterest.{pin,geo,user}: 3 partitions, RF 3, min.insync.replicas 2 (idempotent)."""
    kafka.ensure_topics(bootstrap_servers, TOPIC_PARTITIONS, REPLICATION_FACTOR,
                        {"min.insync.replicas": str(MIN_INSYNC_REPLICAS)})


def describe_topics(bootstrap_servers: str) -> dict[str, dict]:
    """{topic: {"partitions": n, "replication_factor": rf, "min_insync_replicas": m}}."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), request_timeout_ms=10000)
    try:
        out = {}
        for t in admin.describe_topics(list(registry.topics().values())):
            name = t.get("topic") or t.get("name")
            parts = t["partitions"]
            out[name] = {"partitions": len(parts),
                         "replication_factor": min(len(p["replica_nodes"]) for p in parts),
                         "in_sync_replicas": min(len(p["isr_nodes"]) for p in parts)}
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in out])
        for name, entries in configs["topic"].items():
            out[name]["min_insync_replicas"] = int(entries["min.insync.replicas"]["value"])
        return out
    finally:
        admin.close()


# ------------------------------------------------------------------------------------------ Spark


def spark_home() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise common.StackError("pyspark is not installed: run `make setup`")
    home = Path(spec.origin).parent
    if not (home / "bin" / "spark-class").exists():
        raise common.StackError(f"pyspark at {home} ships no bin/spark-class")
    return home


def _spark_env(settings: Settings, local_dir: Path) -> dict:
    java = Path(common.java_executable()).resolve()
    return {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "JAVA_HOME": os.environ.get("JAVA_HOME") or str(java.parent.parent),
        "SPARK_LOCAL_IP": settings.bind_host,       # also binds the web UIs to 127.0.0.1
        "SPARK_LOCAL_DIRS": str(local_dir),
        "SPARK_DAEMON_MEMORY": SPARK_DAEMON_MEMORY,
        "SPARK_NO_DAEMONIZE": "1",
    }


def worker_memory() -> str:
    from pinterest_assets.settings import get_settings

    return get_settings().spark_worker_memory


def _spark_daemon(settings: Settings, name: str, main_class: str, props: dict, args: list[str]) -> dict:
    root = spark_dir(settings)
    (root / name / "local").mkdir(parents=True, exist_ok=True)
    conf = root / f"{name}.conf"
    conf.write_text("".join(f"{k} {v}\n" for k, v in props.items()))
    cmd = [str(spark_home() / "bin" / "spark-class"), main_class, "--properties-file", str(conf), *args]
    log = root / name / f"{name}.out"
    proc = common.spawn(cmd, log, cwd=root / name, env=_spark_env(settings, root / name / "local"))
    return {"pid": proc.pid, "log": str(log), "conf": str(conf)}


def spark_running(settings: Settings, name: str) -> bool:
    info = common.read_state(settings).get(name, {})
    return common.process_matches(info.get("pid"), str(spark_dir(settings) / f"{name}.conf"))


def master_json(settings: Settings, timeout: float = 3.0) -> dict:
    """The master's `/json/` API: workers, alive workers, active and completed applications."""
    with urllib.request.urlopen(f"{master_ui(settings)}/json/", timeout=timeout) as response:
        return json.loads(response.read())


def start_spark(settings: Settings, timeout: float = 300.0, echo=lambda msg: None) -> None:
    p = ports(settings)
    host = settings.bind_host
    if not spark_running(settings, "spark_master"):
        common.ensure_port_free(host, p["spark_master"], "the Spark master", "PINTEREST_SPARK_MASTER_PORT")
        common.ensure_port_free(host, p["spark_master_ui"], "the Spark master UI",
                                "PINTEREST_SPARK_MASTER_UI_PORT")
        info = _spark_daemon(settings, "spark_master", "org.apache.spark.deploy.master.Master",
                             {"spark.deploy.retainedApplications": "200"},
                             ["--host", host, "--port", str(p["spark_master"]),
                              "--webui-port", str(p["spark_master_ui"])])
        info.update(port=p["spark_master"], ui_port=p["spark_master_ui"], url=master_url(settings))
        common.record(settings, "spark_master", info)
        common.wait_until(lambda: master_json(settings)["status"] == "ALIVE", timeout, interval=0.5,
                          alive=lambda: spark_running(settings, "spark_master"), what="the Spark master",
                          log=Path(info["log"]))
        echo(f"spark master: {master_url(settings)} (UI {master_ui(settings)})")
    for i in range(1, WORKERS + 1):
        name = f"spark_worker_{i}"
        if spark_running(settings, name):
            continue
        work = spark_dir(settings) / name / "work"
        work.mkdir(parents=True, exist_ok=True)
        props = {
            # finished applications' folders (jars, logs) are removed after a day
            "spark.worker.cleanup.enabled": "true",
            "spark.worker.cleanup.appDataTtl": "86400",
        }
        info = _spark_daemon(settings, name, "org.apache.spark.deploy.worker.Worker", props,
                             ["--host", host, "--port", "0", "--webui-port", str(p["spark_worker_ui"][i - 1]),
                              "--cores", str(WORKER_CORES), "--memory", worker_memory(),
                              "--work-dir", str(work), master_url(settings)])
        info.update(ui_port=p["spark_worker_ui"][i - 1], cores=WORKER_CORES, memory=worker_memory())
        common.record(settings, name, info)
    common.wait_until(lambda: alive_workers(settings) >= WORKERS, timeout, interval=0.5,
                      what=f"{WORKERS} Spark workers registered with the master",
                      log=spark_dir(settings) / "spark_worker_1" / "spark_worker_1.out")


def alive_workers(settings: Settings) -> int:
    return int(master_json(settings).get("aliveworkers", 0))


# ------------------------------------------------------------------------------------------ all


def is_running(settings: Settings) -> bool:
    """Whether any process of the cluster is running."""
    return any(broker_running(settings, n) for n in range(1, BROKERS + 1)) or any(
        spark_running(settings, name) for name in spark_names())


def spark_names() -> list[str]:
    return ["spark_master", *(f"spark_worker_{i}" for i in range(1, WORKERS + 1))]


def start(settings: Settings, timeout: float = 300.0, echo=lambda msg: None) -> None:
    ports(settings)
    for node in range(1, BROKERS + 1):
        if broker_running(settings, node):
            echo(f"kafka broker {node}: already running")
            continue
        _write_node_config(settings, node)
    _format_once(settings)
    started = []
    for node in range(1, BROKERS + 1):
        if not broker_running(settings, node):
            started.append(start_broker(settings, node))
    servers = bootstrap(settings)
    for info in started:
        common.wait_until(lambda info=info: common.port_open(settings.bind_host, info["port"]), timeout,
                          interval=0.5, alive=lambda info=info: common.process_matches(
                              info["pid"], str(_props_path(settings, info["node_id"]))),
                          what=f"Kafka broker {info['node_id']}", log=Path(info["log"]))
    common.wait_until(lambda: _brokers_registered(servers) >= BROKERS, timeout, interval=1.0,
                      what=f"{BROKERS} Kafka brokers registered", log=Path(node_dir(settings, 1) / "logs" / "kafka.out"))
    ensure_topics(servers)
    echo(f"kafka: {BROKERS} brokers at {servers} (topics RF {REPLICATION_FACTOR}, "
         f"min.insync.replicas {MIN_INSYNC_REPLICAS})")
    start_spark(settings, timeout, echo)
    echo(f"spark: master {master_url(settings)} with {alive_workers(settings)} workers "
         f"({WORKER_CORES} core, {worker_memory()} each)")


def stop(settings: Settings, echo=lambda msg: None) -> bool:
    """Stop the workers, the master and the brokers, each by its recorded PID."""
    state = common.read_state(settings)
    stopped = False
    for name in reversed(spark_names()):
        info = state.get(name, {})
        if spark_running(settings, name):
            common.terminate(info["pid"], timeout=30)
            echo(f"{name}: stopped")
            stopped = True
        common.record(settings, name, None)
    # brokers all together: SIGTERM each first, so no broker waits on a quorum that is going away
    running = [(n, state[_state_key(n)]["pid"]) for n in range(1, BROKERS + 1) if broker_running(settings, n)]
    import psutil

    procs = []
    for node, pid in running:
        try:
            proc = psutil.Process(pid)
            proc.terminate()
            procs.append((node, proc))
        except psutil.NoSuchProcess:
            pass
    for _, proc in procs:
        if not common.wait_gone(proc, 60):
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
            common.wait_gone(proc, 10)
    for node, _ in running:
        echo(f"kafka broker {node}: stopped")
        stopped = True
    for node in range(1, BROKERS + 1):
        common.record(settings, _state_key(node), None)
    return stopped


def status(settings: Settings) -> dict:
    """The cluster part of `stack status`: brokers, master, workers (empty when never configured)."""
    if not configured(settings):
        return {}
    state = common.read_state(settings)
    p = ports(settings)
    brokers = []
    for node in range(1, BROKERS + 1):
        running = broker_running(settings, node)
        brokers.append({"node_id": node, "address": f"{settings.bind_host}:{p['brokers'][node - 1]}",
                        "controller_port": p["controllers"][node - 1], "running": running,
                        "pid": state.get(_state_key(node), {}).get("pid") if running else None})
    spark = {}
    for name in spark_names():
        running = spark_running(settings, name)
        spark[name] = {"running": running, "pid": state.get(name, {}).get("pid") if running else None}
    return {"brokers": brokers, "spark": spark}
