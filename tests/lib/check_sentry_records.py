#!/usr/bin/env python3
"""Check sentry records (one "height round type block signature" line per signature a
sentry received) for double signs: no height/round/type may carry two different blocks or
signatures across all files, and every file must hold at least one signature.
Usage: check_sentry_records.py RECORD... ; exit 0 when both hold."""
import sys

seen, per_file, conflicts = {}, [], 0
for path in sys.argv[1:]:
    n = 0
    for line in open(path):
        h, r, t, block, sig = line.split()
        key = (int(h), int(r), int(t))
        n += 1
        if key in seen and seen[key] != (block, sig):
            print("DOUBLE SIGN at height %s round %s type %s: %s vs %s" % (h, r, t, seen[key], (block, sig)))
            conflicts += 1
        seen.setdefault(key, (block, sig))
    per_file.append(n)
print("signatures received per record: %s; distinct height/round/type signed: %d; conflicts: %d"
      % (per_file, len(seen), conflicts))
sys.exit(1 if conflicts or not per_file or min(per_file) == 0 else 0)
