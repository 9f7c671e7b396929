-- Q2, second part. The most popular category in each year 2018-2022 (of the geolocation timestamp,
-- UTC). Ties shown: every category sharing the year's highest count is a row (tied_categories =
-- how many); a year without posts is one row with category NULL and count 0.
{{ top_categories(
    "select year, category, posts as category_count from " ~ ref('posts_by_category_and_year'),
    'year', years(2018, 2022, 'year')) }}
