#!/usr/bin/env python3
"""Generates a benchmark workload: GRANTS grants and EVENTS partner actions (about
450 bytes each, about 2% out of purpose), as grants.yaml and events.tsv
(credential_id<TAB>json, the form kcat -K'\t' produces)."""
import json
import random
import sys

def main(out_dir, events, grants):
    rnd = random.Random(42)
    with open(f"{out_dir}/grants.yaml", "w") as f:
        for g in range(grants):
            f.write(f"""- id: grant-{g:05d}
  partner: partner-{g % 500:03d}
  owner: owner-{g % 97}@bank.example
  approved_by: approver-{g % 13}@bank.example
  approved_at: 2026-05-20T00:00:00Z
  purpose: Initiate payouts and read their status for partner {g % 500}
  credentials: [cli_{g:05d}]
  valid_from: 2026-06-01T00:00:00Z
  expires_at: 2027-05-01T00:00:00Z
  environments: [prod]
  delegates: [subproc-{g % 50:02d}]
  scopes:
    - action: "POST /v1/payouts"
      data_classes: [pii.basic, financial.account]
      max_amount: 50000
      currencies: [EUR, GBP]
    - action: "GET /v1/payouts/*"
    - action: "GET /v1/accounts/*/transactions"
""")
    base = 1796000000000  # 2026-11-29, inside every grant's validity
    with open(f"{out_dir}/events.tsv", "w") as f:
        for i in range(events):
            g = rnd.randrange(grants)
            roll = rnd.random()
            if roll < 0.02:
                action = "POST /v1/refunds"
            elif roll < 0.5:
                action = "POST /v1/payouts"
            elif roll < 0.8:
                action = f"GET /v1/payouts/p_{rnd.randrange(10**8)}"
            else:
                action = f"GET /v1/accounts/acc_{rnd.randrange(10**6)}/transactions"
            event = {
                "ts": base + i,
                "event_id": f"bench-{i:09d}",
                "credential_id": f"cli_{g:05d}",
                "action": action,
                "partner": f"partner-{g % 500:03d}",
                "actor": f"partner-{g % 500:03d}",
                "key_id": f"key_{g:05d}_2026q4",
                "resource": f"payout/p_{rnd.randrange(10**8)}",
                "environment": "prod",
                "data_classes": ["pii.basic"],
                "amount": round(rnd.uniform(10, 40000), 2),
                "currency": "EUR",
                "outcome": "success",
                "source_ip": f"203.0.113.{rnd.randrange(256)}",
                "user_agent": "partner-sdk/2.3.1 (linux; x86_64)",
                "request_id": f"req-{rnd.getrandbits(64):016x}",
            }
            f.write(f"cli_{g:05d}\t{json.dumps(event, separators=(',', ':'))}\n")

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
