-- Q2, first part. Posts per category in each year 2018-2022 (of the geolocation timestamp, UTC):
-- every category seen in the data x every year of the range, 0 where no pin.
with categories as (
    select distinct category from {{ ref('stg_pin_geo_user') }} where category is not null
),
counted as (
    select year, category, count(*)::int as posts
    from {{ ref('stg_pin_geo_user') }}
    where year between 2018 and 2022 and category is not null
    group by year, category
)
select year, category, coalesce(counted.posts, 0) as posts
from ({{ years(2018, 2022, 'year') }}) as domain
cross join categories
left join counted using (year, category)
