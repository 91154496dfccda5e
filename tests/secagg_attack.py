#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The server's side of the attacks on secure aggregation: what a lying
server computes from the files it handles.

    secagg_attack.py TARGET MASKED [--roster R --reveals F]...

MASKED is TARGET's masked update.  Each (R, F) pair is a roster and the
reveals answered under it, from any session the server ran.  The tool
collects the shares revealed of TARGET's two secrets in every session,
rebuilds each secret from a threshold of shares of one session (checking
it against TARGET's commitment or public key in the masked update's
roster), and if it has both, strips every mask off MASKED and prints
TARGET's update, one "tensor: v1,v2,..." line per tensor (exit 0).
Otherwise it prints what it got and exits 1.  The derivations are those of
tests/secagg_kat.py (fl-mask(1), DERIVATIONS); nothing here calls libfl.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "examples", "python"))
import flt                                              # noqa: E402
import secagg_kat as kat                                # noqa: E402


def records(path):
    with open(path, "rb") as f:
        return [(dict(m), t) for m, t in flt.read_records(f)]


class Roster:
    def __init__(self, path):
        recs = records(path)
        head = recs[0][0]
        self.session = bytes.fromhex(head["secagg.session"])
        self.n, self.k, self.t = (int(head["secagg." + x]) for x in "nkt")
        self.ids = [m["client"] for m, _ in recs[1:]]
        self.pub = {m["client"]: t for m, t in recs[1:]}

    def number(self, cid):
        return self.ids.index(cid) + 1

    def neighbours(self, c):
        if self.k >= self.n - 1:
            return [v for v in range(1, self.n + 1) if v != c]
        rng = kat.Rng(kat.H("fl-mask graph v1", self.session))
        at = list(range(1, self.n + 1))
        for p in range(self.n - 1, 0, -1):
            q = rng.below(p + 1)
            at[p], at[q] = at[q], at[p]
        pos = at.index(c)
        return sorted({at[(pos + o) % self.n] for o in range(1, self.k // 2 + 1)} |
                      {at[(pos - o) % self.n] for o in range(1, self.k // 2 + 1)})


def combine(shares):
    """Lagrange interpolation at 0 mod L of [(x, y)]."""
    s = 0
    for i, (xi, yi) in enumerate(shares):
        num = den = 1
        for j, (xj, _) in enumerate(shares):
            if j != i:
                num = num * xj % kat.L
                den = den * (xj - xi) % kat.L
        s = (s + yi * num * pow(den, kat.L - 2, kat.L)) % kat.L
    return s.to_bytes(32, "little")


def main(argv):
    target, masked = argv[0], argv[1]
    pairs = list(zip(argv[3::4], argv[5::4]))
    (ym, yt), = records(masked)
    session = bytes.fromhex(ym["secagg.session"])
    rosters = [(Roster(r), f) for r, f in pairs]
    home = next(r for r, _ in rosters if r.session == session)
    pub = home.pub[target]
    got = {}
    for r, f in rosters:
        if target not in r.ids:
            continue
        me = r.number(target)
        self_sh, mask_sh = [], []
        for m, t in records(f):
            x = r.number(m["client"])
            for of, sh, into in (("self.of", "self.share", self_sh),
                                 ("mask.of", "mask.share", mask_sh)):
                for i, c in enumerate(t[of]):
                    if c == me:
                        into.append((x, int.from_bytes(bytes(t[sh][i]), "little")))
        if len(self_sh) >= r.t and "self" not in got:
            b = combine(self_sh[:r.t])
            if kat.H("fl-mask commit v1", b) == bytes(pub["pk.commit"]):
                got["self"] = b
        if len(mask_sh) >= r.t and "mask" not in got:
            s = combine(mask_sh[:r.t])
            if kat.mask_keypair(s)[1] == bytes(pub["pk.mask"]):
                got["mask"] = s
    if len(got) < 2:
        print("nothing: rebuilt " + (", ".join(sorted(got)) or "no secret") +
              f" of {target}")
        return 1
    # Every mask of the target's record, taken off.
    bits = int(ym["modulus"]).bit_length() - 1
    me = home.number(target)
    sk = kat.mask_keypair(got["mask"])[0]
    seeds = [(kat.H("fl-mask self v1", session, key=got["self"]), 1)]
    for v in home.neighbours(me):
        peer = bytes(home.pub[home.ids[v - 1]]["pk.mask"])
        a, b = min(me, v), max(me, v)
        seeds.append((kat.H("fl-mask pair v1", session + kat.le32(a) +
                            kat.le32(b) + kat.dh(sk, peer)), 1 if me < v else -1))
    for name, arr in yt.items():
        vals = [int(x) for x in arr.reshape(-1)]
        for seed, sign in seeds:
            tk = kat.H("fl-mask tensor v1", kat.le32(bits) + kat.le64(len(vals)) +
                       name.encode() + b"\0", key=seed)
            ks = kat.chacha20(tk, 4 * len(vals))
            for i in range(len(vals)):
                w = int.from_bytes(ks[4 * i:4 * i + 4], "little")
                vals[i] -= sign * w
        print(f"{name}: " + ",".join(str(v % 2**bits) for v in vals))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
