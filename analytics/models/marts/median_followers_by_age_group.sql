-- Q5. The median follower count of the pins' posters in each age group of the pin's user.
{{ median_followers(['age_group'], age_groups()) }}
