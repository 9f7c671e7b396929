{#- A tie is shown whole: within each `group`, every row has the same top `value` and their number
    equals `tied` (a group without data is one row with tied = 0). A row returned = the test fails. -#}
{% test ties_are_rows(model, group, value, tied) %}
select {{ group }}
from {{ model }}
group by {{ group }}
having count(distinct {{ value }}) <> 1
    or min({{ tied }}) <> max({{ tied }})
    or (max({{ tied }}) > 0 and count(*) <> max({{ tied }}))
{% endtest %}
