#!/usr/bin/env python3
"""A multi-day partner-action history with known answers for every canned report.

Writes into OUT:
  grants.yaml     the grants in force (version 2)
  grants_v1.yaml  an older version of the same set (what `grant_changes` compares to)
  grants*.json    the same grants, for the independent check (check.py)
  events.jsonl    native events over DAYS days from 2026-11-01, in time order
  truth.json      what each report must say about the planted facts

Planted facts (one grant each, besides `bulk` grants that only add volume and drift):
  payouts-main   an unused scope, an approved delegate, out-of-purpose refunds,
                 emergency retries before, during and after the approved window
  ledger-read    environments emptied (any) in v2; used in prod and sandbox
  idle-oldco     never used: idle
  short-lived    expires soon; v2 extended expiry without a new approval
  kyc-a, kyc-b   share one credential (reuse); kyc-b has an unused scope
  scorer         an approved delegate added in v2, and an unapproved actor
Standard library only: the tests and the benchmark run it before anything else.
"""
import argparse
import json
import os
import random
from datetime import datetime, timedelta, timezone

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def fixed_grants(version):
    v2 = version == 2
    return [
        dict(id="payouts-main", partner="acme", owner="jane.doe@bank.example",
             approved_by="tprb", approved_at="2026-09-01",
             purpose="Initiate payroll payouts", credentials=["cli_acme"],
             valid_from="2026-09-01T00:00:00Z", expires_at="2027-03-01T00:00:00Z",
             environments=["prod"], delegates=["acme-sub"],
             scopes=[dict(action="POST /v1/payouts", data_classes=["pii.basic", "financial.account"],
                          max_amount=50000, currencies=["EUR", "GBP"]),
                     dict(action="GET /v1/payouts/*")]
             + ([dict(action="GET /v1/reports/**")] if v2 else []),
             emergency=dict(**{"from": "2026-11-02T00:00:00Z"}, until="2026-11-02T12:00:00Z",
                            reason="INC-1 backlog", approved_by="ciso-oncall",
                            scopes=[dict(action="POST /v1/payouts/*/retry")])),
        dict(id="ledger-read", partner="ledgerly", owner="omar@bank.example",
             approved_by="tprb", approved_at="2026-09-01", purpose="Reconcile ledgers",
             credentials=["sa_ledger"], valid_from="2026-09-01T00:00:00Z",
             expires_at="2027-06-01T00:00:00Z", environments=[] if v2 else ["prod"],
             scopes=[dict(action="GET /v1/accounts/**")]),
        dict(id="idle-oldco", partner="oldco", owner="li@bank.example", approved_by="tprb",
             approved_at="2026-09-01", purpose="Monthly statements", credentials=["cli_oldco"],
             valid_from="2026-09-01T00:00:00Z", expires_at="2027-03-01T00:00:00Z",
             idle_after="14d", scopes=[dict(action="GET /v1/statements/*")]),
        dict(id="short-lived", partner="shortco", owner="ana@bank.example", approved_by="tprb",
             approved_at="2026-10-01", purpose="Pilot integration", credentials=["cli_short"],
             valid_from="2026-10-01T00:00:00Z",
             expires_at="2026-11-20T00:00:00Z" if v2 else "2026-11-10T00:00:00Z",
             scopes=[dict(action="GET /v1/pilot/*")]),
        dict(id="kyc-a", partner="kycco", owner="ben@bank.example", approved_by="tprb",
             approved_at="2026-09-01", purpose="Identity checks", credentials=["cli_shared"],
             valid_from="2026-09-01T00:00:00Z", expires_at="2027-03-01T00:00:00Z",
             scopes=[dict(action="POST /v1/kyc/check")]),
        dict(id="kyc-b", partner="kycco", owner="ben@bank.example", approved_by="tprb",
             approved_at="2026-09-01", purpose="Identity document archive",
             credentials=["cli_shared"], valid_from="2026-09-01T00:00:00Z",
             expires_at="2027-03-01T00:00:00Z",
             scopes=[dict(action="GET /v1/kyc/documents/*"), dict(action="GET /v1/kyc/archive/*")]),
        dict(id="scorer", partner="fraudscore", owner="eva@bank.example",
             approved_by="tprb" if v2 else "risk-desk",
             approved_at="2026-10-20" if v2 else "2026-09-01", purpose="Score transactions",
             credentials=["cli_score"], valid_from="2026-09-01T00:00:00Z",
             expires_at="2027-03-01T00:00:00Z", delegates=["score-sub"] if v2 else [],
             scopes=[dict(action="POST /v1/score")]),
    ]


