#!/usr/bin/python3
"""The CSV export of producer `atih` (inputs/atih_stays.csv, read by
jobs/producer_atih.yaml): the rows of laptop.h5's /sources/hospital_stays,
in order, with the same identity and payload values, written as a hospital
information system would: ISO-8859-1, ';' delimiter, CRLF line ends, a
header row, DD/MM/YYYY birth dates and YYYY-MM-DD stay dates, the patient's
name (NOM, declared `skip`: read, never sent) and the care unit (UNITE,
sent: accented, quoted when it holds ';' or '"', a few over two lines).

A birth date the store holds that is not a real date is written as it is
(e.g. 31/02/1985): the CSV column is `invalid: reject`, so the row gets the
store's reject code. Deterministic: the same laptop.h5 gives the same bytes.

usage: gen_atih_csv.py inputs/laptop.h5 inputs/atih_stays.csv [REPEAT]
(REPEAT > 1: the rows REPEAT times over, a large file for bench/.)
"""
import sys

import h5py

UNITS = [
    "Cardiologie", "Néphrologie", "Médecine interne", "Urgences; UHCD",
    "Pôle \"mère-enfant\"", "Gériatrie", "Réanimation\nchirurgicale",
    "Oncologie (hôpital de jour)", "Chirurgie orthopédique",
    "Unité de soins intensifs", "Pédiatrie", "Hépato-gastro-entérologie",
]
SURNAMES = ["Lefèvre", "Müller", "Gérard", "Dupont", "Bénard", "Noël",
            "Lemaître", "Perrin", "Chloé Àlvarez", "Séverine", "Rousseau",
            "Faure"]


def quote(s):
    if any(c in s for c in ';"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def date_dmy(v):
    v = int(v)
    return "%02d/%02d/%04d" % (v % 100, v // 100 % 100, v // 10000)


def date_iso(v):
    v = int(v)
    return "%04d-%02d-%02d" % (v // 10000, v // 100 % 100, v % 100)


def main():
    g = h5py.File(sys.argv[1], "r")["sources/hospital_stays"]
    nir, bd, sex, rank = (g[k][:] for k in ("nir", "birth_date", "sex",
                                            "birth_rank"))
    stay, diag, los = (g[k][:] for k in ("stay_date", "diagnosis", "los"))
    out = ["NIR;DATE_NAISS;SEXE;RANG_NAISS;NOM;DATE_SEJOUR;DIAG;DUREE;UNITE"]
    rows = []
    for i in range(len(nir)):
        n = bytes(nir[i]).rstrip(b"\0").decode("latin-1")
        rows.append(";".join([
            quote(n), date_dmy(bd[i]), str(int(sex[i])), str(int(rank[i])),
            quote(SURNAMES[(i * 7) % len(SURNAMES)]), date_iso(stay[i]),
            quote(bytes(diag[i]).rstrip(b"\0").decode("ascii")),
            str(int(los[i])), quote(UNITS[(i * 5) % len(UNITS)])]))
    body = ("\r\n".join(rows) + "\r\n").encode("latin-1")
    with open(sys.argv[2], "wb") as f:
        f.write((out[0] + "\r\n").encode("latin-1"))
        for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 1):
            f.write(body)


main()
