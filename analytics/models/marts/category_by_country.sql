-- The most popular category in each country: pins per (country, category), the top one per
-- country; ties go to the category name that sorts first.
with counted as (
    select country, category, count(*) as category_count
    from {{ ref('stg_pin_geo_user') }}
    where country is not null and category is not null
    group by country, category
)
select distinct on (country) country, category, category_count
from counted
order by country, category_count desc, category
