"""The SQL functions relief's SQL needs on a server and SQLite has built in or gets from relief
(julianday, date with modifiers, yuan, mask_name, ...), with SQLite's results. Apart from dialect.py
so that opening a server database, which compares them with the server's (store.Store._pg_compat),
does not import sqlglot."""

# SQLite functions PostgreSQL lacks, created once per database (see pg.ensure_compat).
COMPAT_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION sqlite_julianday(t text) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN extract(epoch FROM t::timestamp)::double precision / 86400.0 + 2440587.5;
CREATE OR REPLACE FUNCTION sqlite_date(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_char(t::timestamp, 'YYYY-MM-DD');
CREATE OR REPLACE FUNCTION sqlite_date(t text, modifier text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_char(t::timestamp + modifier::interval, 'YYYY-MM-DD');
CREATE OR REPLACE FUNCTION sqlite_json_each(doc text) RETURNS TABLE (key text, value text, type text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT x.k, CASE WHEN json_typeof(x.v) IN ('object', 'array') THEN x.v::text ELSE x.v #>> '{}' END, json_typeof(x.v)
    FROM (SELECT (n - 1)::text AS k, e AS v, n FROM json_array_elements(
              CASE WHEN json_typeof(doc::json) = 'array' THEN doc::json ELSE '[]'::json END) WITH ORDINALITY AS a (e, n)
          UNION ALL
          SELECT o.key, o.value, 0 FROM json_each(
              CASE WHEN json_typeof(doc::json) = 'object' THEN doc::json ELSE '{}'::json END) AS o) x
$$;
CREATE OR REPLACE FUNCTION relief_round_even(x numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN x - floor(x) <> 0.5 THEN round(x) WHEN mod(floor(x), 2) = 0 THEN floor(x) ELSE floor(x) + 1 END;
CREATE OR REPLACE FUNCTION relief_yuan_text(fen numeric) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN fen < 0 THEN '-' ELSE '' END
        || to_char(trunc(abs(fen) / 100), 'FM999,999,999,999,999,990')
        || CASE WHEN mod(abs(fen), 100) <> 0 THEN '.' || lpad(mod(abs(fen), 100)::text, 2, '0') ELSE '' END;
CREATE OR REPLACE FUNCTION yuan(fen numeric) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN fen IS NULL THEN '0' ELSE relief_yuan_text(relief_round_even(fen)) END;
CREATE OR REPLACE FUNCTION mask_name(name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN name IS NULL OR name = '' THEN '' ELSE left(name, 1) || repeat('*', length(name) - 1) END;
"""
