-- The newest version of each pin across all days: the highest _kafka_order, the pipeline's one
-- order rule (pinterest_assets/ordering.py: grow epoch, then Kafka partition and offset), the same
-- value latest_per_key and the pin_stream upsert compare. The date only breaks ties when lineage is missing.
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
order by unique_id, _kafka_order desc nulls last, date desc
