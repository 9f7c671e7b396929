-- The newest version of each pin across all days (macros/newest_per_key.sql: the one order rule).
{{ newest_per_key('pin_table', 'unique_id', [
    'unique_id', 'ind', 'title', 'poster_name', 'follower_count', 'is_image_or_video', 'category',
    'date as loaded_date',
]) }}
