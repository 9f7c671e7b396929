"""The one cleaning library for every entity, shared by batch assets, the stream and the CLI.

``clean(entity, raw_df) -> (clean_df, rejects_df)`` takes the all-string raw frame built by
:func:`raw_frame_from_json` and works unchanged on batch and streaming DataFrames; it dispatches
to the entity's cleaning module (``pinterest_assets.cleaning.<entity>:clean_<entity>``, named in
:mod:`pinterest_assets.entities`). :func:`latest_per_key` keeps the newest row per key (batch only).
"""

from pinterest_assets import entities as registry
from pinterest_assets.cleaning.common import latest_per_key, raw_frame_from_json, raw_json_schema


def clean(entity: str, raw_df):
    """(clean, rejects) frames of `raw_df` by the entity's cleaning rules."""
    return registry.entity(entity).clean_function()(raw_df)


__all__ = ["clean", "latest_per_key", "raw_frame_from_json", "raw_json_schema"]
