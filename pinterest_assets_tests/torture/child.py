"""A torture job in its own process (and process group), for the steps that SIGKILL it like a crash.

Usage: python -m pinterest_assets_tests.torture.child '<json: job (daily|stream), entity, day, topics,
bootstrap, lake, s3_endpoint, dsn, checkpoint>'
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    import dagster as dg

    from pinterest_assets.io_managers.lake import LakeTableIOManager
    from pinterest_assets.io_managers.postgres import PostgresIOManager
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_assets.resources.postgres import PostgresResource
    from pinterest_assets.resources.spark_resource import SparkResource

    args = json.loads(argv[0])
    kafka = KafkaResource(bootstrap_servers=args["bootstrap"], topics=args["topics"])
    lake = LakeResource(uri=args["lake"], s3_endpoint_url=args["s3_endpoint"])
    postgres = PostgresResource(dsn=args["dsn"])
    spark = SparkResource()
    resources = {"kafka": kafka, "lake": lake, "pyspark": spark, "postgres": postgres,
                 "lake_io_manager": LakeTableIOManager(lake=lake, pyspark=spark),
                 "postgres_io_manager": PostgresIOManager(postgres=postgres, pyspark=spark)}
    if args["job"] == "daily":
        from pinterest_assets.assets.cleaned import build_cleaned_asset
        from pinterest_assets.assets.raw import build_raw_asset
        from pinterest_assets.assets.serving import build_table_asset

        entity = args["entity"]
        result = dg.materialize([build_raw_asset(entity), build_cleaned_asset(entity), build_table_asset(entity)],
                                resources=resources, partition_key=args["day"], raise_on_error=False)
    else:
        from pinterest_assets.assets.streamed import pin_stream
        from pinterest_assets.stream.config import PinStreamConfig

        config = PinStreamConfig(topic=args["topics"]["pin"], checkpoint_dir=args["checkpoint"],
                                 max_offsets_per_trigger=5)
        result = dg.materialize([pin_stream], resources=resources, raise_on_error=False,
                                run_config=dg.RunConfig(ops={"pin_stream": config}))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
