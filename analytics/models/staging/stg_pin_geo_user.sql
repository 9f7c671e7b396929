-- One row per pin, with the geolocation and the user of its ind (pin.ind = geo.ind = user.ind).
-- Left joins keep pins whose geo or user record has not arrived; each mart filters what it needs.
select
    p.unique_id,
    p.ind,
    p.category,
    p.poster_name,
    p.follower_count,
    g.country,
    g.year,
    u.user_name,
    u.age,
    u.age_group,
    u.join_year
from {{ ref('stg_pins') }} p
left join {{ ref('stg_geolocations') }} g on g.ind = p.ind
left join {{ ref('stg_users') }} u on u.ind = p.ind
