#!/usr/bin/env python3
"""Checks grantwatch's canned reports over a generated archive two ways: against the
answers the generator planted (truth.json), and against DuckDB, an independent engine,
running each question over the same Parquet files.

  check.py --dir D --since 2026-11-01 --until 2026-11-04
      reads D/gw/NAME.json (grantwatch query NAME --format json), D/archive,
      D/grants.json and D/truth.json; exits 1 listing every difference.
  check.py --dir D --since … --until … --bench NAME
      prints DuckDB's wall time for one report, in seconds (for the benchmark).
"""
import argparse
import json
import re
import sys
import time
from datetime import datetime, timezone

import duckdb
import pyarrow as pa

DAY_MS = 86_400_000


def pattern_regex(text):
    """DESIGN §5 action patterns as a regular expression (HTTP patterns and operations)."""
    method, _, path = text.partition(" ")
    if not path.startswith("/"):
        return "".join(".*" if c == "*" else re.escape(c) for c in text)
    parts = []
    for seg in path.split("/")[1:]:
        if seg == "**":
            parts.append("(/[^/]+)*")
        elif seg == "*":
            parts.append("/[^/]+")
        else:
            parts.append("/" + "".join("[^/]*" if c == "*" else re.escape(c) for c in seg))
    m = "[A-Za-z]+" if method == "*" else "(?i:" + re.escape(method) + ")"
    return m + " " + "".join(parts)


def ts(text):
    return None if text is None else datetime.fromisoformat(
        text if "T" in text else text + "T00:00:00+00:00").astimezone(timezone.utc)


def duration_s(text):
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return int(text[:-1]) * units[text[-1]]


def grant_tables(grants):
    rows, creds, scopes = [], [], []
    for g in grants:
        e = g.get("emergency") or {}
        rows.append(dict(grant_id=g["id"], partner=g["partner"], owner=g.get("owner"),
                         status=g.get("status", "active"), approved_at=ts(g.get("approved_at")),
                         valid_from=ts(g.get("valid_from")), expires_at=ts(g.get("expires_at")),
                         idle_after_s=duration_s(g.get("idle_after", "30d")),
                         delegates=g.get("delegates", []),
                         emergency_from=ts(e.get("from")), emergency_until=ts(e.get("until"))))
        creds += [dict(credential_id=c, grant_id=g["id"]) for c in g["credentials"]]
        all_scopes = [(s, False) for s in g["scopes"]] + [(s, True) for s in e.get("scopes", [])]
        for i, (s, em) in enumerate(all_scopes):
            scopes.append(dict(grant_id=g["id"], scope_index=i, action=s["action"],
                               regex=pattern_regex(s["action"]), is_emergency=em))
    return pa.Table.from_pylist(rows), pa.Table.from_pylist(creds), pa.Table.from_pylist(scopes)


UNTIL = "TIMESTAMPTZ '{until}'"

