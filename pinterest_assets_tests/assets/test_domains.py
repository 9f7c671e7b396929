"""Field domains (issue 24, class 2), NUL before the cleaning rules (class 5) and "no step fails
after its commit", through the real Kafka, Spark, lake and Postgres.

The edge values are generated from the registry's domains: for every cleaned column whose domain
the cleaning tests, the values just inside and just outside each bound (plus values far outside
that Python's datetime cannot hold). Each goes into one record; the day goes through raw ->
cleaned -> <entity>_table in one materialization, which must succeed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import uuid
from dataclasses import dataclass

import dagster as dg
import pytest

from pinterest_assets import entities as registry
from pinterest_assets.assets.cleaned import build_cleaned_asset
from pinterest_assets.assets.raw import build_raw_asset
from pinterest_assets.assets.serving import build_table_assets
from pinterest_assets.cleaning import clean
from pinterest_ingest.datagen import generate_geo, generate_pins, generate_users
from pinterest_assets_tests.assets.conftest import day_ms

pytestmark = pytest.mark.integration

DAY = "2025-04-13"  # no other test writes this day, so its Postgres partitions are ours
ENTITIES = ("pin", "geo", "user")
# A raw record must fit a Kafka message; text domains wider than this are checked by cleaning alone.
KAFKA_SAFE_BYTES = 200_000
# cleaned column -> (raw field, prefix the field's rule needs to keep a text value)
RAW_FIELD = {"user_name": ("first_name", ""), "image_src": ("image_src", "https://x/"),
             "save_location": ("save_location", "/")}


@dataclass(frozen=True)
class Edge:
    entity: str
    column: str
    raw: object           # the raw JSON value
    expected: object      # the cleaned value; None when outside the domain
    reason: bool          # the field is named in _out_of_domain (the parser produced a value)

    @property
    def size(self) -> int:
        return len(json.dumps(self.raw, ensure_ascii=False).encode())


def _ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _filler(n_bytes: int, seed: int) -> str:
    """Lower-case letters that don't compress (a Postgres index entry can't shrink them)."""
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n_bytes))


def edges_of(entity: str, column: str, domain: registry.Domain) -> list[Edge]:
    """The edge values of one column's domain, as raw values with what the cleaning must make of them."""
    e = lambda raw, expected, reason=None: Edge(entity, column, raw, expected,  # noqa: E731
                                                 expected is None if reason is None else reason)
    if domain.type == "timestamp":
        micro = dt.timedelta(microseconds=1)
        return [e(_ts(domain.low), domain.low), e(_ts(domain.low - micro), None),
                e(_ts(domain.high), domain.high), e(_ts(domain.high + micro), None),
                e("0001-01-01 00:00:00", None),                # the value of the issue
                e("0001-01-01T00:30:00+01:00", None),          # year 0 in UTC: no Python datetime
                e("9999-12-31T23:30:00-01:00", None)]          # year 10000 in UTC
    if domain.type == "double":
        return [e(str(domain.low), domain.low), e(str(math.nextafter(domain.low, -math.inf)), None),
                e(str(domain.high), domain.high), e(str(math.nextafter(domain.high, math.inf)), None),
                e("NaN", None), e("Infinity", None)]
    if domain.type in ("int", "bigint"):
        full = {"int": (registry.INT_MIN, registry.INT_MAX), "bigint": (registry.BIGINT_MIN, registry.BIGINT_MAX)}
        lo, hi = full[domain.type]
        # beyond the type, or a sign the field's rule refuses: NULL without a domain reason
        parsed = lambda v: lo <= v <= hi and not (column == "follower_count" and v < 0)  # noqa: E731
        return [e(str(domain.low), domain.low), e(str(domain.low - 1), None, parsed(domain.low - 1)),
                e(str(domain.high), domain.high), e(str(domain.high + 1), None, parsed(domain.high + 1))]
    if domain.type == "string":
        raw_name, prefix = RAW_FIELD.get(column, (column, ""))
        room = domain.max_bytes - len(prefix)
        inside, outside = prefix + _filler(room, 1), prefix + _filler(room + 1, 2)
        edges = [e(inside, inside), e(outside, None)]
        if room < KAFKA_SAFE_BYTES:  # fewer characters than bytes: bytes count
            edges.append(e(prefix + "é" * (room // 2 + 1), None))
        return edges
    if domain.type == "array<string>":
        inside = _filler(domain.max_bytes, 3)
        return [e(f"art,{inside}", ["art", inside]), e(f"art,{inside}x", None)]
    raise AssertionError(f"no edges for {domain}")


def domain_edges() -> list[Edge]:
    """Every column whose domain the cleaning tests (keys and rule-bounded columns excepted)."""
    out = []
    for name in ENTITIES:
        spec = registry.entity(name)
        for column in spec.columns:
            if column in (spec.key, "unique_id", "ind", "is_image_or_video"):
                continue  # the key rules and the media-type rule produce only in-domain values
            domain = spec.domains[column]
            if domain.bounded:
                out += edges_of(name, column, domain)
    return out


def _raw_name(edge: Edge) -> str:
    return RAW_FIELD.get(edge.column, (edge.column, ""))[0]


def records_for(entity: str, edges: list[Edge], first: int) -> tuple[list[dict], dict[object, Edge]]:
    """One generated record per edge with the edge's raw value in its field; {key: edge}."""
    inds = list(range(first, first + len(edges)))
    if entity == "pin":
        base = generate_pins(len(edges), seed=7)
        for i, record in zip(inds, base, strict=True):
            record["index"], record["unique_id"] = i, str(uuid.UUID(int=i))
    else:
        base = (generate_geo if entity == "geo" else generate_users)(inds, seed=7)
    by_key = {}
    for record, edge in zip(base, edges, strict=True):
        record[_raw_name(edge)] = edge.raw
        if edge.column == "user_name":
            record["last_name"] = None
        by_key[record["unique_id"] if entity == "pin" else record["ind"]] = edge
    return base, by_key


# --------------------------------------------------------------------------- the one day, end to end


@pytest.fixture(scope="module")
def day_run(stack, spark, admin, producer, tmp_path_factory):
    """Edge and NUL records of every entity produced for DAY, then raw -> cleaned -> table in one run."""
    from kafka.admin import NewTopic

    from pinterest_assets.definitions import build_resources
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_assets_tests.assets.conftest import make_resources

    run = uuid.uuid4().hex[:10]
    topics = {name: f"test.{run}.{name}" for name in registry.names()}
    admin.create_topics([NewTopic(name=t, num_partitions=1, replication_factor=1) for t in topics.values()],
                        timeout_ms=30000)
    kafka = KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers, topics=topics)
    lake = LakeResource(uri=(tmp_path_factory.mktemp("domains") / "lake").as_uri())

    edges = [e for e in domain_edges() if e.size < KAFKA_SAFE_BYTES]
    keyed, at = {}, day_ms(DAY)
    for name in ENTITIES:
        records, by_key = records_for(name, [e for e in edges if e.entity == name], first=1000)
        records += NUL_RECORDS[name]
        keyed[name] = by_key
        for record in records:
            producer.send(topics[name], value=json.dumps(record, ensure_ascii=False).encode(), timestamp_ms=at)
    producer.flush()

    resources = {**build_resources(stack), **make_resources(kafka, lake)}
    tables = {a.key.to_user_string(): a for a in build_table_assets()}
    assets = [a for name in ENTITIES
              for a in (build_raw_asset(name), build_cleaned_asset(name), tables[f"{name}_table"])]
    result = dg.materialize(assets, resources=resources, partition_key=DAY, raise_on_error=False)
    return result, keyed, resources["postgres"]


def table_rows(postgres, entity: str) -> dict:
    spec = registry.entity(entity)
    with postgres.connect() as conn:
        cur = conn.execute(f"SELECT {', '.join(spec.columns)} FROM pinterest.{entity}_table WHERE date = %s", (DAY,))
        return {row[spec.columns.index(spec.key)]: dict(zip(spec.columns, row, strict=True)) for row in cur}


def test_edge_values_of_every_domain_reach_postgres_or_become_null_with_a_reason(day_run):
    result, keyed, postgres = day_run
    assert result.success, [str(e.event_specific_data) for e in result.all_events if e.is_failure]
    assert sum(len(k) for k in keyed.values()) > 30
    for entity in ENTITIES:
        rows = table_rows(postgres, entity)
        for key, edge in keyed[entity].items():
            assert rows[key][edge.column] == edge.expected, (edge.column, edge.raw if edge.size < 80 else edge.size)
        md = result.asset_materializations_for_node(f"cleaned_{entity}")[0].metadata
        nulled = {c: v["nulled"] for c, v in md["out_of_domain"].value.items()}
        expected = {}
        for edge in keyed[entity].values():
            if edge.reason:
                expected[edge.column] = expected.get(edge.column, 0) + 1
        assert nulled == expected, entity
        assert md["preview"].value.startswith("| ")


def test_wide_text_domains_hold_at_the_edge_in_cleaning(spark):
    """Text domains wider than a Kafka message: the cleaning alone, on a frame of raw records."""
    from pinterest_assets.cleaning import raw_frame_from_json
    from pinterest_assets.cleaning.common import OUT_OF_DOMAIN_COLUMN

    wide = [e for e in domain_edges() if e.size >= KAFKA_SAFE_BYTES]
    assert {e.column for e in wide} >= {"title", "description", "tag_list", "user_name"}
    for entity in ENTITIES:
        edges = [e for e in wide if e.entity == entity]
        records, by_key = records_for(entity, edges, first=5000)
        lines = spark.createDataFrame([(json.dumps(r, ensure_ascii=False),) for r in records], "value STRING")
        result = clean(entity, raw_frame_from_json(lines, entity=entity))
        key = registry.entity(entity).key
        for row in result.annotated.collect():
            edge = by_key[row[key]]
            assert row[edge.column] == edge.expected, (edge.column, edge.size)
            assert list(row[OUT_OF_DOMAIN_COLUMN]) == ([edge.column] if edge.reason else [])


def test_every_column_of_every_entity_declares_a_domain():
    for spec in registry.ENTITIES.values():
        assert set(spec.domains) >= set(spec.columns), spec.name
    with pytest.raises(ValueError, match="declare a Domain"):
        registry.Entity(name="x", topic="t", key="ind", key_kind="integer", raw_key_fields=("ind",),
                        raw_fields=("ind",), columns=("ind", "name"), domains={"ind": registry.bigint()})
    with pytest.raises(ValueError, match="btree"):
        registry.Entity(name="x", topic="t", key="ind", key_kind="integer", raw_key_fields=("ind",),
                        raw_fields=("ind",), columns=("ind", "name"), indexes=("name",),
                        domains={"ind": registry.bigint(), "name": registry.text()})


# --------------------------------------------------------------------------- NUL (class 5)

_NUL = "\u0000"
NUL_RECORDS = {
    "pin": [{**generate_pins(1, seed=9)[0], "index": 9001, "unique_id": str(uuid.UUID(int=9001)),
             "title": _NUL * 2, "description": f" {_NUL}a", "poster_name": f"{_NUL} {_NUL}",
             "tag_list": [_NUL, f"a{_NUL}b", f" {_NUL}#art"], "category": f"{_NUL}Travel{_NUL}"}],
    "geo": [{**generate_geo([9001], seed=9)[0], "country": _NUL * 3}],
    "user": [{**generate_users([9001], seed=9)[0], "first_name": _NUL, "last_name": f"Lee{_NUL}"},
             {**generate_users([9002], seed=9)[0], "first_name": _NUL, "last_name": f" {_NUL} "}],
}


def test_nul_is_dropped_before_the_cleaning_rules(day_run):
    """A value made only of NUL is NULL (not ''), in the lake and in Postgres; NUL never reaches a rule."""
    result, _, postgres = day_run
    assert result.success
    pin = table_rows(postgres, "pin")[str(uuid.UUID(int=9001))]
    assert (pin["title"], pin["description"], pin["poster_name"]) == (None, "a", None)
    assert (pin["tag_list"], pin["category"]) == (["ab", "art"], "travel")
    assert table_rows(postgres, "geo")[9001]["country"] is None
    users = table_rows(postgres, "user")
    assert (users[9001]["user_name"], users[9002]["user_name"]) == ("Lee", None)


def test_api_key_normalisation_drops_nul_like_the_cleaning():
    key = str(uuid.UUID(int=5))
    assert registry.entity("pin").normalize_key(f"{_NUL}{key}{_NUL}") == key
    assert registry.entity("geo").normalize_key(f"4{_NUL}2") == "42"


# --------------------------------------------------------------------------- no step fails after its commit


def test_cleaned_commits_nothing_when_its_metadata_fails(spark, resources, file_lake, produce, topics, monkeypatch):
    """The metadata (preview, counts) is computed before the pointer moves: when it fails, readers
    keep the previous version."""
    import pinterest_assets.assets.cleaned as cleaned_module
    from pinterest_assets.io_managers.lake import cleaned_table

    day = "2025-04-14"
    produce(topics["geo"], generate_geo([1, 2], seed=3), timestamp_ms=day_ms(day))
    assets = [build_raw_asset("geo"), build_cleaned_asset("geo")]
    assert dg.materialize(assets, resources=resources, partition_key=day).success
    main = f"SELECT snapshot_id FROM {cleaned_table(file_lake, 'geo')}.refs WHERE name = 'main'"
    before = spark.sql(main).first()[0]

    def broken(*_args, **_kwargs):
        raise RuntimeError("preview failed")

    monkeypatch.setattr(cleaned_module, "markdown_preview", broken)
    produce(topics["geo"], generate_geo([3], seed=3), timestamp_ms=day_ms(day))
    result = dg.materialize(assets, resources=resources, partition_key=day, raise_on_error=False)
    assert not result.success
    assert spark.sql(main).first()[0] == before  # nothing published


def test_postgres_io_manager_commits_nothing_when_its_metadata_fails(stack, spark, monkeypatch):
    """The table metadata is built inside the transaction: when it fails, the table keeps its rows."""
    import pinterest_assets.io_managers.postgres as pg_module
    from pinterest_assets.definitions import build_resources

    resources = build_resources(stack)
    name = f"commit_order_{uuid.uuid4().hex[:8]}"

    def make(values):
        @dg.asset(name=name, io_manager_key="postgres_io_manager", metadata={"primary_key": "id"},
                  required_resource_keys={"pyspark"})
        def _table(context):
            return context.resources.pyspark.spark_session.createDataFrame([(v,) for v in values], "id BIGINT")
        return _table

    assert dg.materialize([make([1, 2])], resources=resources).success

    def broken(*_args, **_kwargs):
        raise RuntimeError("metadata failed")

    monkeypatch.setattr(pg_module, "table_metadata", broken)
    assert not dg.materialize([make([3])], resources=resources, raise_on_error=False).success
    with resources["postgres"].connect() as conn:
        assert [r[0] for r in conn.execute(f"SELECT id FROM pinterest.{name} ORDER BY id")] == [1, 2]
        conn.execute(f"DROP TABLE pinterest.{name}")
