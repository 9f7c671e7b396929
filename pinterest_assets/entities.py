"""The one registry of entity facts: per entity its Kafka topic, key, raw fields, cleaned columns,
Postgres indexes and cleaning function. Every other module (cleaning, the asset factories,
checks, the stream sink, the ingestion API, reconcile, the CLI) reads these facts from here.

Every cleaned column has a declared :class:`Domain`: the values Spark, Python and Postgres can all
hold. The cleaning turns a parsed value outside it into NULL and names the field (see
``pinterest_assets.cleaning.common.apply_domains``), so no value can make a later stage raise.

Adding an entity means one :class:`Entity` in :data:`ENTITIES` (or :func:`register` at runtime)
and one cleaning module exposing ``clean_<name>(raw_df) -> (clean_df, rejects_df)``; the raw,
cleaned and table assets, the jobs, the checks and the API endpoint follow from the registry.

Pure Python: no Dagster, no Spark, no FastAPI import, so the ingestion service can use it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from dataclasses import dataclass, field

OWNERS = ["team:data-engineering"]
GROUP = "pinterest"
SCHEMA = "pinterest"  # Postgres schema of the analysis tables

# Kafka lineage every landed or streamed record carries, and its name in Postgres.
LINEAGE_COLUMNS = ("_topic", "_partition", "_offset", "_timestamp", "_order")  # _order: see ordering.py
POSTGRES_LINEAGE = {c: f"_kafka{c}" for c in LINEAGE_COLUMNS}  # _topic -> _kafka_topic, ...

# Timestamps every stage can hold: Spark (years 1-9999), Python's datetime (years 1-9999, also once
# PySpark shifts a value into the driver's local time zone, hence a day's margin at the top) and
# Postgres timestamptz (4713 BC-294276 AD).
TIMESTAMP_MIN = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
TIMESTAMP_MAX = dt.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=dt.UTC)
# A Postgres btree entry holds at most 2704 bytes: an indexed text column stays well below.
INDEXED_TEXT_MAX_BYTES = 2000
# Other text: the largest Kafka message the stack accepts (Postgres text holds up to 1 GB).
TEXT_MAX_BYTES = 1_048_576
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
DOUBLE_MAX = 1.7976931348623157e308  # finite: NaN and infinities are outside every double domain


@dataclass(frozen=True)
class Domain:
    """The values a cleaned column may hold (bounds inclusive). ``type`` is its Spark SQL type:
    bigint, int, double, boolean, string, array<string> or timestamp; ``max_bytes`` bounds text
    (each element of an array) in UTF-8 bytes; timestamps are bounded by aware datetimes."""

    type: str
    low: object = None
    high: object = None
    max_bytes: int | None = None

    @property
    def bounded(self) -> bool:
        """True when a value of the column's Spark type can fall outside (the cleaning tests it)."""
        if self.max_bytes is not None or self.type in ("timestamp", "double"):
            return True
        full = {"int": (INT_MIN, INT_MAX), "bigint": (BIGINT_MIN, BIGINT_MAX)}.get(self.type)
        return full is not None and (self.low, self.high) != full

    def describe(self) -> str:
        if self.max_bytes is not None:
            return f"{self.type} of at most {self.max_bytes} UTF-8 bytes" + (" each" if "array" in self.type else "")
        if self.low is None and self.high is None:
            return self.type
        low, high = self.low, self.high
        if isinstance(low, dt.datetime):
            low, high = (v.isoformat().replace("+00:00", "Z") for v in (low, high))
        return f"{self.type} in [{low}, {high}]"


def bigint(low: int = BIGINT_MIN, high: int = BIGINT_MAX) -> Domain:
    return Domain("bigint", low, high)


def integer(low: int = INT_MIN, high: int = INT_MAX) -> Domain:
    return Domain("int", low, high)


def double(low: float = -DOUBLE_MAX, high: float = DOUBLE_MAX) -> Domain:
    return Domain("double", low, high)


def text(max_bytes: int = TEXT_MAX_BYTES) -> Domain:
    return Domain("string", max_bytes=max_bytes)


def text_array(max_bytes: int = TEXT_MAX_BYTES) -> Domain:
    return Domain("array<string>", max_bytes=max_bytes)


def timestamp(low: dt.datetime = TIMESTAMP_MIN, high: dt.datetime = TIMESTAMP_MAX) -> Domain:
    return Domain("timestamp", low, high)


