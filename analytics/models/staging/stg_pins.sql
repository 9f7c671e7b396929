-- The newest version of each pin across all days. "Newest" is Kafka log order, as everywhere in
-- the pipeline: every version of a key shares a partition, so the highest offset wins; the date
-- (the producer timestamp's day) only breaks ties when lineage is missing.
select distinct on (unique_id)
    unique_id,
    ind,
    title,
    poster_name,
    follower_count,
    is_image_or_video,
    category,
    date as loaded_date
from {{ source('pinterest', 'pin_table') }}
where unique_id is not null
order by unique_id, _kafka_offset desc nulls last, date desc
