"""`make torture`: generated, stateful schedules against the real stack, checked against the model.

`make test` runs the fixed seeds (conftest.FIXED_SEEDS) without the known open classes; a failure
prints its seed, the shrunk steps and a one-line replay command.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from pinterest_assets import entities as registry
from pinterest_assets_tests.torture import values as V
from pinterest_assets_tests.torture.harness import Env, Stats, make_machine

pytestmark = pytest.mark.integration


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([smh]?)\s*", text)
    if not match:
        raise pytest.UsageError(f"--torture-duration {text!r}: expected a number with s, m or h (30m)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


@pytest.fixture(scope="module")
def torture_env(stack, spark, request):
    from kafka import KafkaAdminClient, KafkaProducer

    from pinterest_ingest.producer import KeyPartitioner

    opened = request.config.getoption("--torture-open")
    open_classes = frozenset(V.OPEN_CLASSES if opened == "all" else [c for c in opened.split(",") if c])
    unknown = open_classes - set(V.OPEN_CLASSES)
    if unknown:
        raise pytest.UsageError(f"--torture-open: unknown class(es) {sorted(unknown)}; known: {V.OPEN_CLASSES}")
    bootstrap = stack.kafka_bootstrap_servers
    logging.getLogger("dagster").setLevel(logging.WARNING)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    api = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, partitioner=KeyPartitioner(),
                        metadata_max_age_ms=1000)
    direct = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, metadata_max_age_ms=1000)
    env = Env(stack=stack, admin=admin, producer=api, direct=direct, open_classes=open_classes, stats=Stats())
    yield env
    api.close()
    direct.close()
    admin.close()


def run_seed(env: Env, n: int, steps: int, examples: int = 3, shrink: bool = True) -> None:
    """One seed: Hypothesis runs `examples` schedules (its first two are its simplest: one rule
    repeated, then none), shrinking the first that fails."""
    env.seed = n
    factory = seed(n)(make_machine(env))
    print(f"torture seed {n}: replay with `{env.replay()}`", flush=True)
    run_state_machine_as_test(factory, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None, derandomize=False,
        suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink] if shrink else [Phase.generate], print_blob=False))


def write_report(path: str, env: Env, seeds: list[int], started: float, failures: list) -> None:
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.monotonic() - started),
        "schedules": len(seeds),
        "seeds": seeds,
        "examples_run": env.stats.schedules,  # schedules plus Hypothesis's shrinking replays
        "steps": env.stats.steps,
        "faults": env.stats.faults,
        "open_classes": sorted(env.open_classes),
        "violations": len(failures),
        "failures": failures,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


def test_value_generators_cover_the_registry():
    """Every cleaned column of every entity has a generator with its expected value."""
    for name in registry.names():
        assert set(V.COLUMNS[name]) == set(registry.entity(name).columns), name


def test_staging_views_are_read_where_dbt_builds_them():
    """The harness reads the staging views in the schema dbt creates them in (target schema +
    the staging folder's +schema); reading `analytics.stg_*` found nothing and reported every key LOST."""
    import yaml

    from pinterest_assets.assets.analytics import DBT_PROJECT_DIR
    from pinterest_assets_tests.torture.harness import STAGING_SCHEMA

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    target = profile["pinterest"]["outputs"][profile["pinterest"]["target"]]["schema"]
    custom = project["models"]["pinterest_analytics"]["staging"]["+schema"]
    assert STAGING_SCHEMA == f"{target}_{custom}"
    assert not list((DBT_PROJECT_DIR / "macros").glob("generate_schema_name*")), "dbt's schema rule changed"


def test_torture(torture_env, request):
    config = request.config
    steps = int(config.getoption("--torture-steps"))
    duration = config.getoption("--torture-duration")
    one = config.getoption("--torture-seed")
    started = time.monotonic()
    seeds: list[int] = []
    failures: list[dict] = []

    def attempt(n: int) -> None:
        seeds.append(n)
        try:
            run_seed(torture_env, n, steps, int(config.getoption("--torture-examples")),
                     shrink=not config.getoption("--torture-no-shrink"))
        except Exception as exc:  # noqa: BLE001 - a violation: recorded, then reported
            failures.append({"seed": n, "replay": torture_env.replay(), "error": str(exc)[:4000]})
            if not duration:
                raise

    try:
        if one is not None:
            attempt(int(one))
        elif duration:
            limit = parse_duration(duration)
            rng = random.Random()
            while time.monotonic() - started < limit:
                attempt(rng.randrange(10**6))
        else:
            for n in config.getoption("--torture-seeds").split(","):
                attempt(int(n))
    finally:
        if config.getoption("--torture-report"):
            write_report(config.getoption("--torture-report"), torture_env, seeds, started, failures)
    assert not failures, "\n\n".join(f"seed {f['seed']} ({f['replay']}):\n{f['error']}" for f in failures)
