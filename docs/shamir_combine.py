#!/usr/bin/python3
"""Open a pseudolink correspondence table without pseudolink (reference
script of docs/CORRESPONDENCE.md, appendix "Offline opening").

Reads the custodians' unwrapped key shares from standard input, combines
them (Shamir over GF(2^8), polynomial 0x11B, Lagrange at x = 0, as
src/crypto/shamir.c), checks the data key against /custody/key_check,
decrypts the shards (AES-256-GCM, format version 2: 49-byte records
p1 || rank || pid) and prints "pid<TAB>p1<TAB>birth_rank": a header, then
one row per key of each requested pid (every record when no pid is
given), a pid's keys in key order, birth_rank empty for a key without one. Shares and
key stay in this process's memory; nothing is written to disk. An offline
opening leaves no audit line (see the appendix).

usage: shamir_combine.py CORR [PID ...] < SHARES
SHARES: the 33-byte plaintexts `x || share` as `openssl pkeyutl -decrypt`
writes them, back to back; or one share per line as 66 hex digits."""
import hashlib, hmac, re, struct, sys
import h5py
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def die(msg):
    sys.exit("shamir_combine: " + msg)


def gf_mul(a, b):                       # GF(2^8) mod x^8+x^4+x^3+x+1
    p = 0
    for _ in range(8):
        if b & 1:
            p ^= a
        a = ((a << 1) ^ (0x1B if a & 0x80 else 0)) & 0xFF
        b >>= 1
    return p


def gf_inv(a):                          # a^254 = a^-1
    r = 1
    for _ in range(254):
        r = gf_mul(r, a)
    return r


def combine(shares):                    # {x: 32 bytes} -> f(0)
    key = bytearray(32)
    for xi, yi in shares.items():
        num = den = 1
        for xj in shares:
            if xj != xi:
                num, den = gf_mul(num, xj), gf_mul(den, xj ^ xi)
        li = gf_mul(num, gf_inv(den))
        for b in range(32):
            key[b] ^= gf_mul(li, yi[b])
    return bytes(key)


def read_shares(data, n_roles):
    if re.fullmatch(rb"[0-9a-fA-F\s]+", data):
        words = data.split()
        if any(len(w) % 2 for w in words):
            die("standard input: a share in hex must be 66 hex digits")
        recs = [bytes.fromhex(w.decode()) for w in words]
    elif len(data) % 33 == 0:
        recs = [data[i:i + 33] for i in range(0, len(data), 33)]
    else:
        die("standard input: %d bytes are not whole 33-byte shares" % len(data))
    shares = {}
    for n, r in enumerate(recs, 1):
        if len(r) != 33 or not 1 <= r[0] <= n_roles:
            die("share %d: expected x (1..%d) and 32 bytes" % (n, n_roles))
        if shares.setdefault(r[0], r[1:]) != r[1:]:
            die("share %d: a different share for the same role (x = %d)" % (n, r[0]))
    return shares


def main():
    if len(sys.argv) < 2:
        die("usage: shamir_combine.py CORR [PID ...] < SHARES")
    want = list(dict.fromkeys(p.lower() for p in sys.argv[2:]))
    for p in want:
        if not re.fullmatch(r"[0-9a-f]{32}", p):
            die("expected pids of 32 hex digits as arguments")
    try:
        f = h5py.File(sys.argv[1], "r")
        run_id = f.attrs["run_id"]
        run_id = run_id if isinstance(run_id, bytes) else run_id.encode()
        version = int(f.attrs["version"])
        c = f["custody"]
        t, n_roles = int(c.attrs["threshold"]), len(c["roles"])
    except (OSError, KeyError) as e:    # the message names no secret
        die("%s: not a readable correspondence file (%s)" % (sys.argv[1], e))
    if version != 2:
        die("%s: format version %d, this script reads version 2"
            % (sys.argv[1], version))
    shares = read_shares(sys.stdin.buffer.read(), n_roles)
    if len(shares) < t:
        die("%d share(s) of distinct roles, %d needed" % (len(shares), t))
    key = combine(shares)
    check = hmac.new(key, b"pseudolink-key-check-v1" + run_id, hashlib.sha256)
    if not hmac.compare_digest(check.digest(), c["key_check"][:].tobytes()):
        die("key check failed: these are not shares of this table's key")
    s, aes, table = f["shards"], AESGCM(key), {}
    ct, n = s["ciphertext"][:].tobytes(), len(s["rank"])
    for i in range(n):
        off, ln, nrec = (int(s[k][i]) for k in ("offset", "length", "records"))
        aad = b"pseudolink-corr-v1" + run_id + struct.pack(
            ">IIQ", int(s["rank"][i]), n, nrec)
        try:
            pt = aes.decrypt(s["nonce"][i].tobytes(),
                             ct[off:off + ln] + s["tag"][i].tobytes(), aad)
        except InvalidTag:
            die("shard %d: authentication failed (the file was altered)" % i)
        for r in range(0, 49 * nrec, 49):
            table.setdefault(pt[r + 33:r + 49].hex(), []).append(pt[r:r + 33])
    print("pid\tp1\tbirth_rank")
    for p in want or table:
        for k in sorted(table.get(p, ())):
            print(p + "\t" + k[:32].hex() + "\t" + (str(k[32]) if k[32] else ""))
    missing = [p for p in want if p not in table]
    for p in missing:
        print("shamir_combine: pid %s is not in this table" % p, file=sys.stderr)
    sys.exit(1 if missing else 0)


main()
