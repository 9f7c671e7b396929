{#- The four age groups of the analysis: 18-24, 25-35, 36-50 and 50+ (older than 50).
    Younger than 18 (or unknown) is NULL: no group. -#}
{% macro age_group(age) -%}
case
    when {{ age }} between 18 and 24 then '18-24'
    when {{ age }} between 25 and 35 then '25-35'
    when {{ age }} between 36 and 50 then '36-50'
    when {{ age }} > 50 then '50+'
end
{%- endmacro %}
