#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""An independent implementation of fl-mask's derivations (fl-mask(1),
DERIVATIONS), written from the man page, for the known-answer vectors.

It prints the same "name hex" lines as `unit --vectors`, from the same fixed
inputs, and tests/data/secagg-vectors.txt pins both: two implementations
that agree byte for byte.  Nothing here calls libfl.  BLAKE2b is Python's
own, ChaCha20, Poly1305, X25519 and Ed25519 are OpenSSL's (the
cryptography package), the ed25519 group and the arithmetic mod L are below; only the
crypto_box envelope (XSalsa20-Poly1305) comes from PyNaCl, i.e. libsodium.
"""
import hashlib
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.poly1305 import Poly1305
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
import nacl.bindings

L = 2**252 + 27742317777372353535851937790883648493
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def le32(v):
    return v.to_bytes(4, "little")


def le64(v):
    return v.to_bytes(8, "little")


def H(domain, data, key=b"", size=32):
    """BLAKE2b over the domain string, its NUL, then the data."""
    return hashlib.blake2b(domain.encode() + b"\0" + data, key=key,
                           digest_size=size).digest()


def chacha20(key, n, stream=0, block=0):
    """n bytes of the original ChaCha20 keystream (64-bit counter, 64-bit
    nonce = stream), as OpenSSL's 16-byte IV: counter then nonce."""
    c = Cipher(algorithms.ChaCha20(key, le64(block) + le64(stream)), None)
    return c.encryptor().update(bytes(n))


class Rng:
    """fl_rng: little-endian 64-bit words of a ChaCha20 keystream."""

    def __init__(self, key, stream=0):
        self.buf = chacha20(key, 4096 * 16, stream)
        self.pos = 0

    def bytes(self, n):
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def u64(self):
        return int.from_bytes(self.bytes(8), "little")

    def below(self, m):
        """Lemire: w * m, redrawn while the low word < 2^64 mod m."""
        p = self.u64() * m
        if p % 2**64 < m:
            while p % 2**64 < (2**64 - m) % m:
                p = self.u64() * m
        return p >> 64

    def scalar(self):
        return int.from_bytes(self.bytes(64), "little") % L


# ---- the ed25519 group, for the Feldman commitments ----
P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P


def ed_add(a, b):
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


def ed_mul(k, pt):
    acc, add = (0, 1), pt
    while k:
        if k & 1:
            acc = ed_add(acc, add)
        add = ed_add(add, add)
        k >>= 1
    return acc


def ed_encode(pt):
    x, y = pt
    return (y | (x & 1) << 255).to_bytes(32, "little")


