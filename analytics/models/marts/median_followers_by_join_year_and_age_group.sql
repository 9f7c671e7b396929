-- Q8. The median follower count of the pins' posters by age group and join year (2015-2020) of the
-- pin's user.
{{ median_followers(['age_group', 'join_year'],
    "select age_group, join_year from (" ~ age_groups() ~ ") as a cross join (" ~ years(2015, 2020, 'join_year') ~ ") as y") }}
