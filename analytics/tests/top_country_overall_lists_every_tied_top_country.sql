-- Q3's two parts agree and no tie is hidden: top_country_overall holds exactly the countries whose
-- top follower count is the highest of all, and every one of them is marked is_top_country.
-- A row returned = the test fails.
{{ config(meta={'dagster': {'ref': {'name': 'top_country_overall'}}}) }}  -- the asset check sits on top_country_overall
with highest as (
    select max(follower_count) as follower_count from {{ ref('top_user_by_country') }}
),
expected as (
    select distinct t.country
    from {{ ref('top_user_by_country') }} t join highest using (follower_count)
),
listed as (
    select distinct country from {{ ref('top_country_overall') }}
),
marked as (
    select distinct country from {{ ref('top_user_by_country') }} where is_top_country
)
(select 'missing from top_country_overall' as problem, country from expected except select 'missing from top_country_overall', country from listed)
union all
(select 'not a top country', country from listed except select 'not a top country', country from expected)
union all
(select 'not marked is_top_country', country from expected except select 'not marked is_top_country', country from marked)
