"""A throwaway fourth entity's cleaning module (test only): boards with an integer key and a name.

With its :class:`Entity` in the registry this is all a new entity needs: the raw, cleaned and
table assets, the jobs and the checks follow from the registry.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pinterest_assets.cleaning.common import (
    malformed_flag,
    normalize_text,
    parse_ind,
    raw_field,
    split_clean_and_rejects,
)
from pinterest_assets.cleaning.geo import key_reject_reason
from pinterest_assets.entities import INDEXED_TEXT, Entity, bigint

BOARD = Entity(
    name="board",
    topic="pinterest.board",
    key="ind",
    key_kind="integer",
    raw_key_fields=("ind",),
    raw_fields=("ind", "board_name"),
    columns=("ind", "board_name"),
    domains={"ind": bigint(), "board_name": INDEXED_TEXT},
    indexes=("board_name",),
    cleaner="pinterest_assets_tests.assets.board_cleaning:clean_board",
    description="boards: a name per board",
)


def clean_board(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    raw = lambda name: raw_field(df, name)  # noqa: E731
    ind = parse_ind(raw("ind"))
    outputs = {"ind": ind, "board_name": normalize_text(raw("board_name"))}
    return split_clean_and_rejects(df, "board", outputs, key_reject_reason(malformed_flag(df), ind))
