#!/usr/bin/env python3
"""Writes the lines of a benchmark workload (credential_id<TAB>json, as generate.py
makes them) to stdout at a steady RATE per second for SECONDS, for kcat -P to produce.
Each event's "ts" becomes the wall-clock millisecond it is written (its produce time)
and its event_id gets a "lat-" prefix, so an alert's latency is its Kafka timestamp
minus the last_seen it reports."""
import sys
import time

def main(path, rate, seconds):
    with open(path) as f:
        lines = [line.rstrip("\n").split("\t", 1) for line in f]
    tick = 0.01  # write in 10 ms slices: smooth at the scale of a 50 ms batch linger
    per_tick = rate * tick
    out = sys.stdout
    start = time.time()
    sent = 0
    i = 0
    while True:
        elapsed = time.time() - start
        if elapsed >= seconds:
            break
        due = int(per_tick * (elapsed / tick + 1))
        now_ms = int(time.time() * 1000)
        while sent < due:
            key, event = lines[i % len(lines)]
            # generate.py writes events as {"ts":N,"event_id":"bench-...",...}
            rest = event.split(",", 1)[1].replace('"event_id":"', f'"event_id":"lat-{i // len(lines)}-', 1)
            out.write(f'{key}\t{{"ts":{now_ms},{rest}\n')
            sent += 1
            i += 1
        out.flush()
        pause = start + (sent / rate) - time.time()
        if pause > 0:
            time.sleep(pause)
    print(f"paced {sent} events in {time.time() - start:.1f} s", file=sys.stderr)

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
