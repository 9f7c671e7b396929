"""The lake: one URI, ``file:///folder`` or ``s3a://bucket/prefix``, and small-file access to it.

Spark reads and writes big data through the URI itself (:meth:`LakeResource.uri_of`); this resource
handles the small files Python writes (raw JSON lines, quarantine) and lists what is there, through
the lake's store (:mod:`pinterest_assets.resources.lake_store`: local files or S3). Paths given to
the methods are relative to the lake root, with ``/`` separators (``raw/pin/date=2026-01-01/x.jsonl``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
from pydantic import Field, PrivateAttr

from pinterest_assets.resources.lake_store import LakeStore, store_for

S3_SCHEMES = ("s3a", "s3", "s3n")
PARTITION_COLUMN = "date"


class LakeLayout:
    """The one place that names lake paths (relative to the lake root). Assets, IO managers,
    reconcile and the demo ask it; none of them spells a path itself.

    ``raw/<entity>/date=<day>/<topic>-<partition>-<first>-<last>.<bytes>b.jsonl``   landed Kafka messages
    ``quarantine/raw/<entity>/date=<day>/…``                                messages that are no JSON object
    ``pinterest/cleaned_<entity>[_rejects]/{data,metadata}/``                Iceberg tables (the catalog places them)
    ``<PINTEREST_HOME>/checkpoints/<name>``                                 streaming checkpoints (local disk)

    The cleaned layer is Apache Iceberg tables (:mod:`pinterest_assets.io_managers.lake`): readers
    go through the catalog, never through these folders.
    """

    @staticmethod
    def raw(entity: str, date: str | None = None) -> str:
        return f"raw/{entity}" + (f"/{PARTITION_COLUMN}={date}" if date else "")

    @staticmethod
    def raw_quarantine(entity: str, date: str | None = None) -> str:
        return f"quarantine/raw/{entity}" + (f"/{PARTITION_COLUMN}={date}" if date else "")

    @staticmethod
    def accepted_loss(entity: str) -> str:
        """Records of Kafka offsets an operator accepted as lost (``accept_loss``)."""
        return f"raw/{entity}/_accepted_loss"

    @staticmethod
    def topic_ids(entity: str) -> str:
        """The Kafka topic id each topic's landed files came from (detects a recreated topic)."""
        return f"raw/{entity}/_topic_ids"

    @staticmethod
    def partition_epochs(entity: str) -> str:
        """Each topic's recorded partition count and grow boundaries (the order rule's epochs)."""
        return f"raw/{entity}/_partitions"

    @staticmethod
    def raw_file(entity: str, date: str, topic: str, partition: int, first: int, last: int,
                 quarantine: bool = False, size: int | None = None) -> str:
        """A landed file's path; `size` (its bytes) lets a listing tell a truncated file."""
        folder = LakeLayout.raw_quarantine(entity, date) if quarantine else LakeLayout.raw(entity, date)
        sized = "" if size is None else f".{size}b"
        return f"{folder}/{topic}-{partition}-{first}-{last}{sized}.jsonl"

    @staticmethod
    def checkpoint(home, name: str) -> str:
        return str(Path(home) / "checkpoints" / name)

    @staticmethod
    def locks(home) -> Path:
        return Path(home) / "locks"


LAYOUT = LakeLayout()


class LakeResource(dg.ConfigurableResource):
    """The data lake root. Credentials are never part of this config: boto3 takes the AWS_*
    variables (or the local S3 server's defaults when an endpoint is set)."""

    uri: str = Field(description="file:///abs/folder or s3a://bucket/prefix")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint for s3a:// lakes (e.g. a local server); None = AWS")
    _store = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings=None) -> "LakeResource":
        from pinterest_assets.settings import get_settings

        settings = settings or get_settings()
        return cls(uri=settings.lake, s3_endpoint_url=settings.s3_endpoint_url)

    # ------------------------------------------------------------------ where things are

    @property
    def scheme(self) -> str:
        scheme = urlparse(self.uri).scheme
        if scheme == "file" or scheme in S3_SCHEMES:
            return scheme
        raise ValueError(f"unsupported lake URI {self.uri!r}: use file:///abs/folder or s3a://bucket/prefix")

    @property
    def catalog_name(self) -> str:
        """The Iceberg catalog of this lake's tables: ``PINTEREST_ICEBERG_CATALOG`` (``lake``) for the
        configured lake (``PINTEREST_LAKE_URI``), ``lake_<hash>`` for any other lake (one Spark
        session and one PostgreSQL can serve several lakes: tests do)."""
        from pinterest_assets.settings import get_settings

        settings = get_settings()
        if self.root == LakeResource(uri=settings.lake).root:
            return settings.iceberg_catalog
        return "lake_" + hashlib.sha1(self.root.encode()).hexdigest()[:10]

    def catalog_dsn(self) -> str:
        """The PostgreSQL that holds the Iceberg catalog (the stack's, ``PINTEREST_PG_DSN``)."""
        from pinterest_assets.settings import get_settings

        return get_settings().postgres_dsn

    @property
    def is_s3(self) -> bool:
        return self.scheme in S3_SCHEMES

    @property
    def root(self) -> str:
        """The URI without a trailing slash, with s3:// spelled s3a:// (what Spark's Hadoop reads)."""
        root = self.uri.rstrip("/")
        if self.is_s3 and self.scheme != "s3a":
            root = "s3a://" + root.split("://", 1)[1]
        return root

    def uri_of(self, relpath: str = "") -> str:
        """Full URI of a lake path, for Spark (``file:///...`` or ``s3a://bucket/prefix/...``)."""
        relpath = relpath.strip("/")
        return f"{self.root}/{relpath}" if relpath else self.root

    @property
    def store(self) -> LakeStore:
        """The small-file store of this lake (:mod:`pinterest_assets.resources.lake_store`)."""
        if self._store is None:
            self._store = store_for(self.uri, self.scheme, self.s3_endpoint_url)
        return self._store

    # ------------------------------------------------------------------ small files

    def list_files(self, relpath: str) -> list[str]:
        """Every file under `relpath` (recursively), as lake-relative paths, sorted.

        Hidden names (``.x``, e.g. a write in progress) and ``_`` names (``_SUCCESS``) are left out.
        A missing folder lists as empty.
        """
        return sorted(self.list_file_sizes(relpath))

    def list_file_sizes(self, relpath: str) -> dict[str, int]:
        """:meth:`list_files` with each file's size in bytes (from the listing: no read)."""
        return self.store.list_file_sizes(relpath.strip("/"))

    def read_bytes(self, relpath: str) -> bytes:
        return self.store.read_bytes(relpath.strip("/"))

    def read_text(self, relpath: str) -> str:
        return self.read_bytes(relpath).decode("utf-8")

    def write_bytes(self, relpath: str, data: bytes) -> str:
        """Write a small file atomically (temp name + rename, or one PUT); returns its URI."""
        self.store.write_bytes(relpath.strip("/"), data)
        return self.uri_of(relpath)

    def write_text(self, relpath: str, text: str) -> str:
        return self.write_bytes(relpath, text.encode("utf-8"))

    def delete(self, relpath: str) -> None:
        self.store.delete(relpath.strip("/"))

    def exists(self, relpath: str) -> bool:
        return self.store.exists(relpath.strip("/"))

    def local_lock_path(self, name: str) -> Path:
        """A lock file on this machine for `name` (a file:// lake keeps it inside the lake)."""
        from pinterest_assets.settings import get_settings

        folder = self.store.lock_folder(get_settings().home)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{name}.lock"
