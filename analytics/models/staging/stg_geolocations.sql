-- The newest geolocation of each ind across all days (the one order rule, _kafka_order: see stg_pins).
select distinct on (ind)
    ind,
    "timestamp" as located_at,
    extract(year from "timestamp" at time zone 'UTC')::int as year,
    latitude,
    longitude,
    country,
    date as loaded_date
from {{ source('pinterest', 'geo_table') }}
where ind is not null
order by ind, _kafka_order desc nulls last, date desc
