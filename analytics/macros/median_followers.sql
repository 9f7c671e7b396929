{#- The median follower count (percentile_cont(0.5): continuous, over the pins of the group, a pin
    counting its poster's follower count) per value of `keys` in `domain` (a query of those
    columns). is_interpolated: the median lies between the two middle pins (an even count whose
    middle values differ), so no pin has it. A group without pins: median NULL, pins 0. -#}
{% macro median_followers(keys, domain) -%}
with medians as (
    select
        {{ keys | join(', ') }},
        percentile_cont(0.5) within group (order by follower_count) as median_follower_count,
        percentile_disc(0.5) within group (order by follower_count) as lower_middle,
        count(*)::int as pins
    from {{ ref('stg_pin_geo_user') }}
    where follower_count is not null
    {%- for key in keys %} and {{ key }} is not null{% endfor %}
    group by {{ keys | join(', ') }}
)
select
    {{ keys | join(', ') }},
    medians.median_follower_count,
    coalesce(medians.median_follower_count <> medians.lower_middle, false) as is_interpolated,
    coalesce(medians.pins, 0) as pins
from ({{ domain }}) as domain
left join medians using ({{ keys | join(', ') }})
{%- endmacro %}
