-- Q6. How many users joined in each year 2015-2020 (of date_joined, UTC; a user is one ind); 0 where
-- none did.
with counted as (
    select join_year, count(*)::int as users_joined
    from {{ ref('stg_users') }}
    where join_year between 2015 and 2020
    group by join_year
)
select join_year, coalesce(counted.users_joined, 0) as users_joined
from ({{ years(2015, 2020, 'join_year') }}) as domain
left join counted using (join_year)
