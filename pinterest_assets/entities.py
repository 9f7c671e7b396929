"""The one registry of entity facts: per entity its Kafka topic, key, raw fields, cleaned columns,
Postgres indexes and cleaning function. Every other module (cleaning, the asset factories,
checks, the stream sink, the ingestion API, reconcile, the CLI) reads these facts from here.

Adding an entity means one :class:`Entity` in :data:`ENTITIES` (or :func:`register` at runtime)
and one cleaning module exposing ``clean_<name>(raw_df) -> (clean_df, rejects_df)``; the raw,
cleaned and table assets, the jobs, the checks and the API endpoint follow from the registry.

Pure Python: no Dagster, no Spark, no FastAPI import, so the ingestion service can use it.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

OWNERS = ["team:data-engineering"]
GROUP = "pinterest"
SCHEMA = "pinterest"  # Postgres schema of the analysis tables

# Kafka lineage every landed or streamed record carries, and its name in Postgres.
LINEAGE_COLUMNS = ("_topic", "_partition", "_offset", "_timestamp", "_order")  # _order: see ordering.py
POSTGRES_LINEAGE = {c: f"_kafka{c}" for c in LINEAGE_COLUMNS}  # _topic -> _kafka_topic, ...

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
    indexes: tuple[str, ...] = ()             # Postgres indexes besides the primary key
    cleaner: str = ""                         # "module:function"; default pinterest_assets.cleaning.<name>:clean_<name>
    description: str = ""
    extra: dict = field(default_factory=dict, compare=False)

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
            text = "".join(" " if ch.isspace() else ch for ch in value).strip().lower()
            text = text.replace("\u200b", "").replace("\u200c", "").replace("\u200d", "")
            text = text.replace("\u2060", "").replace("\ufeff", "")
            return text if _UUID.match(text) else None
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else None
        if isinstance(value, str):
            text = value.strip()
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
    indexes=("category", "poster_name"),
    description="pins: title, description, poster, follower count, tags, media type, category",
))


def _keyed_by_ind(name: str, raw_fields: tuple[str, ...], columns: tuple[str, ...], index: str,
                  description: str) -> Entity:
    """geo and user records share the integer key `ind` (pins carry it too, as `index`)."""
    return Entity(name=name, topic=f"pinterest.{name}", key="ind", key_kind="integer", raw_key_fields=("ind",),
                  raw_fields=("index", "ind", *raw_fields), columns=("ind", *columns), indexes=(index,),
                  description=description)


register(_keyed_by_ind("geo", ("timestamp", "latitude", "longitude", "country"),
                       ("timestamp", "latitude", "longitude", "country"), "country",
                       "geolocations: timestamp, latitude, longitude, country"))
register(_keyed_by_ind("user", ("first_name", "last_name", "age", "date_joined"),
                       ("user_name", "age", "date_joined"), "age", "users: user name, age, date joined"))
