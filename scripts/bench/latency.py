#!/usr/bin/env python3
"""Detection latency from an alert topic dump (kcat -f '%T\\t%s\\n'): for each alert's
first delivery, its Kafka timestamp minus the last_seen event time it reports (the
produce time pace.py wrote), for events produced at or after SINCE_MS. Prints
"count p50_ms p99_ms max_ms"."""
import json
import sys
from datetime import datetime

def ms(rfc3339):
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)

def main(path, since_ms):
    seen = set()
    latencies = []
    with open(path) as f:
        for line in f:
            stamp, _, payload = line.partition("\t")
            alert = json.loads(payload)
            if alert["alert_id"] in seen or not any(e.startswith("lat-") for e in alert["event_ids"]):
                continue
            seen.add(alert["alert_id"])
            produced = ms(alert["last_seen"])
            if produced >= since_ms:
                latencies.append(int(stamp) - produced)
    latencies.sort()
    if not latencies:
        print("0 - - -")
        return
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print(len(latencies), pick(0.50), pick(0.99), latencies[-1])

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
