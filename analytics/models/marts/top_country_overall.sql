-- Q3, second part. The country of the poster with the most followers of all. Ties shown: every
-- (country, poster) with the highest follower count is a row; tied_countries = how many countries.
with top as (
    select country, poster_name, follower_count
    from {{ ref('top_user_by_country') }}
    where is_top_country
)
select country, poster_name, follower_count,
       (select count(distinct country) from top)::int as tied_countries
from top
