-- The most popular category in each age group (18-24, 25-35, 36-50, 50+); ties go to the
-- category name that sorts first.
with counted as (
    select age_group, category, count(*) as category_count
    from {{ ref('stg_pin_geo_user') }}
    where age_group is not null and category is not null
    group by age_group, category
)
select distinct on (age_group) age_group, category, category_count
from counted
order by age_group, category_count desc, category
