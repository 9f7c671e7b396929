"""Materialize raw_pin + cleaned_pin for one day in this process (a child of a test).

With ``PINTEREST_TEST_CRASH_AT=<step>`` set, the lake's partition writer SIGKILLs this process right
after that step (``pinterest_assets.crash_hooks.crash_point``), like a crash would.

Usage: python -m pinterest_assets_tests.assets.crash_run '<json: lake, s3_endpoint, bootstrap, topics, day>'
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    import dagster as dg

    from pinterest_assets.assets.cleaned import build_cleaned_asset
    from pinterest_assets.assets.raw import build_raw_asset
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_assets_tests.assets.conftest import make_resources

    args = json.loads(argv[0])
    kafka = KafkaResource(bootstrap_servers=args["bootstrap"], topics=args["topics"])
    lake = LakeResource(uri=args["lake"], s3_endpoint_url=args["s3_endpoint"])
    result = dg.materialize([build_raw_asset("pin"), build_cleaned_asset("pin")],
                            resources=make_resources(kafka, lake), partition_key=args["day"],
                            raise_on_error=False)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
