#!/usr/bin/env python3
"""Writes fuzz/corpus/state_server/: what an enclave sends on the helper's state port, as
state_server_fuzz reads it (frames of a 2-byte big-endian length and a packed
tmkms.nitro.Message, proto/nitro/host.proto, version 1). The target's state file starts at
100/0/prevote on chain fuzz-chain."""
import os

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def vfield(num, n):
    return varint(num << 3) + varint(n) if n else b""


def lfield(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def message(field, body):
    return vfield(1, 1) + lfield(field, body)


def load(chain="fuzz-chain"):
    return message(6, lfield(1, chain.encode()))


def persist(seq, height, rnd, step, sign_bytes=b"", signature=b""):
    st = vfield(1, height) + vfield(2, rnd) + vfield(3, step)
    st += (lfield(4, sign_bytes) if sign_bytes else b"") + (lfield(5, signature) if signature else b"")
    return message(8, vfield(1, seq) + lfield(2, st))


def frames(*msgs):
    return b"".join(len(m).to_bytes(2, "big") + m for m in msgs)


# A canonical precommit's sign bytes at 101/0 (the shape, not a real block).
sb = bytes.fromhex("6b0802110065000000000000001900000000000000002248" + "0a20" + "11" * 32 + "1224080112 20".replace(" ", "") +
                   "22" * 32 + "2a0b08f0e2cfaa0610c0843d" + "320a66757a7a2d636861696e")
seeds = {
    "load": frames(load()),
    "load-persists": frames(load(), persist(1, 101, 0, 1), persist(2, 101, 0, 2), persist(3, 101, 0, 3),
                            persist(4, 102, 0, 1)),
    "load-persist-signed": frames(load(), persist(1, 101, 0, 3, sb, bytes(range(64)))),
    "load-persist-below": frames(load(), persist(1, 99, 5, 3)),
    "load-persist-same-then-round": frames(load(), persist(1, 100, 0, 2), persist(2, 100, 1, 1)),
    "load-other-chain": frames(load("cosmoshub-4"), persist(1, 200, 0, 1)),
    "persist-without-load": frames(persist(1, 101, 0, 1)),
}
out = os.path.join(root, "fuzz", "corpus", "state_server")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
