{#- The domains the questions are asked over: each mart has one row per value, data or not. -#}
{% macro age_groups() -%}
select unnest(array['18-24', '25-35', '36-50', '50+']) as age_group
{%- endmacro %}

{% macro years(first, last, column) -%}
select generate_series({{ first }}, {{ last }}) as {{ column }}
{%- endmacro %}
