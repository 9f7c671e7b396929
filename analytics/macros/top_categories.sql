{#- The most popular category per group, ties shown: every category with the group's highest
    count is a row, and tied_categories says how many share it (1 = no tie). `counted` is a query
    of (group, category, category_count); with a `domain` (a query of the group column), a group
    without any pin is one row with category NULL, category_count 0 and tied_categories 0. -#}
{% macro top_categories(counted, group, domain=none) -%}
with counted as (
    {{ counted }}
),
ranked as (
    select {{ group }}, category, category_count,
           rank() over (partition by {{ group }} order by category_count desc) as top_rank
    from counted
    where category_count > 0
),
top as (
    select {{ group }}, category, category_count,
           count(*) over (partition by {{ group }})::int as tied_categories
    from ranked
    where top_rank = 1
)
{%- if domain %}
select {{ group }}, top.category, coalesce(top.category_count, 0) as category_count,
       coalesce(top.tied_categories, 0) as tied_categories
from ({{ domain }}) as domain
left join top using ({{ group }})
{%- else %}
select {{ group }}, category, category_count, tied_categories
from top
{%- endif %}
{%- endmacro %}
