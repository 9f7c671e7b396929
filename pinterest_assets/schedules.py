"""Dagster's own daily schedule, STOPPED by default: the Airflow DAG drives the daily run.

Turn it on in the UI (Automation -> daily_batch_schedule) or with
``dagster schedule start daily_batch_schedule`` — and pause the Airflow DAG, so the day isn't run twice.
"""


from datetime import timedelta

import dagster as dg



def previous_day(moment) -> str:
    """The UTC date before `moment`'s: the partition a run at 00:00 UTC processes."""
    return (moment - timedelta(days=1)).date().isoformat()


def build_daily_batch_schedule(job) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_batch_schedule",
        cron_schedule="0 0 * * *",
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="daily_batch_job at 00:00 UTC for the day that just ended.",
    )
    def daily_batch_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # not build_schedule_from_partitioned_job: the partitions end one day ahead (end_offset=1,
        # so today is addressable), which would make it pick today instead of yesterday
        day = previous_day(context.scheduled_execution_time)
        return dg.RunRequest(run_key=day, partition_key=day)

    return daily_batch_schedule
