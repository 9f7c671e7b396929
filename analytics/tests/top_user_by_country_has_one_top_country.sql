-- top_user_by_country marks exactly one country as is_top_country (when it has any row).
-- A row returned = the test fails.
select count(*) filter (where is_top_country) as top_countries, count(*) as countries
from {{ ref('top_user_by_country') }}
having count(*) > 0 and count(*) filter (where is_top_country) <> 1
