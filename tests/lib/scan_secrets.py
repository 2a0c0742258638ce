#!/usr/bin/env python3
"""Where does a secret live in a running process's memory?

Reads every readable mapping of a process through /proc/PID/mem (needs root or
CAP_SYS_PTRACE: the programs are not dumpable) and reports each place a secret occurs,
with the mapping and whether the kernel holds that mapping locked (smaps "Locked", i.e.
mlock'd as sodium_malloc does). Used by tests/integration/memory_secrets.sh.

  scan_secrets.py PID [--seed B64|--seed-hex HEX]... [--pubkey B64]...

--seed: a known ed25519 seed (32 bytes); the scan also looks for what signing derives
  from it (the SHA-512 expansion's scalar, clamped or not, and its nonce prefix).
--pubkey: an ed25519 public key whose seed is unknown (generated inside the process):
  the scan first looks for the seed in the locked mappings (every 32-byte window whose
  public key matches) and then everywhere as with --seed; it fails if no window matches.
--allow-unlocked N: tolerate N occurrences outside locked memory (default 0).
--absent: the process must not hold the key at all, not even in locked memory (the
  Nitro helper, which only ever sees the sealed key).
--write-seeds FILE: write the seeds found for --pubkey, hex, one per line (for a later
  --absent scan of another process).
--locked-only: read only the locked mappings: enough to find a --pubkey seed (which is
  looked for there), and possible in a program built with ASan, whose shadow mappings
  are too large to read; copies elsewhere go unseen (log_secrets.sh only wants the seed).
  When nothing is locked (ASan's mlock does nothing), the mappings of at most 1 MiB are
  read and taken as locked: sodium_malloc's pages are mappings of their own.
--signing: the process may be in the middle of a signature, whose transient copies
  (libsodium keeps the seed's SHA-512 expansion on the signing thread's stack until the
  signature is made, then wipes it) a pass can catch: up to 5 passes, and the scan fails
  only if every pass finds a copy outside locked memory. A left-behind copy is in all.

Prints one line per finding and a summary; exits 0 when every occurrence is in locked
memory, 1 otherwise, 2 on a usage or access error.
"""
import argparse
import base64
import hashlib
import re
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SIGNING_PASSES = 5

MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$")


class Mapping:
    def __init__(self, start, end, perms, name):
        self.start, self.end, self.perms, self.name = start, end, perms, name or "[anon]"
        self.locked_kb = 0

    def readable(self):
        return self.perms[0] == "r" and self.name not in ("[vvar]", "[vsyscall]", "[vvar_vclock]")

    def __str__(self):
        lock = "locked" if self.locked_kb else "NOT locked"
        return f"{self.start:x}-{self.end:x} {self.perms} {self.name} ({lock})"


def read_mappings(pid):
    maps = []
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = MAPS_LINE.match(line)
            if m:
                maps.append(Mapping(int(m[1], 16), int(m[2], 16), m[3], m[4].strip()))
            elif line.startswith("Locked:") and maps:
                maps[-1].locked_kb = int(line.split()[1])
    return maps


def read_memory(pid, maps, locked_only=False):
    """(mapping, bytes) for every mapping we can read; unreadable ones are skipped."""
    out = []
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for mp in maps:
            if not mp.readable() or (locked_only and not mp.locked_kb):
                continue
            try:
                mem.seek(mp.start)
                out.append((mp, mem.read(mp.end - mp.start)))
            except OSError:
                continue
    return out


def public_key(seed):
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def find_seed_for(pubkey, regions):
    """Every 32-byte window of the locked mappings whose ed25519 public key is pubkey.
    libsodium keeps seed || public key, so a seed is followed by its public key: look
    there first, then try every window that is not mostly zero."""
    for mp, data in regions:
        if not mp.locked_kb:
            continue
        for m in re.finditer(re.escape(pubkey), data):
            if m.start() >= 32 and public_key(data[m.start() - 32 : m.start()]) == pubkey:
                return data[m.start() - 32 : m.start()]
    for mp, data in regions:
        if not mp.locked_kb:
            continue
        for off in range(0, len(data) - 31):
            window = data[off : off + 32]
            if window.count(0) > 6:
                continue
            if public_key(window) == pubkey:
                return window
    return None