BY = 4 * pow(5, P - 2, P) % P
BX2 = (BY * BY - 1) * pow(D * BY * BY + 1, P - 2, P) % P
BX = pow(BX2, (P + 3) // 8, P)
if (BX * BX - BX2) % P:
    BX = BX * pow(2, (P - 1) // 4, P) % P
if BX & 1:
    BX = P - BX
BASE = (BX, BY)


# ---- keys ----
def sign_keypair(seed):
    sk = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    return sk, sk.public_key().public_bytes(*RAW)


def x25519_pk(sk):
    return x25519.X25519PrivateKey.from_private_bytes(sk).public_key() \
        .public_bytes(*RAW)


def mask_keypair(seed):          # crypto_kx_seed_keypair
    sk = hashlib.blake2b(seed, digest_size=32).digest()
    return sk, x25519_pk(sk)


def box_keypair(seed):           # crypto_box_seed_keypair
    sk = hashlib.sha512(seed).digest()[:32]
    return sk, x25519_pk(sk)


def dh(sk, pk):
    return x25519.X25519PrivateKey.from_private_bytes(sk).exchange(
        x25519.X25519PublicKey.from_public_bytes(pk))


def inp(what, who, scalar=False):
    label = f"kat:{what}:{who}".encode()
    if scalar:
        wide = hashlib.blake2b(label, digest_size=64).digest()
        return (int.from_bytes(wide, "little") % L).to_bytes(32, "little")
    return hashlib.blake2b(label, digest_size=32).digest()


def main():
    out = []

    def put(name, v):
        out.append(f"{name} {v.hex()}")

    names = ["alice", "bob", "carol"]
    op_sk, op_pk = sign_keypair(inp("identity", "op"))
    put("identity.op.pk", op_pk)
    cl = {}
    for name in names:
        c = cl[name] = {}
        c["id_sk"], c["id_pk"] = sign_keypair(inp("identity", name))
        c["mask_seed"] = inp("mask-seed", name, True)
        c["self"] = inp("self", name, True)
        c["box_seed"] = inp("box-seed", name)
        c["mask_sk"], c["mask_pk"] = mask_keypair(c["mask_seed"])
        c["box_sk"], c["box_pk"] = box_keypair(c["box_seed"])
        c["commit"] = H("fl-mask commit v1", c["self"])
        digest = H("fl-mask keys v1", le64(7) + bytes([len(name)]) +
                   name.encode() + c["mask_pk"] + c["box_pk"] + c["commit"])
        put(f"identity.{name}.pk", c["id_pk"])
        put(f"mask.{name}.pk", c["mask_pk"])
        put(f"box.{name}.pk", c["box_pk"])
        put(f"commit.{name}", c["commit"])
        put(f"keys.{name}.sig", c["id_sk"].sign(digest))

    # The session of the roster: round 7, n = 3, k = 2, t = 2, C = 0.
    head = le64(7) + le32(3) + le32(2) + le32(2) + le32(0)
    for name in names:
        c = cl[name]
        head += bytes([len(name)]) + name.encode() + c["mask_pk"] + \
            c["box_pk"] + c["commit"] + c["id_pk"]
    session = H("fl-mask session v2", head)
    put("session", session)

    # The ring of 10 clients from the session: Fisher-Yates.
    rng = Rng(H("fl-mask graph v1", session))
    at = list(range(1, 11))
    for p in range(9, 0, -1):
        q = rng.below(p + 1)
        at[p], at[q] = at[q], at[p]
    put("graph.n10.k4.at", b"".join(le32(a) for a in at))

    a, b = cl["alice"], cl["bob"]
    put("pair.alice.bob", H("fl-mask pair v1", session + le32(1) + le32(2) +
                            dh(a["mask_sk"], b["mask_pk"])))
    self_seed = H("fl-mask self v1", session, key=a["self"])
    put("self.alice", self_seed)
    tkey = H("fl-mask tensor v1", le32(20) + le64(5) + b"w\0", key=self_seed)
    put("tensor.self.alice.w.20.5", tkey)
    ks = chacha20(tkey, 20)
    put("maskwords.self.alice.w.20.5", b"".join(
        le32(int.from_bytes(ks[4 * i:4 * i + 4], "little") % 2**20)
        for i in range(5)))

    # Alice's polynomials (t = 2: one coefficient each, mask key first),
    # shares at x = 1, 2, 3 and Feldman commitments a_j B.
    pkey = H("fl-mask poly v1", a["mask_seed"] + a["self"] + a["box_seed"] +
             session)
    put("poly.alice", pkey)
    rng = Rng(pkey)
    polys = {}
    for which in ("mask", "self"):
        secret = int.from_bytes(a["mask_seed" if which == "mask" else "self"],
                                "little")
        polys[which] = [secret, rng.scalar()]
    shares = {w: [(f[0] + f[1] * x) % L for x in (1, 2, 3)]
              for w, f in polys.items()}
    for x in range(3):
        put(f"share.alice.mask.{x + 1}", shares["mask"][x].to_bytes(32, "little"))
        put(f"share.alice.self.{x + 1}", shares["self"][x].to_bytes(32, "little"))
    for j in range(2):
        for w in ("mask", "self"):
            put(f"feldman.alice.{w}.{j}", ed_encode(ed_mul(polys[w][j], BASE)))
    nonce = hashlib.blake2b(b"fl-mask box v1\0" + session + le32(1) + le32(2),
                            digest_size=24).digest()
    plain = session + le32(1) + le32(2) + \
        shares["mask"][1].to_bytes(32, "little") + \
        shares["self"][1].to_bytes(32, "little")
    put("envelope.alice.bob", nacl.bindings.crypto_box(
        plain, nonce, b["box_pk"], a["box_sk"]))
    put("nonce.alice.bob", nonce)

    def set_hash(what, members):
        return hashlib.blake2b(what.encode() + b"\0" + session +
                               b"".join(le32(m) for m in members),
                               digest_size=32).digest()
    surv = set_hash("survivors", [1, 2, 3])
    put("set.survivors.1.2.3", surv)
    shared = set_hash("shared", [1, 2, 3])
    put("set.shared.1.2.3", shared)
    confirm = H("fl-mask confirm v1", session + surv)
    put("confirm.digest", confirm)
    put("confirm.alice.sig", a["id_sk"].sign(confirm))

    rows = b"".join(n.encode().ljust(64, b"\0") for n in sorted(names))
    pks = b"".join(cl[n]["id_pk"] for n in sorted(names))
    put("enrolment.sig", op_sk.sign(H("fl-mask enrolment v1", op_pk + le64(3) +
                                      rows + pks)))

    # The update masked: kind=update, modulus, round (sorted), w u32 [5].
    rec = b"".join(k + b"\0" + v + b"\0" for k, v in (
        (b"kind", b"update"), (b"modulus", b"1048576"), (b"round", b"7")))
    rec += b"w\0" + le32(7) + le32(1) + le64(5) + \
        b"".join(le32(i) for i in range(1, 6))
    mkey = H("fl-mask masked v2", a["mask_seed"] + a["self"] + a["box_seed"] +
             session + shared.hex().encode() + b"\0")
    tag = Poly1305.generate_tag(mkey, rec)
    put("masked.digest", H("fl-mask masked tag", tag, key=mkey))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
