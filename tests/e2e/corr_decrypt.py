#!/usr/bin/python3
"""Independent decryption of a pseudolink correspondence file, written from
docs/CORRESPONDENCE.md only (h5py + python3-cryptography, no pseudolink
code): unwrap the key shares with the custodians' private keys (RSA-OAEP
SHA-256), combine them (Shamir over GF(2^8), polynomial 0x11B), check the
key, decrypt every shard (AES-256-GCM with the documented AAD).

usage: corr_decrypt.py CORR KEY.pem PASSFILE [KEY.pem PASSFILE ...]
prints one line per record: "<pid hex> <p1 hex> <birth rank>" (format
version 2: records of p1 (32) || rank (1) || pid (16))."""
import hashlib, hmac, struct, sys
import h5py
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def gf_mul(a, b):
    p = 0
    while b:
        if b & 1:
            p ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return p


def gf_inv(a):
    return next(b for b in range(1, 256) if gf_mul(a, b) == 1)


def combine(shares):  # {x: bytes}
    out = bytearray(len(next(iter(shares.values()))))
    for xi, yi in shares.items():
        num = den = 1
        for xj in shares:
            if xj != xi:
                num = gf_mul(num, xj)
                den = gf_mul(den, xj ^ xi)
        li = gf_mul(num, gf_inv(den))
        for b in range(len(out)):
            out[b] ^= gf_mul(li, yi[b])
    return bytes(out)


def main():
    corr, pairs = sys.argv[1], sys.argv[2:]
    f = h5py.File(corr, "r")
    run_id = f.attrs["run_id"]
    run_id = run_id if isinstance(run_id, bytes) else run_id.encode()
    c = f["custody"]
    t = int(c.attrs["threshold"])
    roles = [bytes(r).rstrip(b"\0") for r in c["roles"][:]]
    fprs = [bytes(x) for x in c["fingerprint"][:]]
    crole = [bytes(r).rstrip(b"\0") for r in c["role"][:]]
    wrapped = c["wrapped"][:].tobytes()
    woff, wlen = c["wrapped_offset"][:], c["wrapped_length"][:]
    shares = {}
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                        algorithm=hashes.SHA256(), label=None)
    for i in range(0, len(pairs), 2):
        pw = open(pairs[i + 1], "rb").read().splitlines()[0]
        key = serialization.load_pem_private_key(open(pairs[i], "rb").read(), pw)
        der = key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        j = fprs.index(hashlib.sha256(der).digest())
        plain = key.decrypt(wrapped[woff[j]:woff[j] + wlen[j]], oaep)
        x = plain[0]
        assert len(plain) == 33 and roles[x - 1] == crole[j]
        shares[x] = plain[1:]
    assert len(shares) >= t, "not enough distinct roles"
    data_key = combine(shares)
    check = hmac.new(data_key, b"pseudolink-key-check-v1" + run_id,
                     hashlib.sha256).digest()
    assert check == c["key_check"][:].tobytes(), "key check failed"
    s = f["shards"]
    ct = s["ciphertext"][:].tobytes()
    n = len(s["rank"])
    aes = AESGCM(data_key)
    for i in range(n):
        off, ln, nrec = int(s["offset"][i]), int(s["length"][i]), int(s["records"][i])
        aad = (b"pseudolink-corr-v1" + run_id +
               struct.pack(">IIQ", int(s["rank"][i]), n, nrec))
        pt = aes.decrypt(s["nonce"][i].tobytes(),
                         ct[off:off + ln] + s["tag"][i].tobytes(), aad)
        assert len(pt) == 49 * nrec
        for r in range(nrec):
            rec = pt[49 * r:49 * r + 49]
            print(rec[33:].hex(), rec[:32].hex(), rec[32])


main()
