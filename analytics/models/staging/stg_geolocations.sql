-- The newest geolocation of each ind across all days (macros/newest_per_key.sql: the one order rule).
{{ newest_per_key('geo_table', 'ind', [
    'ind',
    '"timestamp" as located_at',
    'extract(year from "timestamp" at time zone \'UTC\')::int as year',
    'latitude', 'longitude', 'country',
    'date as loaded_date',
]) }}
