"""Adding a fourth entity touches the registry and one cleaning module, nothing else.

The throwaway entity `board` (pinterest_assets_tests/assets/board_cleaning.py) is registered for
the test only; the code location then has its topic, raw, cleaned and table assets, its checks,
and the jobs select them. The end-to-end test runs its daily job on the real broker, Spark and
Postgres.
"""

import dagster as dg
import pytest

from pinterest_assets import entities as registry
from pinterest_assets_tests.assets.board_cleaning import BOARD


@pytest.fixture
def board_registered():
    registry.register(BOARD)
    try:
        yield BOARD
    finally:
        registry.unregister(BOARD.name)


def test_a_registered_entity_gets_every_asset_check_and_job(board_registered):
    from pinterest_assets.definitions import build_defs

    defs = build_defs()
    graph = defs.resolve_asset_graph()
    parents = lambda key: {k.to_user_string() for k in graph.get(dg.AssetKey(key)).parent_keys}  # noqa: E731
    assert parents("raw_board") == {"kafka_pinterest_board"}
    assert parents("cleaned_board") == {"raw_board"}
    assert parents("board_table") == {"cleaned_board"}
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("cleaned_board", "key_not_null_and_unique") in checks
    keys = lambda job: {k.to_user_string() for k in job.asset_layer.executable_asset_keys}  # noqa: E731
    assert {"raw_board", "cleaned_board", "board_table"} <= keys(defs.resolve_job_def("daily_batch_job"))
    assert "raw_board" in keys(defs.resolve_job_def("ingest_job"))
    assert graph.get(dg.AssetKey("board_table")).metadata["primary_key"] == "ind"


@pytest.mark.integration
def test_a_registered_entity_flows_from_kafka_to_postgres(board_registered, stack, spark, admin, produce,
                                                           file_lake, tmp_path):
    import uuid

    from kafka.admin import NewTopic

    from pinterest_assets.definitions import build_defs, build_resources
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets_tests.assets.conftest import day_ms, make_resources

    topic = f"test.{uuid.uuid4().hex[:10]}.board"
    admin.create_topics([NewTopic(name=topic, num_partitions=2, replication_factor=1)], timeout_ms=30000)
    day = "2025-06-07"
    produce(topic, [{"ind": 1, "board_name": " Cozy\u00a0cabins "}, {"ind": 2, "board_name": "Tattoos"},
                    {"ind": 1, "board_name": "Cozy cabins, newest"}, {"ind": "x", "board_name": "bad key"}],
            key=lambda r: str(r["ind"]), partition=0, timestamp_ms=day_ms(day))
    kafka = KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers,
                          topics={**registry.topics(), "board": topic})
    defs = build_defs()
    resources = {**defs.resources, **build_resources(stack), **make_resources(kafka, file_lake)}
    job = dg.Definitions(assets=defs.assets, jobs=defs.jobs, resources=resources).resolve_job_def("daily_batch_job")
    result = job.execute_in_process(
        partition_key=day, asset_selection=[dg.AssetKey(k) for k in ("raw_board", "cleaned_board", "board_table")])
    assert result.success
    with resources["postgres"].connect() as conn:
        rows = conn.execute("SELECT ind, board_name FROM pinterest.board_table WHERE date = %s ORDER BY ind",
                            (day,)).fetchall()
    assert rows == [(1, "Cozy cabins, newest"), (2, "Tattoos")]
    from pinterest_assets.io_managers.lake import read_cleaned_day

    rejects = read_cleaned_day(spark, file_lake, "board", day, rejects=True).collect()
    assert [r.reason for r in rejects] == ["invalid_ind"]