QUESTIONS = {
    "idle_grants": ("""
        WITH used AS (SELECT gc.grant_id, max(ts) AS last_seen, count(*) AS n
                      FROM actions a JOIN grant_credentials gc USING (credential_id) GROUP BY 1)
        SELECT grant_id, coalesce(n, 0) AS actions,
               (epoch_ms({until}) - epoch_ms(coalesce(last_seen, valid_from, approved_at))) // 86400000 AS idle_days
        FROM grants LEFT JOIN used USING (grant_id)
        WHERE status = 'active'
          AND epoch_ms(coalesce(last_seen, valid_from, approved_at)) + idle_after_s * 1000 < epoch_ms({until})
        """, ["grant_id", "actions", "idle_days"]),
    "unused_scopes": ("""
        WITH used AS (SELECT DISTINCT s.grant_id, s.scope_index
                      FROM (SELECT DISTINCT credential_id, action FROM actions) p
                      JOIN grant_credentials gc USING (credential_id)
                      JOIN grant_scopes s ON s.grant_id = gc.grant_id AND regexp_full_match(p.action, s.regex))
        SELECT s.grant_id, s.action AS scope FROM grant_scopes s
        WHERE NOT s.is_emergency
          AND NOT EXISTS (SELECT 1 FROM used u WHERE u.grant_id = s.grant_id AND u.scope_index = s.scope_index)
        """, ["grant_id", "scope"]),
    "least_privilege": ("""
        WITH bound AS (SELECT gc.grant_id, a.action, count(*) AS n
                       FROM actions a JOIN grant_credentials gc USING (credential_id) GROUP BY 1, 2),
        m AS (SELECT b.grant_id, s.scope_index, b.action, b.n FROM bound b
              JOIN grant_scopes s ON s.grant_id = b.grant_id AND regexp_full_match(b.action, s.regex))
        SELECT s.grant_id, s.action AS scope,
               CASE WHEN count(m.action) = 0 THEN 'unused' ELSE 'used' END AS state,
               coalesce(sum(m.n), 0) AS actions
        FROM grant_scopes s LEFT JOIN m USING (grant_id, scope_index)
        GROUP BY s.grant_id, s.scope_index, s.action
        UNION ALL
        SELECT b.grant_id, b.action, 'outside_grant', b.n FROM bound b
        WHERE NOT EXISTS (SELECT 1 FROM m WHERE m.grant_id = b.grant_id AND m.action = b.action)
        """, ["grant_id", "scope", "state", "actions"]),
    "drift_by_partner": ("""
        WITH pairs AS (SELECT credential_id, action, count(*) AS n FROM actions GROUP BY 1, 2),
        matched AS (SELECT DISTINCT p.credential_id, p.action FROM pairs p
                    JOIN grant_credentials gc USING (credential_id)
                    JOIN grant_scopes s ON s.grant_id = gc.grant_id AND regexp_full_match(p.action, s.regex)),
        bp AS (SELECT DISTINCT g.partner, p.credential_id, p.action, p.n, m.action IS NULL AS outside
               FROM pairs p JOIN grant_credentials gc USING (credential_id) JOIN grants g USING (grant_id)
               LEFT JOIN matched m USING (credential_id, action))
        SELECT partner, sum(n) AS actions, sum(CASE WHEN outside THEN n ELSE 0 END) AS out_of_purpose,
               round(sum(CASE WHEN outside THEN n ELSE 0 END) / sum(n), 4) AS drift_ratio
        FROM bp GROUP BY partner
        """, ["partner", "actions", "out_of_purpose", "drift_ratio"]),
    "out_of_purpose_top": ("""
        WITH latest AS (SELECT alert_id, grant_id, action, max(count) AS events FROM alerts
                        WHERE rule = 'out_of_purpose_action' GROUP BY ALL),
        per AS (SELECT grant_id, action, sum(events) AS events, count(*) AS alerts FROM latest GROUP BY ALL)
        SELECT * FROM per QUALIFY row_number() OVER (PARTITION BY grant_id ORDER BY events DESC, action) <= 10
        """, ["grant_id", "action", "events", "alerts"]),
    "delegate_activity": ("""
        SELECT gc.grant_id, a.actor, list_contains(g.delegates, a.actor) AS approved, count(*) AS actions
        FROM actions a JOIN grant_credentials gc USING (credential_id) JOIN grants g USING (grant_id)
        WHERE a.actor IS NOT NULL AND a.actor <> g.partner GROUP BY ALL
        """, ["grant_id", "actor", "approved", "actions"]),
    "emergency_usage": ("""
        WITH b AS (SELECT gc.grant_id, a.action, a.ts FROM actions a JOIN grant_credentials gc USING (credential_id)),
        d AS (SELECT DISTINCT grant_id, action FROM b),
        em AS (SELECT d.* FROM d WHERE
                 EXISTS (SELECT 1 FROM grant_scopes s WHERE s.grant_id = d.grant_id AND s.is_emergency AND regexp_full_match(d.action, s.regex))
             AND NOT EXISTS (SELECT 1 FROM grant_scopes s WHERE s.grant_id = d.grant_id AND NOT s.is_emergency AND regexp_full_match(d.action, s.regex)))
        SELECT g.grant_id,
               count(*) FILTER (WHERE b.ts < g.emergency_from) AS before_window,
               count(*) FILTER (WHERE b.ts BETWEEN g.emergency_from AND g.emergency_until) AS in_window,
               count(*) FILTER (WHERE b.ts > g.emergency_until) AS after_window
        FROM b JOIN em USING (grant_id, action) JOIN grants g USING (grant_id) GROUP BY g.grant_id
        """, ["grant_id", "before_window", "in_window", "after_window"]),
    "expiring_soon": ("""
        WITH used AS (SELECT gc.grant_id, count(*) AS n FROM actions a JOIN grant_credentials gc USING (credential_id) GROUP BY 1)
        SELECT grant_id, (epoch_ms(expires_at) - epoch_ms({until})) // 86400000 AS days_left, coalesce(n, 0) AS actions
        FROM grants LEFT JOIN used USING (grant_id)
        WHERE status = 'active' AND expires_at >= {until} AND expires_at < {until} + INTERVAL 30 DAY
        """, ["grant_id", "days_left", "actions"]),
    "credential_reuse": ("""
        WITH b AS (SELECT credential_id, count(*) AS grants FROM grant_credentials GROUP BY 1),
        u AS (SELECT credential_id, count(*) AS actions, count(DISTINCT environment) AS environments,
                     count(DISTINCT partner) AS partners FROM actions GROUP BY 1)
        SELECT credential_id, coalesce(grants, 0) AS grants, coalesce(actions, 0) AS actions,
               coalesce(environments, 0) AS environments, coalesce(partners, 0) AS partners
        FROM b FULL JOIN u USING (credential_id)
        WHERE grants > 1 OR environments > 1 OR partners > 1
        """, ["credential_id", "grants", "actions", "environments", "partners"]),
    "grant_changes": ("""
        WITH v AS (SELECT *, lag(grant_hash) OVER (PARTITION BY grant_id ORDER BY loaded_at) AS ph FROM grant_versions),
        c AS (SELECT *, lag(scopes) OVER w AS ps, lag(environments) OVER w AS pe, lag(delegates) OVER w AS pd,
                     lag(expires_at) OVER w AS px, lag(approved_at) OVER w AS pa, lag(approved_by) OVER w AS pb,
                     lag(grant_hash) OVER w AS prev
              FROM v WHERE ph IS NULL OR ph <> grant_hash
              WINDOW w AS (PARTITION BY grant_id ORDER BY loaded_at)),
        d AS (SELECT grant_id,
                     list_sort(list_filter(scopes, lambda x: NOT list_contains(ps, x))) AS scopes_added,
                     CASE WHEN len(environments) = 0 AND len(pe) > 0 THEN ['*']
                          ELSE list_sort(list_filter(environments, lambda x: NOT list_contains(pe, x))) END AS environments_added,
                     list_sort(list_filter(delegates, lambda x: NOT list_contains(pd, x))) AS delegates_added,
                     coalesce(expires_at > px, false) AS expiry_extended,
                     coalesce(expires_at > px, false) AND approved_at IS NOT DISTINCT FROM pa
                         AND approved_by IS NOT DISTINCT FROM pb AS extended_without_approval,
                     scope_constraints, lag_c
              FROM (SELECT *, lag(scope_constraints) OVER (PARTITION BY grant_id ORDER BY loaded_at) AS lag_c FROM c) c
              WHERE prev IS NOT NULL AND loaded_at >= {since} AND loaded_at < {until})
        SELECT grant_id, scopes_added, environments_added, delegates_added, expiry_extended, extended_without_approval
        FROM d
        WHERE len(scopes_added) > 0 OR len(environments_added) > 0 OR len(delegates_added) > 0 OR expiry_extended
           OR (len(list_filter(scope_constraints, lambda x: NOT list_contains(lag_c, x))) > 0)
        """, ["grant_id", "scopes_added", "environments_added", "delegates_added", "expiry_extended",
              "extended_without_approval"]),
    "alerts_summary": ("""
        WITH latest AS (SELECT alert_id, rule, grant_id, max(count) AS events FROM alerts GROUP BY ALL)
        SELECT rule, count(*) AS alerts, sum(events) AS events, count(DISTINCT grant_id) AS grants
        FROM latest GROUP BY rule
        """, ["rule", "alerts", "events", "grants"]),
}


