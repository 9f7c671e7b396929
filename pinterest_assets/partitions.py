"""Daily partitions (UTC) of the batch assets: a day is the Kafka timestamp date of the events.

`end_offset=1` makes today's (still growing) partition addressable, so a demo or a test can
materialize the day it just ingested; the scheduled run always takes yesterday.
"""

import dagster as dg

daily_partitions = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC", end_offset=1)
