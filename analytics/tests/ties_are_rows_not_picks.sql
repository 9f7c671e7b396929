-- Every "most popular" mart shows each tie whole: within a group, all rows share the top count and
-- their number equals tied_categories. A row returned = the test fails.
{% for mart, group in [('category_by_country', 'country'), ('category_by_year', 'year'),
                       ('category_by_age_group', 'age_group')] %}
select '{{ mart }}' as mart, {{ group }}::text as grp
from {{ ref(mart) }}
group by {{ group }}
having count(distinct category_count) <> 1
    or (max(tied_categories) > 0 and count(*) <> max(tied_categories))
    or min(tied_categories) <> max(tied_categories)
{% if not loop.last %}union all{% endif %}
{% endfor %}
