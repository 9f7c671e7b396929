-- The newest user record of each ind across all days (the one order rule, _kafka_order: see stg_pins).
select distinct on (ind)
    ind,
    user_name,
    age,
    {{ age_group('age') }} as age_group,
    date_joined,
    extract(year from date_joined at time zone 'UTC')::int as join_year,
    date as loaded_date
from {{ source('pinterest', 'user_table') }}
where ind is not null
order by ind, _kafka_order desc nulls last, date desc
