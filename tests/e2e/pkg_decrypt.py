#!/usr/bin/python3
"""Independent verification and decryption of a pseudolink transfer package,
written from docs/PACKAGE.md only (h5py + python3-cryptography, no
pseudolink code): verify the Ed25519 signature of the manifest with the
producer's public key, parse the manifest, check every block's digest,
unwrap the data key with the platform's X25519 private key (HKDF-SHA256,
AES-256-GCM) and decrypt every block (AES-256-GCM with the documented nonce
and AAD).

usage: pkg_decrypt.py PACKAGE SIGNING.pub.pem TRANSPORT.key.pem PASSFILE
prints "source <name> <rows>" then one line per row:
"<source> <row> <p1 hex> <column>=<value hex> ..." (p1 hex is "-" in a
source without identity, which has no p1 column; an encoded column, b<N>,
is preceded by an "encoding <source> <column> ..." line with its manifest
parameters); exit 1 on any failure."""
import hashlib, struct, sys
import h5py
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SIZES = {"p1": 32, "i8": 1, "i16": 2, "i32": 4, "i64": 8, "u8": 1, "u16": 2,
         "u32": 4, "u64": 8, "f32": 4, "f64": 8}


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def fpr(pub):
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def size_of(t):
    return SIZES[t] if t in SIZES else int(t[1:])


def main():
    path, signpub, tkey, tpass = sys.argv[1:5]
    f = h5py.File(path, "r")
    if f.attrs["format"] not in (b"pseudolink-package 1", "pseudolink-package 1"):
        fail("format attribute")
    manifest = f["manifest"][:].tobytes()
    sig = f["signature"][:].tobytes()
    spub = serialization.load_pem_public_key(open(signpub, "rb").read())
    try:
        spub.verify(sig, manifest)
    except Exception:
        fail("signature does not verify")
    lines = manifest.decode("ascii").split("\n")
    if lines[-1] != "":
        fail("manifest does not end with a newline")
    it = iter(lines[:-1])

    def field(key):
        k, v = next(it).split(" ", 1)
        if k != key:
            fail("expected " + key)
        return v
    if next(it) != "pseudolink-package 1":
        fail("first line")
    pid = bytes.fromhex(field("id"))
    kind = field("kind")
    producer = field("producer")
    field("created")
    if field("signer") != fpr(spub):
        fail("signer fingerprint is not the given key's")
    transport = field("transport")
    wrap = bytes.fromhex(field("wrap"))
    block_rows = int(field("block_rows"))
    nsrc = int(field("sources"))
    tpriv = serialization.load_pem_private_key(
        open(tkey, "rb").read(), open(tpass, "rb").read().split(b"\n")[0])
    tpub_raw = tpriv.public_key().public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw)
    if transport != fpr(tpriv.public_key()):
        fail("wrapped for another transport key")
    eph, nonce, ct = wrap[:32], wrap[32:44], wrap[44:]
    shared = tpriv.exchange(X25519PublicKey.from_public_bytes(eph))
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=eph + tpub_raw,
               info=b"pseudolink package v1 key wrap" + pid).derive(shared)
    key = AESGCM(kek).decrypt(nonce, ct, pid)
    print("package %s kind %s producer %s" % (pid.hex(), kind, producer))
    for si in range(nsrc):
        head = next(it).split(" ")
        if head[0] != "source" or head[2] != "rows" or head[4] != "blocks":
            fail("source line")
        name, rows, nblk, ncol = head[1], int(head[3]), int(head[5]), int(head[7])
        cols = []
        for c in range(ncol):
            kw, cname, ctype = next(it).split(" ")
            cols.append((cname, ctype, size_of(ctype)))
        # p1 first; a data package's source without identity has none
        has_p1 = cols[0] == ("p1", "p1", 32)
        if any(t == "p1" or n == "p1" for n, t, _ in cols[1:]) or \
                (not has_p1 and (kind != "data" or cols[0][0] == "p1")):
            fail("first column is not p1")
        # one encoding (and its field lines) per b<N> column, in column order
        for cname, ctype, sz in cols:
            if not ctype.startswith("b"):
                continue
            e = next(it).split(" ")
            if len(e) != 18 or e[0] != "encoding" or e[1] != cname or e[2::2] != \
                    ["version", "bits", "q", "pad", "harden", "salt", "secret_id", "fields"]:
                fail("encoding line of " + cname)
            bits, harden, nf = int(e[5]), e[11], int(e[17])
            out = bits // (2 if "xor_fold" in harden else 1) * (2 if "balance" in harden else 1)
            if out != sz * 8 or harden not in ("none", "xor_fold", "balance", "xor_fold+balance"):
                fail("width of encoding " + cname)
            fields = []
            for _ in range(nf):
                kw, fname, k = next(it).split(" ")
                if kw != "field":
                    fail("field line")
                fields.append("%s:%s" % (fname, k))
            print("encoding %s %s bits=%d sent=%d q=%s harden=%s salt=%s secret_id=%s fields=%s"
                  % (name, cname, bits, out, e[7], harden, e[13], e[15], ",".join(fields)))
        plain = [bytearray() for _ in cols]
        first_expected = 0
        for k in range(nblk):
            kw, kk, first, n = next(it).split(" ")
            kk, first, n = int(kk), int(first), int(n)
            if kw != "block" or kk != k or first != first_expected or not 0 < n <= block_rows:
                fail("block line")
            first_expected += n
            for c, (cname, ctype, sz) in enumerate(cols):
                kw, cc, kk2, dig = next(it).split(" ")
                if kw != "digest" or int(cc) != c or int(kk2) != k:
                    fail("digest line")
                data = f["sources/%s/%s" % (name, cname)]
                blk = data[first * sz:(first + n) * sz].tobytes()
                tag = f["tags/%s/%s" % (name, cname)][k].tobytes()
                if hashlib.sha256(blk + tag).hexdigest() != dig:
                    fail("digest of %s/%s block %d" % (name, cname, k))
                nonce = struct.pack(">III", si, c, k)
                aad = pid + name.encode() + b"\0" + cname.encode() + b"\0" + struct.pack(">Q", k)
                plain[c] += AESGCM(key).decrypt(nonce, blk + tag, aad)
        if first_expected != rows:
            fail("blocks do not cover the rows")
        print("source %s %d" % (name, rows))
        for r in range(rows):
            vals = " ".join("%s=%s" % (cname, plain[c][r * sz:(r + 1) * sz].hex())
                            for c, (cname, ctype, sz) in enumerate(cols)
                            if c or not has_p1)
            print("%s %d %s %s" % (name, r, plain[0][r * 32:(r + 1) * 32].hex()
                                   if has_p1 else "-", vals))
    if next(it) != "end":
        fail("end line")


main()
