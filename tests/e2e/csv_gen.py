#!/usr/bin/python3
"""Tricky CSV files written by Python's csv module, and what a correct
reader must get from them (tests/e2e/csv.sh compares with pseudolink's
reader, base/csv.c, through tests/bin/test_csv_split --dump).

csv_gen.py DIR N SEED writes DIR/<i>.csv, DIR/<i>.args (delimiter,
encoding, header names for --dump) and DIR/<i>.want: one line per record,
"LINE<TAB>hex,hex,...", LINE the physical line the record starts on, each
field the hex of its UTF-8 bytes. Each file is read back with csv.reader to
check the generator itself."""
import csv
import io
import random
import sys

out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
UTF8 = ["a", "Z", "7", " ", ",", ";", "\t", '"', '""', "\n", "\r\n", "é",
        "€", "\U0001F600", "ß", "x y", "'"]
LATIN1 = ["a", "Z", "7", " ", ",", ";", "\t", '"', "\n", "\r\n", "é", "ÿ",
          "ñ", "×", "\u00a0"]
for i in range(n):
    enc = "latin-1" if rnd.random() < 0.3 else "utf-8"
    pieces = LATIN1 if enc == "latin-1" else UTF8
    ncols = rnd.randint(1, 6)
    delim = rnd.choice([",", ";", "\t"])
    term = rnd.choice(["\n", "\r\n"])
    quoting = rnd.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
    header = ["c%d" % j for j in range(ncols)]
    rows = []
    for _ in range(rnd.randint(0, 150)):
        rows.append(["".join(rnd.choice(pieces)
                             for _ in range(rnd.randint(0, 6)))
                     for _ in range(ncols)])
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delim, lineterminator=term,
                   quoting=quoting)
    w.writerow(header)
    want = []
    for r in rows:
        line = buf.getvalue().count("\n") + 1
        w.writerow(r)
        want.append("%d\t%s" % (line, ",".join(v.encode("utf-8").hex()
                                                for v in r)))
    text = buf.getvalue()
    if rows and rnd.random() < 0.3:
        text = text[: -len(term)]          # no final line terminator
    back = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
    assert back == [header] + rows, "generator: csv.reader disagrees"
    with open("%s/%d.csv" % (out, i), "wb") as f:
        f.write(text.encode(enc))
    shown = {",": ",", ";": ";", "\t": "tab"}[delim]
    if ncols > 1 and rnd.random() < 0.5:
        shown = "auto"
    with open("%s/%d.args" % (out, i), "w") as f:
        f.write(" ".join([shown, enc] + header) + "\n")
    with open("%s/%d.want" % (out, i), "w") as f:
        f.write("".join(x + "\n" for x in want))
