-- The median follower count of the pins' posters in each age group of the pin's user.
select
    age_group,
    percentile_cont(0.5) within group (order by follower_count) as median_follower_count,
    count(*) as pins
from {{ ref('stg_pin_geo_user') }}
where age_group is not null and follower_count is not null
group by age_group