def connect(args):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    arc = f"{args.dir}/archive"
    window = f"BETWEEN TIMESTAMPTZ '{args.since}' AND TIMESTAMPTZ '{args.until}' - INTERVAL 1 MILLISECOND"
    con.execute(f"CREATE VIEW actions AS SELECT * FROM read_parquet('{arc}/date=*/*.parquet') WHERE ts {window}")
    con.execute(f"CREATE VIEW alerts AS SELECT * FROM read_parquet('{arc}/alerts/date=*/*.parquet') WHERE first_seen {window}")
    con.execute(f"CREATE VIEW grant_versions AS SELECT * FROM read_parquet('{arc}/grants/date=*/*.parquet')")
    with open(f"{args.dir}/grants.json") as f:
        grants, creds, scopes = grant_tables(json.load(f))
    for name, table in (("grants", grants), ("grant_credentials", creds), ("grant_scopes", scopes)):
        con.register(name + "_arrow", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
    return con


def duck(con, name, args):
    sql, columns = QUESTIONS[name]
    sql = sql.format(until=f"TIMESTAMPTZ '{args.until}'", since=f"TIMESTAMPTZ '{args.since}'")
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()], columns


def norm(v):
    if isinstance(v, datetime):
        return int(v.timestamp() * 1000)
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, list):
        return tuple(sorted(norm(x) for x in v))
    if isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", v):
        return norm(datetime.fromisoformat(v))
    return v


