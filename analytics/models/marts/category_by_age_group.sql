-- Q4. The most popular category in each age group of the pin's user (18-24, 25-35, 36-50 with 50
-- included, 50+ = older than 50). Ties shown: every category sharing the group's highest count is a
-- row (tied_categories = how many); a group without pins is one row with category NULL and count 0.
{{ top_categories(
    "select age_group, category, count(*) as category_count
     from " ~ ref('stg_pin_geo_user') ~ "
     where age_group is not null and category is not null
     group by age_group, category",
    'age_group', age_groups()) }}
