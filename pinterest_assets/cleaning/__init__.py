"""The one cleaning library for pins, geo and users, shared by batch assets, the stream and the CLI.

``clean_<entity>(raw_df) -> (clean_df, rejects_df)`` takes the all-string raw frame built by
:func:`raw_frame_from_json` and works unchanged on batch and streaming DataFrames;
:func:`latest_per_key` keeps the newest row per key (batch only).
"""

from pinterest_assets.cleaning.common import KEY_COLUMNS, latest_per_key, raw_frame_from_json
from pinterest_assets.cleaning.geo import GEO_COLUMNS, clean_geo
from pinterest_assets.cleaning.pin import PIN_COLUMNS, clean_pin
from pinterest_assets.cleaning.user import USER_COLUMNS, clean_user

CLEANERS = {"pin": clean_pin, "geo": clean_geo, "user": clean_user}
OUTPUT_COLUMNS = {"pin": PIN_COLUMNS, "geo": GEO_COLUMNS, "user": USER_COLUMNS}

__all__ = [
    "CLEANERS",
    "KEY_COLUMNS",
    "OUTPUT_COLUMNS",
    "clean_geo",
    "clean_pin",
    "clean_user",
    "latest_per_key",
    "raw_frame_from_json",
]
