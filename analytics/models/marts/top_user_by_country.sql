-- The user (poster) with the most followers in each country; ties go to the poster name that
-- sorts first. is_top_country marks the one country whose top user has the most followers of all
-- (ties: the country name that sorts first).
with posters as (
    select country, poster_name, max(follower_count) as follower_count
    from {{ ref('stg_pin_geo_user') }}
    where country is not null and poster_name is not null and follower_count is not null
    group by country, poster_name
),
top_per_country as (
    select distinct on (country) country, poster_name, follower_count
    from posters
    order by country, follower_count desc, poster_name
)
select
    country,
    poster_name,
    follower_count,
    row_number() over (order by follower_count desc, country) = 1 as is_top_country
from top_per_country
