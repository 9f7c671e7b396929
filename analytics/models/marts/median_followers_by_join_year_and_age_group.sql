-- The median follower count of the pins' posters by age group and join year of the pin's user.
select
    age_group,
    join_year,
    percentile_cont(0.5) within group (order by follower_count) as median_follower_count,
    count(*) as pins
from {{ ref('stg_pin_geo_user') }}
where age_group is not null and join_year is not null and follower_count is not null
group by age_group, join_year
