#!/usr/bin/env bash
# TOML 1.0 conformance: every valid case of the toml-test suite decodes to its expected
# tagged JSON (compared structurally) and every invalid case is rejected.
# labels: toml
# timeout: 300
set -u
decoder="$TMKMS_BUILD_DIR/bin/toml-test-decoder"
suite="$TMKMS_SHARED_DIR/toml-test"
exec python3 - "$decoder" "$suite" <<'PY'
import json, math, os, re, subprocess, sys
decoder, suite = sys.argv[1], sys.argv[2]

def norm_dt(s):
    s = s.replace("t", "T").replace("z", "Z").replace(" ", "T")
    m = re.match(r"^(.*\d\d:\d\d:\d\d)(\.\d+)?(.*)$", s)
    if m and m.group(2):  # fractional seconds: compare as a number of digits-insensitive value
        frac = m.group(2).rstrip("0")
        s = m.group(1) + ("" if frac == "." else frac) + m.group(3)
    return s

def same(a, b):
    if isinstance(a, dict) and set(a) == {"type", "value"} and isinstance(a.get("value"), str) and isinstance(b, dict) and set(b) == {"type", "value"}:
        if a["type"] != b["type"]:
            return False
        t, x, y = a["type"], a["value"], b["value"]
        if t == "float":
            fx, fy = float(x.replace("inf", "inf")), float(y)
            return (math.isnan(fx) and math.isnan(fy)) or fx == fy
        if t in ("datetime", "datetime-local", "date-local", "time-local"):
            return norm_dt(x) == norm_dt(y)
        if t == "integer":
            return int(x) == int(y)
        return x == y
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b

passed = failed = 0
for kind in ("valid", "invalid"):
    for dirpath, _, files in sorted(os.walk(os.path.join(suite, kind))):
        for f in sorted(files):
            if not f.endswith(".toml"):
                continue
            path = os.path.join(dirpath, f)
            name = os.path.relpath(path, suite)
            with open(path, "rb") as fh:
                r = subprocess.run([decoder], stdin=fh, capture_output=True, timeout=10)
            ok = False
            if kind == "invalid":
                ok = r.returncode != 0
                why = "accepted invalid input"
            elif r.returncode != 0:
                why = "rejected: " + r.stderr.decode(errors="replace").strip()
            else:
                want = json.load(open(path[:-5] + ".json"))
                try:
                    got = json.loads(r.stdout)
                    ok = same(want, got)
                    why = "decoded differently: " + r.stdout.decode()[:300]
                except ValueError as e:
                    why = "bad JSON output: %s" % e
            if ok:
                passed += 1
            else:
                failed += 1
                print("FAIL %s: %s" % (name, why))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
