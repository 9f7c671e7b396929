"""Benchmark: the ingestion API against producing the same records directly with kafka-python.

Starts its own stack (Kafka on free ports under a temporary PINTEREST_HOME), then in one run:
  (a) direct     - one KafkaProducer (acks=all, idempotent, linger 5 ms), send N pins, flush
  (b) single     - N single-record POST /pin/ against one API worker (uvicorn), keep-alive
                   connections, each request waiting for its 202 (= the broker's ack)
  (c) batch      - the same records as 500-record POST /pin/batch requests
and writes bench/results/ingest.json. Targets (2-core machine): single >= 3,000 events/s;
batch >= 0.5 x direct.

The load generator is a small asyncio HTTP/1.1 client on raw sockets (pre-built requests, one
request in flight per connection, no pipelining) so that the client costs the shared CPU as
little as possible; httpx would be the bottleneck here, not the API.

    .venv/bin/python bench/bench_ingest.py [--records 30000] [--connections 64] [--rounds 3]

The machine is shared, so each measure runs in several interleaved rounds and the best is kept;
every round's figure is in the JSON ("runs") next to the load average.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ingest.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------- load generator
def build_request(path: str, body: bytes, port: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _connection(port: int, requests: list[bytes], queue_index: list[int], statuses: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            i = queue_index[0]
            if i >= len(requests):
                return
            queue_index[0] = i + 1
            writer.write(requests[i])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            await reader.readexactly(length)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def hammer(port: int, requests: list[bytes], connections: int) -> tuple[float, dict]:
    """Send every request over `connections` keep-alive connections; return (seconds, statuses)."""
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    statuses: dict = {}
    index = [0]

    async def main():
        await asyncio.gather(*(_connection(port, requests, index, statuses) for _ in range(connections)))

    started = time.perf_counter()
    runner(main())
    return time.perf_counter() - started, statuses


# ---------------------------------------------------------------------------------- measures
def direct_rate(bootstrap: str, pins: list[dict]) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             linger_ms=5, batch_size=256 * 1024, metrics_enabled=False)
    producer.partitions_for("pinterest.pin")
    started = time.perf_counter()
    for pin in pins:
        producer.send("pinterest.pin", key=pin["unique_id"].encode(),
                      value=json.dumps(pin, ensure_ascii=False).encode())
    producer.flush()
    seconds = time.perf_counter() - started
    producer.close()
    return len(pins) / seconds


def start_api(port: int, env: dict) -> subprocess.Popen:
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "pinterest_platform.cli", "api", "--port", str(port)],
                            env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the API did not become ready in 60 s")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


@click.command()
@click.option("--records", default=30_000, show_default=True, help="Records per measure.")
@click.option("--connections", default=64, show_default=True, help="Concurrent connections (single).")
@click.option("--batch-connections", default=4, show_default=True, help="Concurrent connections (batch).")
@click.option("--batch-size", default=500, show_default=True)
@click.option("--rounds", default=3, show_default=True, help="Interleaved rounds; the best of each is kept.")
def main(records: int, connections: int, batch_connections: int, batch_size: int, rounds: int):
    from pinterest_ingest import datagen
    from pinterest_assets.settings import Settings
    from pinterest_platform.stack import manager

    home = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    env = {**os.environ,
           "PINTEREST_HOME": str(home),
           "PINTEREST_JARS_DIR": os.environ.get("PINTEREST_JARS_DIR", str(ROOT / ".local" / "jars")),
           "PINTEREST_KAFKA_PORT": str(free_port()), "PINTEREST_KAFKA_CONTROLLER_PORT": str(free_port()),
           "PINTEREST_PG_PORT": str(free_port()), "PINTEREST_S3_PORT": str(free_port()),
           "PINTEREST_API_PORT": str(free_port())}
    for name in ("PINTEREST_KAFKA_BOOTSTRAP", "PINTEREST_API_URL", "PINTEREST_API_KEY"):
        env.pop(name, None)
    os.environ.update(env)
    settings = Settings()
    pins = datagen.generate_pins(records, seed=7)
    bodies = [json.dumps(p, ensure_ascii=False).encode() for p in pins]
    port = settings.api_port
    api = None
    load_at_start = os.getloadavg()[0]
    click.echo(f"stack under {home} (load average {load_at_start:.1f}) ...")
    manager.up(settings)
    runs = {"direct": [], "single": [], "batch": []}
    try:
        # warm-up, so connections, metadata and producer ids are settled before timing
        direct_rate(settings.kafka_bootstrap_servers, pins[:2000])
        api = start_api(port, env)
        hammer(port, [build_request("/pin/", b, port) for b in bodies[:2000]], connections)
        singles = [build_request("/pin/", b, port) for b in bodies]
        batches = [build_request("/pin/batch", b"[" + b",".join(bodies[i:i + batch_size]) + b"]", port)
                   for i in range(0, records, batch_size)]
        # rounds interleave the three measures, so load from other processes hits them alike
        for round_ in range(1, rounds + 1):
            runs["direct"].append(direct_rate(settings.kafka_bootstrap_servers, pins))
            seconds, statuses = hammer(port, singles, connections)
            assert statuses == {202: records}, statuses
            runs["single"].append(records / seconds)
            seconds, statuses = hammer(port, batches, batch_connections)
            assert statuses == {202: len(batches)}, statuses
            runs["batch"].append(records / seconds)
            click.echo(f"round {round_}: direct {runs['direct'][-1]:,.0f}/s, single {runs['single'][-1]:,.0f}/s, "
                       f"batch {runs['batch'][-1]:,.0f}/s (load average {os.getloadavg()[0]:.1f})")
    finally:
        if api is not None:
            api.terminate()
            api.wait(30)
        manager.down(settings)
        shutil.rmtree(home, ignore_errors=True)

    # best of the rounds (as timeit does): the least-disturbed run of each measure
    direct, single, batch = max(runs["direct"]), max(runs["single"]), max(runs["batch"])
    note = (f"{machine()}, {records:,} pins, one uvicorn worker, best of {rounds} interleaved rounds, "
            f"load average at start {load_at_start:.1f}")
    rows = [
        {"measure": f"single-record POST /pin/ ({connections} connections)", "project": round(single),
         "baseline": round(direct), "ratio": round(single / direct, 3), "target": ">= 3000 events/s",
         "unit": "events/s", "met": single >= 3000, "machine": note,
         "runs": {"project": [round(r) for r in runs["single"]], "baseline": [round(r) for r in runs["direct"]]}},
        {"measure": f"{batch_size}-record POST /pin/batch ({batch_connections} connections)",
         "project": round(batch), "baseline": round(direct), "ratio": round(batch / direct, 3),
         "target": ">= 0.5 x direct", "unit": "events/s", "met": batch / direct >= 0.5, "machine": note,
         "runs": {"project": [round(r) for r in runs["batch"]], "baseline": [round(r) for r in runs["direct"]]}},
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    click.echo(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
