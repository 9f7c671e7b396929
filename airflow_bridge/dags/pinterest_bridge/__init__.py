"""Logic behind the `pinterest_daily_batch` DAG: launch and watch Dagster runs over GraphQL.

Plain Python with only the standard library, so the DAG folder can be copied into any Airflow
without installing this project there.
"""
