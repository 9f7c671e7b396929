-- The newest user record of each ind across all days (macros/newest_per_key.sql: the one order rule).
{{ newest_per_key('user_table', 'ind', [
    'ind', 'user_name', 'age',
    age_group('age') ~ ' as age_group',
    'date_joined',
    'extract(year from date_joined at time zone \'UTC\')::int as join_year',
    'date as loaded_date',
]) }}