def rows(records, columns):
    return sorted((tuple(norm(r.get(c)) for c in columns) for r in records), key=repr)


def truth_problems(name, gw, truth):
    """What a report says about the planted facts, against the generator's answers."""
    t = truth
    by = lambda *cols: {tuple(r.get(c) for c in cols) for r in gw}
    if name == "idle_grants":
        return [] if sorted(r["grant_id"] for r in gw) == t["idle_grants"] else [f"idle: {gw}"]
    if name == "unused_scopes":
        return [] if sorted([r["grant_id"], r["scope"]] for r in gw) == t["unused_scopes"] else [f"unused: {gw}"]
    if name == "least_privilege":
        have = {(r["grant_id"], r["scope"]): (r["state"], r["actions"]) for r in gw}
        out = {k for _, k, _ in t["out_of_purpose"]}
        return [f"least_privilege {g} {k}: {have.get((g, k))} != {n}" for g, k, n in t["scope_actions"]
                if have.get((g, k)) != ("outside_grant" if k in out else "used", n)]
    if name == "drift_by_partner":
        have = {r["partner"]: [r["actions"], r["out_of_purpose"]] for r in gw}
        return [] if have == t["drift_by_partner"] else [f"drift: {have} != {t['drift_by_partner']}"]
    if name == "out_of_purpose_top":
        have = sorted([r["grant_id"], r["action"], r["events"]] for r in gw)
        want = sorted(t["alerted_out_of_purpose"])
        return [] if have == want else [f"out_of_purpose_top: {have} != {want}"]
    if name == "delegate_activity":
        problems = [] if sorted(map(list, by("grant_id", "actor", "approved"))) == t["delegates"] else [f"delegates: {gw}"]
        for r in gw:
            if r["grant_id"] == "scorer" and r["actions"] != t["scorer_actors"].get(r["actor"]):
                problems.append(f"scorer actor {r['actor']}: {r['actions']}")
        return problems
    if name == "emergency_usage":
        have = {r["grant_id"]: [r["before_window"], r["in_window"], r["after_window"]] for r in gw}
        return [] if have == t["emergency_usage"] else [f"emergency: {have}"]
    if name == "expiring_soon":
        return [] if sorted(map(list, by("grant_id", "days_left"))) == t["expiring_soon"] else [f"expiring: {gw}"]
    if name == "credential_reuse":
        return [] if sorted(map(list, by("credential_id", "grants", "environments"))) == t["credential_reuse"] else [f"reuse: {gw}"]
    if name == "grant_changes":
        have = {r["grant_id"]: r for r in gw}
        problems = [] if set(have) == set(t["grant_changes"]) else [f"changed grants: {sorted(have)}"]
        for g, want in t["grant_changes"].items():
            for k, v in want.items():
                if have.get(g, {}).get(k, [] if isinstance(v, list) else False) != v:
                    problems.append(f"grant_changes {g}.{k}: {have.get(g, {}).get(k)} != {v}")
        return problems
    if name == "alerts_summary":
        have = {r["rule"]: r["events"] for r in gw}
        want = {"out_of_purpose_action": sum(n for _, _, n in t["alerted_out_of_purpose"]),
                "unapproved_delegate": t["scorer_actors"]["shadow-llc"]}
        return [f"alerts_summary {k}: {have.get(k)} != {v}" for k, v in want.items() if have.get(k) != v]
    return [f"no known answers for {name}"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--since", required=True)
    p.add_argument("--until", required=True)
    p.add_argument("--bench")
    args = p.parse_args()
    con = connect(args)
    if args.bench:
        started = time.perf_counter()
        duck(con, args.bench, args)
        print(f"{time.perf_counter() - started:.3f}")
        return 0
    with open(f"{args.dir}/truth.json") as f:
        truth = json.load(f)
    problems = []
    for name in QUESTIONS:
        with open(f"{args.dir}/gw/{name}.json") as f:
            gw = json.load(f)
        want, columns = duck(con, name, args)
        a, b = rows(gw, columns), rows(want, columns)
        if a != b:
            problems.append(f"{name}: grantwatch and DuckDB differ\n  grantwatch only: {sorted(set(a) - set(b), key=repr)[:5]}"
                            f"\n  duckdb only:     {sorted(set(b) - set(a), key=repr)[:5]}")
        problems += truth_problems(name, gw, truth)
        print(f"{name}: {len(gw)} rows, DuckDB agrees: {a == b}")
    for problem in problems:
        print("MISMATCH", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
