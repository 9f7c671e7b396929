-- Q1. The most popular category in each country (pins per country and category). Ties shown: every
-- category sharing a country's highest count is a row; tied_categories says how many (1 = no tie).
{{ top_categories(
    "select country, category, count(*) as category_count
     from " ~ ref('stg_pin_geo_user') ~ "
     where country is not null and category is not null
     group by country, category",
    'country') }}
