"""S3 access for the code location: ``dagster_aws.s3.S3Resource``, configured for the lake.

Secrets never become resource config (the Dagster UI shows resource config): boto3 reads
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` from the environment itself. Only when an S3 API
endpoint is set (a local server) and no keys are in the environment do the local server's
well-known, non-secret keys fill in.
"""

from __future__ import annotations

import os

# Keys of the local S3 server (moto accepts any); the AWS_* variables win when set.
LOCAL_ACCESS_KEY = "pinterest"
LOCAL_SECRET_KEY = "pinterest-secret"


def credentials() -> tuple[str, str]:
    """The access and secret key for an S3 API endpoint: the environment's, else the local server's."""
    return (os.environ.get("AWS_ACCESS_KEY_ID") or LOCAL_ACCESS_KEY,
            os.environ.get("AWS_SECRET_ACCESS_KEY") or LOCAL_SECRET_KEY)


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def build_s3_resource(endpoint_url: str | None):
    """The S3Resource for the lake: AWS's default chain, or `endpoint_url` (a local S3 API)."""
    from dagster_aws.s3 import S3Resource

    kwargs: dict = {"region_name": region(), "max_attempts": 2}
    if endpoint_url:
        kwargs.update(endpoint_url=endpoint_url, use_ssl=endpoint_url.startswith("https"))
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs.update(aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_SECRET_KEY)
    return S3Resource(**kwargs)