BOOLEAN = Domain("boolean")
INDEXED_TEXT = text(INDEXED_TEXT_MAX_BYTES)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True)
class Entity:
    """Everything the pipeline knows about one kind of record."""

    name: str
    topic: str
    key: str                                  # cleaned key column (the Postgres/primary key)
    key_kind: str                             # "uuid" | "integer": how a raw key is normalised
    raw_key_fields: tuple[str, ...]           # raw fields the API requires (the first carries the key)
    raw_fields: tuple[str, ...]               # every raw field the cleaning reads
    columns: tuple[str, ...]                  # cleaned output columns, in order
    domains: dict[str, Domain] = field(default_factory=dict, compare=False)  # column -> its Domain
    indexes: tuple[str, ...] = ()             # Postgres indexes besides the primary key
    cleaner: str = ""                         # "module:function"; default pinterest_assets.cleaning.<name>:clean_<name>
    description: str = ""
    extra: dict = field(default_factory=dict, compare=False)
    checks: tuple[str, ...] = ()              # extra checks of the cleaned partition (pinterest_assets.checks)
    stream_table: str | None = None           # the streamed table in schema pinterest (+ <name>_rejects), if any
    leads_events: bool = False                # an event is one record of it plus the records sharing its row id
    updated_fields: tuple[str, ...] = ()      # raw fields a new version of a key changes (the emulator's updates)

    def __post_init__(self):
        missing = [c for c in self.columns if c not in self.domains]
        if missing:
            raise ValueError(f"entity {self.name!r}: declare a Domain for column(s) {missing}")
        too_wide = [c for c in self.indexes if c in self.domains and self.domains[c].max_bytes is not None
                    and self.domains[c].max_bytes > INDEXED_TEXT_MAX_BYTES]
        if too_wide:
            raise ValueError(f"entity {self.name!r}: indexed text column(s) {too_wide} need "
                             f"max_bytes <= {INDEXED_TEXT_MAX_BYTES} (a Postgres btree entry's limit)")

    # ---------------------------------------------------------------- names derived from it
    @property
    def raw_asset(self) -> str:
        return f"raw_{self.name}"

    @property
    def cleaned_asset(self) -> str:
        return f"cleaned_{self.name}"

    @property
    def table_asset(self) -> str:
        return f"{self.name}_table"

    @property
    def topic_asset(self) -> str:
        """The external asset standing for the Kafka topic (``kafka_pinterest_pin``)."""
        return "kafka_" + re.sub(r"[^A-Za-z0-9_]", "_", self.topic)

    @property
    def row_id_field(self) -> str:
        """The raw field with the integer row id a pin shares with its geo and user rows."""
        return self.raw_key_fields[-1]

    @property
    def partition_field(self) -> str:
        """The raw field whose normalised value is the Kafka message key."""
        return self.raw_key_fields[0]

    def clean_function(self):
        target = self.cleaner or f"pinterest_assets.cleaning.{self.name}:clean_{self.name}"
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def normalize_key(self, value) -> str | None:
        """The raw key as the cleaning normalises it (None when the cleaning would reject it).

        The API partitions by this, so every version of a key shares a Kafka partition and "newest"
        is log order. Must agree with ``parse_unique_id`` / ``parse_ind`` in the cleaning library.
        """
        if value is None or isinstance(value, bool):
            return None
        if self.key_kind == "uuid":
            if not isinstance(value, str):
                return None
            text = "".join(" " if ch.isspace() else ch for ch in value.replace("\x00", "")).strip().lower()
            text = text.replace("\u200b", "").replace("\u200c", "").replace("\u200d", "")
            text = text.replace("\u2060", "").replace("\ufeff", "")
            return text if _UUID.match(text) else None
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else None
        if isinstance(value, str):
            text = value.replace("\x00", "").strip()
            if _INTEGER.match(text):
                return str(int(text))
        return None


ENTITIES: dict[str, Entity] = {}


def register(entity: Entity) -> Entity:
    """Add (or replace) an entity in the registry."""
    ENTITIES[entity.name] = entity
    return entity


def unregister(name: str) -> None:
    ENTITIES.pop(name, None)


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise ValueError(f"unknown entity {name!r}: expected one of {sorted(ENTITIES)}") from None


def names() -> tuple[str, ...]:
    return tuple(ENTITIES)


def topics() -> dict[str, str]:
    """entity -> topic."""
    return {e.name: e.topic for e in ENTITIES.values()}


def lead() -> Entity:
    """The entity whose records make the events (the others share its row id)."""
    return next(e for e in ENTITIES.values() if e.leads_events)


def by_topic(topic: str) -> Entity | None:
    return next((e for e in ENTITIES.values() if e.topic == topic), None)


register(Entity(
    name="pin",
    topic="pinterest.pin",
    key="unique_id",
    key_kind="uuid",
    raw_key_fields=("unique_id", "index"),
    raw_fields=("index", "ind", "unique_id", "title", "description", "poster_name", "follower_count",
                "tag_list", "is_image_or_video", "image_src", "downloaded", "save_location", "category"),
    columns=("ind", "unique_id", "title", "description", "poster_name", "follower_count", "tag_list",
             "is_image_or_video", "image_src", "downloaded", "save_location", "category"),
    domains={
        "ind": bigint(), "unique_id": text(36), "title": text(), "description": text(),
        "poster_name": INDEXED_TEXT, "follower_count": bigint(0), "tag_list": text_array(),
        "is_image_or_video": text(5), "image_src": text(), "downloaded": BOOLEAN, "save_location": text(),
        "category": INDEXED_TEXT,
    },
    indexes=("category", "poster_name"),
    checks=("follower_count_non_negative", "category_known"),
    stream_table="pin_stream",
    leads_events=True,
    updated_fields=("title", "follower_count"),
    description="pins: title, description, poster, follower count, tags, media type, category",
))


def _keyed_by_ind(name: str, raw_fields: tuple[str, ...], domains: dict[str, Domain], index: str,
                  updated_fields: tuple[str, ...], description: str) -> Entity:
    """geo and user records share the integer key `ind` (pins carry it too, as `index`)."""
    return Entity(name=name, topic=f"pinterest.{name}", key="ind", key_kind="integer", raw_key_fields=("ind",),
                  raw_fields=("index", "ind", *raw_fields), columns=("ind", *domains),
                  domains={"ind": bigint(), **domains}, indexes=(index,), updated_fields=updated_fields,
                  description=description)


register(_keyed_by_ind("geo", ("timestamp", "latitude", "longitude", "country"),
                       {"timestamp": timestamp(), "latitude": double(-90.0, 90.0),
                        "longitude": double(-180.0, 180.0), "country": INDEXED_TEXT}, "country", ("country",),
                       "geolocations: timestamp, latitude, longitude, country"))
register(_keyed_by_ind("user", ("first_name", "last_name", "age", "date_joined"),
                       {"user_name": text(), "age": integer(13, 120), "date_joined": timestamp()}, "age", ("age",),
                       "users: user name, age, date joined"))
