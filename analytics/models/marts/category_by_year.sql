-- The most popular category in each year of the geolocation timestamp (UTC); ties go to the
-- category name that sorts first.
with counted as (
    select year, category, count(*) as category_count
    from {{ ref('stg_pin_geo_user') }}
    where year is not null and category is not null
    group by year, category
)
select distinct on (year) year, category, category_count
from counted
order by year, category_count desc, category
