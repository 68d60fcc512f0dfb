-- Average hours per status per team over the last quarter in the data, from the long stream.
-- Runs on PostgreSQL (set search_path to the loader's schema, e.g. `sei`) and on DuckDB.
with last_quarter as (
    select date_trunc('quarter', max(cast(period_start as date))) as first_day
    from time_in_status_by_status
)
select
    team,
    status,
    round(avg(hours)::numeric, 1) as avg_hours,
    count(*) as periods
from time_in_status_by_status, last_quarter
where cast(period_start as date) >= last_quarter.first_day
group by team, status
order by team, status