def bulk_grants(n):
    return [dict(id=f"bulk-{i:05d}", partner=f"bulkco-{i % 50:02d}", owner="ops@bank.example",
                 approved_by="tprb", approved_at="2026-09-01", purpose="Bulk item sync",
                 credentials=[f"cli_bulk_{i:05d}"], valid_from="2026-09-01T00:00:00Z",
                 expires_at="2027-06-01T00:00:00Z", environments=["prod"],
                 scopes=[dict(action="GET /v2/items/*"), dict(action="POST /v2/items")])
            for i in range(n)]


def yaml_value(v):
    if isinstance(v, list):
        return "[" + ", ".join(yaml_value(x) for x in v) + "]"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v)


def write_yaml(path, grants):
    with open(path, "w") as f:
        for g in grants:
            f.write(f"- id: {g['id']}\n")
            for key, value in g.items():
                if key in ("id", "scopes", "emergency"):
                    continue
                f.write(f"  {key}: {yaml_value(value)}\n")
            f.write("  scopes:\n")
            for s in g["scopes"]:
                f.write(f"    - action: {json.dumps(s['action'])}\n")
                for k, v in s.items():
                    if k != "action":
                        f.write(f"      {k}: {yaml_value(v)}\n")
            if "emergency" in g:
                e = g["emergency"]
                f.write("  emergency:\n")
                for k in ("from", "until", "reason", "approved_by"):
                    f.write(f"    {k}: {json.dumps(e[k])}\n")
                f.write("    scopes:\n")
                for s in e["scopes"]:
                    f.write(f"      - action: {json.dumps(s['action'])}\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--events-per-day", type=int, default=2000, help="bulk volume per day")
    p.add_argument("--bulk-grants", type=int, default=20)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    rnd = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    bulk = bulk_grants(a.bulk_grants)
    for name, grants in (("grants", fixed_grants(2) + bulk), ("grants_v1", fixed_grants(1) + bulk)):
        write_yaml(os.path.join(a.out, name + ".yaml"), grants)
        with open(os.path.join(a.out, name + ".json"), "w") as f:
            json.dump(grants, f)

    events = []  # (time, JSON text without event_id) of the day being generated
    count = {}  # (grant, scope or out-of-purpose action) -> events
    written = 0
    out = open(os.path.join(a.out, "events.jsonl"), "w")

    def emit(t, cred, action, grant, key, **extra):
        e = dict(ts=iso(t), credential_id=cred, action=action, **extra)
        events.append((t, json.dumps(e, separators=(",", ":"))))
        count[(grant, key)] = count.get((grant, key), 0) + 1

    # Emergency retries: one before the window, three during, two after.
    retries = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in [
        "2026-11-01T20:00:00Z", "2026-11-02T01:00:00Z", "2026-11-02T02:00:00Z",
        "2026-11-02T03:00:00Z", "2026-11-02T18:00:00Z", "2026-11-02T19:00:00Z"]]

    # A day at a time, so ten million events never sit in memory together.
    for day in range(a.days):
        base = START + timedelta(days=day)
        for t in retries:
            if base <= t < base + timedelta(days=1):
                emit(t, "cli_acme", "POST /v1/payouts/p1/retry", "payouts-main",
                     "POST /v1/payouts/*/retry", partner="acme", actor="acme", environment="prod")
        at = lambda: base + timedelta(milliseconds=rnd.randrange(86_400_000))
        for _ in range(40):
            emit(at(), "cli_acme", "POST /v1/payouts", "payouts-main", "POST /v1/payouts",
                 partner="acme", actor="acme", environment="prod", data_classes=["pii.basic"],
                 amount=float(rnd.randrange(100, 50000)), currency=rnd.choice(["EUR", "GBP"]))
        for _ in range(30):
            emit(at(), "cli_acme", f"GET /v1/payouts/p{rnd.randrange(1000)}", "payouts-main",
                 "GET /v1/payouts/*", partner="acme", actor=rnd.choice(["acme", "acme", "acme-sub"]),
                 environment="prod")
        for _ in range(3):
            emit(at(), "cli_acme", "POST /v1/refunds", "payouts-main", "POST /v1/refunds",
                 partner="acme", actor="acme", environment="prod")
        for _ in range(25):
            emit(at(), "sa_ledger", f"GET /v1/accounts/a{rnd.randrange(50)}/transactions",
                 "ledger-read", "GET /v1/accounts/**", partner="ledgerly",
                 environment=rnd.choice(["prod", "sandbox"]))
        if START + timedelta(days=day) < datetime(2026, 11, 20, tzinfo=timezone.utc):
            for _ in range(5):
                emit(at(), "cli_short", f"GET /v1/pilot/x{rnd.randrange(9)}", "short-lived",
                     "GET /v1/pilot/*", partner="shortco", environment="prod")
        for _ in range(10):
            emit(at(), "cli_shared", "POST /v1/kyc/check", "kyc-a", "POST /v1/kyc/check",
                 partner="kycco", environment="prod", source_ip=f"10.0.0.{rnd.randrange(1, 4)}")
            emit(at(), "cli_shared", f"GET /v1/kyc/documents/d{rnd.randrange(99)}", "kyc-b",
                 "GET /v1/kyc/documents/*", partner="kycco", environment="prod")
        for _ in range(20):
            actor = rnd.choice(["fraudscore", "fraudscore", "score-sub", "shadow-llc"])
            emit(at(), "cli_score", "POST /v1/score", "scorer", "POST /v1/score",
                 partner="fraudscore", actor=actor, environment="prod")
            count[("scorer", "actor:" + actor)] = count.get(("scorer", "actor:" + actor), 0) + 1
        for _ in range(2):
            emit(at(), "cli_score", "GET /v1/customers/export", "scorer",
                 "GET /v1/customers/export", partner="fraudscore", actor="fraudscore",
                 environment="prod")
        for _ in range(a.events_per_day):
            i = rnd.randrange(a.bulk_grants)
            g = f"bulk-{i:05d}"
            r = rnd.random()
            if r < 0.02:
                action, key = "DELETE /v2/items", "DELETE /v2/items"
            elif r < 0.5:
                action, key = "POST /v2/items", "POST /v2/items"
            else:
                action, key = f"GET /v2/items/i{rnd.randrange(100000)}", "GET /v2/items/*"
            emit(at(), f"cli_bulk_{i:05d}", action, g, key, partner=f"bulkco-{i % 50:02d}",
                 environment="prod", user_agent="sync/2.1")
        events.sort(key=lambda e: e[0])
        for _, line in events:
            out.write(f'{line[:-1]},"event_id":"e{written:09d}"}}\n')
            written += 1
        events.clear()
    out.close()

    partners = {}
    for (grant, key), n in count.items():
        if key.startswith("actor:"):
            continue
        partner = next(g["partner"] for g in fixed_grants(2) + bulk if g["id"] == grant)
        out = key in ("POST /v1/refunds", "GET /v1/customers/export", "DELETE /v2/items")
        total, drift = partners.get(partner, (0, 0))
        partners[partner] = (total + n, drift + (n if out else 0))
    truth = {
        "events": written,
        "idle_grants": ["idle-oldco"],
        "unused_scopes": sorted([["idle-oldco", "GET /v1/statements/*"],
                                 ["kyc-b", "GET /v1/kyc/archive/*"],
                                 ["payouts-main", "GET /v1/reports/**"]]),
        "scope_actions": sorted([g, k, n] for (g, k), n in count.items() if not k.startswith("actor:")),
        "drift_by_partner": {p: list(v) for p, v in sorted(partners.items())},
        "out_of_purpose": sorted([g, k, n] for (g, k), n in count.items()
                                 if k in ("POST /v1/refunds", "GET /v1/customers/export", "DELETE /v2/items")),
        # The rule also flags the retry made before the emergency window opened.
        "alerted_out_of_purpose": sorted([g, k, n] for (g, k), n in count.items()
                                         if k in ("POST /v1/refunds", "GET /v1/customers/export", "DELETE /v2/items"))
        + [["payouts-main", "POST /v1/payouts/p1/retry", 1]],
        "delegates": sorted([["payouts-main", "acme-sub", True],
                             ["scorer", "score-sub", True], ["scorer", "shadow-llc", False]]),
        "scorer_actors": {k[6:]: n for (g, k), n in count.items() if g == "scorer" and k.startswith("actor:")},
        "emergency_usage": {"payouts-main": [1, 3, 2]},
        "expiring_soon": [["short-lived", 16]],
        "credential_reuse": sorted([["cli_shared", 2, 1], ["sa_ledger", 1, 2]]),
        "grant_changes": {
            "payouts-main": {"scopes_added": ["GET /v1/reports/**"]},
            "ledger-read": {"environments_added": ["*"]},
            "short-lived": {"expiry_extended": True, "extended_without_approval": True},
            "scorer": {"delegates_added": ["score-sub"], "extended_without_approval": False},
        },
    }
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    print(f"{written} events, {len(bulk) + 7} grants, {a.days} days -> {a.out}")


if __name__ == "__main__":
    main()
