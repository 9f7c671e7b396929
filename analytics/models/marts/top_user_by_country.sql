-- Q3, first part. The poster with the most followers in each country (a poster's highest follower
-- count among the country's pins). Ties shown: every poster sharing the country's highest count is a
-- row (tied_posters = how many). is_top_country: the country's top count is the highest of all
-- countries (every tied country is marked; top_country_overall lists them).
with posters as (
    select country, poster_name, max(follower_count) as follower_count
    from {{ ref('stg_pin_geo_user') }}
    where country is not null and poster_name is not null and follower_count is not null
    group by country, poster_name
),
ranked as (
    select *, rank() over (partition by country order by follower_count desc) as top_rank
    from posters
),
top as (
    select country, poster_name, follower_count,
           count(*) over (partition by country)::int as tied_posters
    from ranked
    where top_rank = 1
)
select country, poster_name, follower_count, tied_posters,
       follower_count = max(follower_count) over () as is_top_country
from top
