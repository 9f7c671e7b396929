{#- The newest row of each key across all days of a daily table: the highest _kafka_order, the
    pipeline's one order rule (pinterest_assets/ordering.py: grow epoch, then Kafka partition and
    offset), the value latest_per_key and the pin_stream upsert compare. The date only breaks ties
    when lineage is missing. `columns`: the select list (expressions, with their aliases). -#}
{% macro newest_per_key(table, key, columns) -%}
select distinct on ({{ key }})
    {{ columns | join(',\n    ') }}
from {{ source('pinterest', table) }}
where {{ key }} is not null
order by {{ key }}, _kafka_order desc nulls last, date desc
{%- endmacro %}
