"""The lake: one URI, ``file:///folder`` or ``s3a://bucket/prefix``, and small-file access to it.

Spark reads and writes big data through the URI itself (:meth:`LakeResource.uri_of`); this resource
handles the small files Python writes (raw JSON lines, quarantine) and lists what is there:

- ``file://``: plain files; a write goes to a hidden temp name and is renamed into place, so a
  reader (or a crash) never sees half a file.
- ``s3a://`` (or ``s3://``): boto3 against ``s3_endpoint_url`` (a local S3 API) or AWS's default
  endpoint and credential chain; one PUT is atomic. ``s3a://bucket/prefix`` maps to that bucket
  and key prefix.

Paths given to the methods are relative to the lake root, with ``/`` separators
(``raw/pin/date=2026-01-01/x.jsonl``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import dagster as dg
from pydantic import Field, PrivateAttr

S3_SCHEMES = ("s3a", "s3", "s3n")


class LakeResource(dg.ConfigurableResource):
    """The data lake root. Credentials are never part of this config: boto3 takes the AWS_*
    variables (or the local S3 server's defaults when an endpoint is set)."""

    uri: str = Field(description="file:///abs/folder or s3a://bucket/prefix")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint for s3a:// lakes (e.g. a local server); None = AWS")
    _client = PrivateAttr(default=None)

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

    def _local_root(self) -> Path:
        return Path(unquote(urlparse(self.uri).path))

    def _bucket_prefix(self) -> tuple[str, str]:
        parsed = urlparse(self.uri)
        if not parsed.netloc:
            raise ValueError(f"lake URI {self.uri!r} has no bucket: use s3a://bucket/prefix")
        return parsed.netloc, parsed.path.strip("/")

    def _key(self, relpath: str) -> str:
        _, prefix = self._bucket_prefix()
        relpath = relpath.strip("/")
        return f"{prefix}/{relpath}" if prefix else relpath

    def s3_client(self):
        """A boto3 S3 client (the local server's when an endpoint is set, else AWS's default chain)."""
        if self._client is None:
            if self.s3_endpoint_url:
                from pinterest_assets.settings import get_settings
                from pinterest_assets.stack.s3 import client

                self._client = client(get_settings(), endpoint_url=self.s3_endpoint_url)
            else:
                import boto3

                self._client = boto3.client("s3")
        return self._client

    # ------------------------------------------------------------------ small files

    def list_files(self, relpath: str) -> list[str]:
        """Every file under `relpath` (recursively), as lake-relative paths, sorted.

        Hidden names (``.x``, e.g. a write in progress) and ``_`` names (``_SUCCESS``) are left out.
        A missing folder lists as empty.
        """
        relpath = relpath.strip("/")
        found: list[str] = []
        if not self.is_s3:
            base = self._local_root() / relpath
            if not base.exists():
                return []
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
                rel_dir = Path(dirpath).relative_to(self._local_root()).as_posix()
                found.extend(f"{rel_dir}/{f}" for f in filenames if not f.startswith((".", "_")))
        else:
            bucket, prefix = self._bucket_prefix()
            key_prefix = self._key(relpath) + "/"
            strip = len(prefix) + 1 if prefix else 0
            paginator = self.s3_client().get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=key_prefix):
                for obj in page.get("Contents", []):
                    rel = obj["Key"][strip:]
                    if obj["Key"].endswith("/"):
                        continue  # a directory marker
                    if any(part.startswith((".", "_")) for part in rel[len(relpath) + 1:].split("/")):
                        continue
                    found.append(rel)
        return sorted(found)

    def read_text(self, relpath: str) -> str:
        if not self.is_s3:
            return (self._local_root() / relpath.strip("/")).read_text(encoding="utf-8")
        bucket, _ = self._bucket_prefix()
        body = self.s3_client().get_object(Bucket=bucket, Key=self._key(relpath))["Body"]
        return body.read().decode("utf-8")

    def write_text(self, relpath: str, text: str) -> str:
        """Write a small file atomically (temp name + rename, or one PUT); returns its URI."""
        data = text.encode("utf-8")
        if not self.is_s3:
            target = self._local_root() / relpath.strip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            try:
                with open(temp, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, target)
            finally:
                temp.unlink(missing_ok=True)
        else:
            bucket, _ = self._bucket_prefix()
            self.s3_client().put_object(Bucket=bucket, Key=self._key(relpath), Body=data)
        return self.uri_of(relpath)

    def exists(self, relpath: str) -> bool:
        if not self.is_s3:
            return (self._local_root() / relpath.strip("/")).exists()
        return bool(self.list_files(relpath)) or self._object_exists(relpath)

    def _object_exists(self, relpath: str) -> bool:
        from botocore.exceptions import ClientError

        bucket, _ = self._bucket_prefix()
        try:
            self.s3_client().head_object(Bucket=bucket, Key=self._key(relpath))
            return True
        except ClientError:
            return False

    def local_lock_path(self, name: str) -> Path:
        """A lock file on this machine for `name` (a file:// lake keeps it inside the lake)."""
        if not self.is_s3:
            folder = self._local_root() / ".locks"
        else:
            from pinterest_assets.settings import get_settings

            folder = get_settings().home / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{name}.lock"
