-- Rows an export without a team_hierarchy column keyed by the team name (the stand-in), once
-- a later export of the same scope, options, period and team carried the real hierarchy.
-- PostgreSQL (set search_path to the loader's schema, e.g. `sei`); see the README,
-- "What the tap expects of the CSV". Rows without a real-hierarchy twin are kept.
delete from time_in_status as s
using time_in_status as h
where s.team_hierarchy = s.team
  and h.team_hierarchy <> h.team
  and (h.scope_id, h.granularity, h.aggregation_level, h.terminal_date_column, h.period, h.team)
    = (s.scope_id, s.granularity, s.aggregation_level, s.terminal_date_column, s.period, s.team);

delete from time_in_status_by_status as s
using time_in_status_by_status as h
where s.team_hierarchy = s.team
  and h.team_hierarchy <> h.team
  and (h.scope_id, h.granularity, h.aggregation_level, h.terminal_date_column, h.period, h.team)
    = (s.scope_id, s.granularity, s.aggregation_level, s.terminal_date_column, s.period, s.team);
