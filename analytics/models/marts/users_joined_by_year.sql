-- How many users joined in each year (of date_joined, UTC): one user per ind.
select join_year, count(*) as users_joined
from {{ ref('stg_users') }}
where join_year is not null
group by join_year
