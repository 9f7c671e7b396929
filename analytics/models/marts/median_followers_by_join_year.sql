-- Q7. The median follower count of the pins' posters by the year (2015-2020) the pin's user joined.
{{ median_followers(['join_year'], years(2015, 2020, 'join_year')) }}
