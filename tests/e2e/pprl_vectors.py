#!/usr/bin/python3
"""Recompute pseudolink's Bloom-filter encodings from docs/PPRL.md alone,
with Python's standard library (hmac, hashlib, unicodedata):

  pprl_vectors.py DOC VECTORS TABLE

DOC      docs/PPRL.md: its "Test vectors" section is parsed and each vector
         recomputed here;
VECTORS  the output of `test_bloom --vectors` (the C encoder): every line
         recomputed here and compared, and the doc's vectors must be among
         them;
TABLE    the output of `test_bloom --normalise-table`: the C normalisation
         of U+0020..U+017F and a few more, compared with an independent
         implementation (Unicode NFD, combining marks dropped, a short list
         of letters without a decomposition).
Prints "ok - ..." / "not ok - ..." lines.
"""
import hashlib
import hmac
import re
import sys
import unicodedata

HKDF_SALT = b"pseudolink-pprl-v1"


def hkdf(secret, info, length=32):
    """RFC 5869 HKDF-SHA256."""
    prk = hmac.new(HKDF_SALT, secret, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


# Letters of U+00C0..U+017F that NFD does not reduce to ASCII letters.
SPECIAL = {
    "\u00c6": "ae", "\u00e6": "ae", "\u0152": "oe", "\u0153": "oe",
    "\u0132": "ij", "\u0133": "ij", "\u00df": "ss", "\u00de": "th",
    "\u00fe": "th", "\u00d0": "d", "\u00f0": "d", "\u0110": "d",
    "\u0111": "d", "\u00d8": "o", "\u00f8": "o", "\u0126": "h",
    "\u0127": "h", "\u0131": "i", "\u0138": "k", "\u013f": "l",
    "\u0140": "l", "\u0141": "l", "\u0142": "l", "\u0149": "n",
    "\u014a": "n", "\u014b": "n", "\u0166": "t", "\u0167": "t",
    "\u017f": "s", "\u00d7": "", "\u00f7": "",
}
REMOVED = {0xA0, 0x2BC, 0x2018, 0x2019} | set(range(0x2010, 0x2016))


def normalise(s):
    out = []
    for ch in s:
        cp = ord(ch)
        if cp < 0x80:
            if ch.isascii() and ch.isalnum():
                out.append(ch.lower())
        elif cp < 0xA0 or cp in REMOVED or 0x300 <= cp <= 0x36F:
            pass                # C1 controls, separators, combining marks
        elif 0xC0 <= cp <= 0x17F or 0x218 <= cp <= 0x21B:
            if ch in SPECIAL:
                out.append(SPECIAL[ch])
            else:
                base = "".join(c for c in unicodedata.normalize("NFD", ch)
                               if not unicodedata.combining(c))
                assert len(base) == 1 and base.isascii(), hex(cp)
                out.append(base.lower())
        else:
            out.append(ch)
    return "".join(out)


def qgrams(norm, q, pad):
    if not norm:
        return []
    cps = list(norm)
    if pad:
        cps = ["_"] * (q - 1) + cps + ["_"] * (q - 1)
    if len(cps) < q:
        return ["".join(cps)]
    return ["".join(cps[j:j + q]) for j in range(len(cps) - q + 1)]


def add_field(bits_set, m, secret, name, k, q, pad, value, salt):
    key = hkdf(secret, b"field:" + name.encode())
    for g in qgrams(normalise(value), q, pad):
        gb = g.encode()
        for i in range(k):
            if i % 16 == 0:
                tag = hmac.new(key, bytes([i // 16, len(gb)]) + gb + salt,
                               hashlib.sha256).digest()
            v = int.from_bytes(tag[2 * (i % 16):2 * (i % 16) + 2], "big")
            bits_set.add(v % m)


def permutation(secret, m):
    """Fisher-Yates over 0..2m-1, docs/PPRL.md "Balancing"."""
    key = hkdf(secret, b"balance:%d" % m)
    n = 2 * m
    perm = list(range(n))
    words, counter = [], 0

    def word():
        nonlocal counter, words
        if not words:
            blk = hmac.new(key, counter.to_bytes(4, "big"),
                           hashlib.sha256).digest()
            counter += 1
            words = [int.from_bytes(blk[4 * j:4 * j + 4], "big")
                     for j in range(8)]
        return words.pop(0)

    for i in range(n - 1, 0, -1):
        rng = i + 1
        limit = (1 << 32) // rng * rng
        while True:
            r = word()
            if r < limit:
                break
        j = r % rng
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def encode(secret, m, flags, salt, fields):
    pos = set()
    for name, k, q, pad, value in fields:
        add_field(pos, m, secret, name, k, q, pad, value, salt)
    b = [1 if p in pos else 0 for p in range(m)]
    if flags & 1:                                   # XOR-folding
        h = m // 2
        b = [b[i] ^ b[i + h] for i in range(h)]
    if flags & 2:                                   # balancing
        w = len(b)
        c = b + [1 - x for x in b]
        perm = permutation(secret, w)
        b = [c[perm[i]] for i in range(2 * w)]
    out = bytearray(len(b) // 8)
    for p, x in enumerate(b):
        if x:
            out[p // 8] |= 1 << (p % 8)
    return out.hex()


def parse_line(line):
    """`vector N secret=.. bits=.. flags=.. salt=.. field=name,k,q,pad,hex
    [field=...] filter=..` -> dict"""
    toks = line.split()
    d = {"fields": []}
    for t in toks[2:]:
        key, val = t.split("=", 1)
        if key == "field":
            name, k, q, pad, value = val.split(",")
            d["fields"].append((name, int(k), int(q), int(pad),
                                "" if value == "-" else
                                bytes.fromhex(value).decode("utf-8")))
        else:
            d[key] = val
    d["secret"] = bytes.fromhex(d["secret"])
    d["salt"] = b"" if d["salt"] == "-" else bytes.fromhex(d["salt"])
    return d


results = []


def check(cond, msg):
    results.append(bool(cond))
    print(("ok - " if cond else "not ok - ") + msg)


def main():
    doc, vec_file, table_file = sys.argv[1:4]
    c_lines = [l.strip() for l in open(vec_file) if l.startswith("vector ")]
    ids = [l.split() for l in open(vec_file) if l.startswith("secret-id ")]
    check(len(ids) == 1 and
          hkdf(bytes.fromhex(ids[0][1].split("=")[1]), b"secret-id")[:16].hex()
          == ids[0][2].split("=")[1],
          "secret identifier = first 16 bytes of HKDF(secret, 'secret-id')")
    check(len(c_lines) >= 8, "test_bloom --vectors printed %d vectors" % len(c_lines))
    for line in c_lines:
        d = parse_line(line)
        got = encode(d["secret"], int(d["bits"]), int(d["flags"]), d["salt"],
                     d["fields"])
        check(got == d["filter"],
              "C encoder = Python from the doc: %s (%s bits, flags %s, %d field(s))"
              % (line.split()[1], d["bits"], d["flags"], len(d["fields"])))
    text = open(doc, encoding="utf-8").read()
    sec = text.split("## Test vectors", 1)
    check(len(sec) == 2, "docs/PPRL.md has a 'Test vectors' section")
    doc_lines = [l.strip().strip("`") for l in sec[1].splitlines()
                 if l.strip().strip("`").startswith("vector ")] if len(sec) == 2 else []
    check(len(doc_lines) >= 3, "the doc lists %d test vectors" % len(doc_lines))
    for line in doc_lines:
        d = parse_line(line)
        got = encode(d["secret"], int(d["bits"]), int(d["flags"]), d["salt"],
                     d["fields"])
        check(got == d["filter"] and line in c_lines,
              "doc vector %s recomputed from the doc and equal to the C encoder's"
              % line.split()[1])
    bad = []
    n = 0
    for line in open(table_file):
        cp_hex, out_hex = line.split()
        cp = int(cp_hex, 16)
        want = normalise(chr(cp)).encode()
        got = b"" if out_hex == "-" else bytes.fromhex(out_hex)
        n += 1
        if want != got:
            bad.append("U+%04X: C %r, doc %r" % (cp, got, want))
    check(n > 300 and not bad,
          "normalisation of %d code points equals the doc's rule (NFD, marks "
          "dropped, special letters)%s" % (n, ("; " + "; ".join(bad[:5])) if bad else ""))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
