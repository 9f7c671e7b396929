-- The median follower count of the pins' posters by the year the pin's user joined.
select
    join_year,
    percentile_cont(0.5) within group (order by follower_count) as median_follower_count,
    count(*) as pins
from {{ ref('stg_pin_geo_user') }}
where join_year is not null and follower_count is not null
group by join_year
