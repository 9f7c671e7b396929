"""Small-file access to a lake root: one interface (:class:`LakeStore`), two implementations.

- :class:`LocalStore` (``file://``): plain files; a write goes to a hidden temp name and is renamed
  into place, so a reader (or a crash) never sees half a file.
- :class:`S3Store` (``s3a://``, ``s3://``): boto3 against an endpoint (a local S3 API) or AWS's
  default endpoint and credential chain; one PUT is atomic.

Paths are relative to the lake root, with ``/`` separators. Listings leave out hidden (``.x``, a
write in progress) and ``_`` names (``_SUCCESS``); a missing folder lists as empty.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


class LakeStore(Protocol):
    def list_file_sizes(self, relpath: str) -> dict[str, int]: ...
    def read_bytes(self, relpath: str) -> bytes: ...
    def write_bytes(self, relpath: str, data: bytes) -> None: ...
    def delete(self, relpath: str) -> None: ...
    def exists(self, relpath: str) -> bool: ...
    def lock_folder(self, home: Path) -> Path: ...


class LocalStore:
    def __init__(self, uri: str):
        self.root = Path(unquote(urlparse(uri).path))

    def list_file_sizes(self, relpath: str) -> dict[str, int]:
        base = self.root / relpath
        found: dict[str, int] = {}
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not _hidden(d)]
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if _hidden(name):
                    continue
                try:
                    found[f"{rel_dir}/{name}"] = os.stat(os.path.join(dirpath, name)).st_size
                except FileNotFoundError:
                    continue  # removed while listing
        return found

    def read_bytes(self, relpath: str) -> bytes:
        return (self.root / relpath).read_bytes()

    def write_bytes(self, relpath: str, data: bytes) -> None:
        target = self.root / relpath
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

    def delete(self, relpath: str) -> None:
        (self.root / relpath).unlink()

    def exists(self, relpath: str) -> bool:
        return (self.root / relpath).exists()

    def lock_folder(self, home: Path) -> Path:
        return self.root / ".locks"  # inside the lake: every writer of it on this machine sees it


class S3Store:
    def __init__(self, uri: str, endpoint_url: str | None):
        parsed = urlparse(uri)
        if not parsed.netloc:
            raise ValueError(f"lake URI {uri!r} has no bucket: use s3a://bucket/prefix")
        self.bucket, self.prefix = parsed.netloc, parsed.path.strip("/")
        self.endpoint_url = endpoint_url
        self._client = None

    def client(self):
        """A boto3 S3 client from dagster-aws's S3Resource (the endpoint's, else AWS's default chain)."""
        if self._client is None:
            from pinterest_assets.resources.s3 import build_s3_resource

            self._client = build_s3_resource(self.endpoint_url).get_client()
        return self._client

    def key(self, relpath: str) -> str:
        return f"{self.prefix}/{relpath}" if self.prefix else relpath

    def list_file_sizes(self, relpath: str) -> dict[str, int]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        found: dict[str, int] = {}
        paginator = self.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(relpath) + "/"):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/"):
                    continue  # a directory marker
                rel = obj["Key"][strip:]
                if not any(_hidden(part) for part in rel[len(relpath) + 1:].split("/")):
                    found[rel] = int(obj["Size"])
        return found

    def read_bytes(self, relpath: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=self.key(relpath))["Body"].read()

    def write_bytes(self, relpath: str, data: bytes) -> None:
        self.client().put_object(Bucket=self.bucket, Key=self.key(relpath), Body=data)

    def delete(self, relpath: str) -> None:
        self.client().delete_object(Bucket=self.bucket, Key=self.key(relpath))

    def exists(self, relpath: str) -> bool:
        from botocore.exceptions import ClientError

        if self.list_file_sizes(relpath):
            return True  # a folder
        try:
            self.client().head_object(Bucket=self.bucket, Key=self.key(relpath))
            return True
        except ClientError:
            return False

    def lock_folder(self, home: Path) -> Path:
        return Path(home) / "locks"  # an S3 lake has no local folder: the project's home


def store_for(uri: str, scheme: str, endpoint_url: str | None) -> LakeStore:
    return LocalStore(uri) if scheme == "file" else S3Store(uri, endpoint_url)