def derived(seed):
    """What ed25519 signing computes from the seed: SHA-512(seed) = scalar || prefix."""
    h = hashlib.sha512(seed).digest()
    scalar = bytearray(h[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    return {"seed": seed, "expanded scalar": h[:32], "clamped scalar": bytes(scalar), "nonce prefix": h[32:]}


def scan(secrets, regions):
    """{name: [(mapping, address)]} for every occurrence of every secret."""
    found = {}
    for name, value in secrets.items():
        hits = []
        for mp, data in regions:
            for m in re.finditer(re.escape(value), data):
                hits.append((mp, mp.start + m.start()))
        found[name] = hits
    return found


def scan_once(a, seeds):
    """One pass over the process's memory: (seeds found for --pubkey, unlocked count,
    present count), printing what it finds; raises OSError when memory cannot be read."""
    maps = read_mappings(a.pid)
    if a.locked_only and not any(mp.locked_kb for mp in maps):
        for mp in maps:
            mp.locked_kb = 1 if mp.end - mp.start <= 1 << 20 else 0
    regions = read_memory(a.pid, maps, a.locked_only)
    total = sum(len(d) for _, d in regions)
    locked = sum(len(d) for mp, d in regions if mp.locked_kb)
    print(f"{a.label}: read {total} bytes in {len(regions)} mappings, {locked} bytes locked")
    found = []
    for pk_b64 in a.pubkey:
        pk = base64.b64decode(pk_b64)
        seed = find_seed_for(pk, regions)
        if seed is None:
            print(f"{a.label}: no seed for public key {pk_b64} in locked memory")
            return None, 0, 0
        print(f"{a.label}: found the seed of {pk_b64} in locked memory")
        found.append(seed)
    unlocked = present = 0
    for i, seed in enumerate(seeds + found):
        for name, hits in scan({f"key {i} {k}": v for k, v in derived(seed).items()}, regions).items():
            in_locked = sum(1 for mp, _ in hits if mp.locked_kb)
            print(f"{a.label}: {name}: {len(hits)} occurrence(s), {in_locked} in locked memory")
            present += len(hits)
            for mp, addr in hits:
                if not mp.locked_kb:
                    unlocked += 1
                    print(f"{a.label}:   at {addr:x} in {mp}")
    return found, unlocked, present


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pid", type=int)
    ap.add_argument("--seed", action="append", default=[], help="a known seed, base64")
    ap.add_argument("--seed-hex", action="append", default=[], help="a known seed, hex")
    ap.add_argument("--pubkey", action="append", default=[], help="a public key, base64, whose seed to find")
    ap.add_argument("--label", default="process")
    ap.add_argument("--allow-unlocked", type=int, default=0)
    ap.add_argument("--absent", action="store_true")
    ap.add_argument("--write-seeds")
    ap.add_argument("--signing", action="store_true")
    ap.add_argument("--locked-only", action="store_true")
    a = ap.parse_args()
    seeds = [base64.b64decode(s)[:32] for s in a.seed] + [bytes.fromhex(s) for s in a.seed_hex]
    if not seeds and not a.pubkey:
        print("nothing to look for: give --seed, --seed-hex or --pubkey", file=sys.stderr)
        return 2
    # A signature in progress holds transient copies on its thread's stack: a copy that
    # is really left behind is there in every pass, a transient one is not.
    passes = SIGNING_PASSES if a.signing else 1
    for n in range(1, passes + 1):
        try:
            found, unlocked, present = scan_once(a, seeds)
        except OSError as e:
            print(f"{a.label}: cannot read the memory of pid {a.pid}: {e}", file=sys.stderr)
            return 2
        if found is None:
            print(f"{a.label}: FAIL the key is not in locked memory")
            return 1
        if a.absent or unlocked <= a.allow_unlocked:
            break
        if n < passes:
            print(f"{a.label}: pass {n}: {unlocked} copies outside locked memory; again (a signature in progress?)")
    if a.write_seeds:
        with open(a.write_seeds, "a") as f:
            for seed in found:
                f.write(seed.hex() + "\n")
    if a.absent:
        if present:
            print(f"{a.label}: FAIL {present} occurrence(s) of key material in a process that must not hold it")
            return 1
        print(f"{a.label}: no key material anywhere in its memory")
        return 0
    if unlocked > a.allow_unlocked:
        print(f"{a.label}: FAIL {unlocked} occurrence(s) of key material outside locked memory in {passes} pass(es)")
        return 1
    print(f"{a.label}: every occurrence of key material is in locked memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
