#!/usr/bin/env python3
"""Generates src/nfc_tables.inc: the Unicode data beop's NFC normalizer (src/nfc.cpp) needs.

  kNfcCcc          canonical combining class (ccc) of every non-decomposable non-starter, as ranges
  kNfcDecomp(Pool) full canonical decomposition of every character that has one (Hangul syllables excluded:
                   they are algorithmic)
  kNfcCompose      primary composites: (first, second) -> composite, composition exclusions left out
  kNfcQcNo         NFC_Quick_Check=No: characters that never survive NFC (exclusions, singletons such as
                   U+212B ANGSTROM SIGN, non-starter decompositions)

The parity target is HF `tokenizers`' NFC normalizer (the `unicode-normalization-alignments` crate), and it is
older than Python's unicodedata: it implements Unicode 9.0 (e.g. it leaves U+11935 U+11930 (Dives Akuru, 13.0)
uncomposed and gives U+1DFA (14.0) ccc 0), while Python 3.11 has 14.0. So the tables are HF's behaviour:
  - decompositions: HF's NFD of each code point, taken as is;
  - ccc: Python's value, kept only where HF reorders the character (asked with a ccc-1 and a ccc-230 mark);
  - compositions: Python's canonical pairs that are not excluded, kept only where HF composes them;
  - QC=No: the code points whose HF NFC is not themselves.
Then a Python model of the C++ algorithm over these tables is run against HF's NFC on every code point, every
candidate pair, every non-starter next to a mark of each ccc, and 200,000 random mark-heavy strings; any
difference aborts. Where Python 14.0 and HF disagree is printed to stderr (the characters HF does not know).
Run: .venv/bin/python scripts/gen_nfc_tables.py > src/nfc_tables.inc
"""
import random
import sys
import unicodedata

import tokenizers
from tokenizers import normalizers

HF_NFC, HF_NFD = normalizers.NFC(), normalizers.NFD()
CPS = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF and cp != 0x0A]  # "\n" is the separator
S_BASE, L_BASE, V_BASE, T_BASE, L_COUNT, V_COUNT, T_COUNT = 0xAC00, 0x1100, 0x1161, 0x11A7, 19, 21, 28
N_COUNT, S_COUNT = V_COUNT * T_COUNT, L_COUNT * V_COUNT * T_COUNT


def hf_batch(norm, strings):
    """norm applied to each string (none contains '\\n'). '\\n' is a starter that composes with nothing and
    stops reordering, so one call over the '\\n'-joined strings is the same as one call per string."""
    out = norm.normalize_str("\n".join(strings)).split("\n")
    assert len(out) == len(strings)
    return out


def ranges_of(values):
    """{cp: value} -> [(first, last, value)] over runs of consecutive code points with equal values."""
    out = []
    for cp in sorted(values):
        if out and out[-1][1] == cp - 1 and out[-1][2] == values[cp]:
            out[-1][1] = cp
        else:
            out.append([cp, cp, values[cp]])
    return out


def hex_list(cps):
    return " ".join(f"{cp:04X}" for cp in cps)


def log(*a):
    print(*a, file=sys.stderr)


# 1. Decompositions: HF's NFD of each code point.
hf_nfd = dict(zip(CPS, hf_batch(HF_NFD, [chr(cp) for cp in CPS])))
hf_nfc = dict(zip(CPS, hf_batch(HF_NFC, [chr(cp) for cp in CPS])))
decomp = {}
for cp in CPS:
    d = hf_nfd[cp]
    if S_BASE <= cp < S_BASE + S_COUNT:
        s = cp - S_BASE
        want = chr(L_BASE + s // N_COUNT) + chr(V_BASE + s % N_COUNT // T_COUNT) + (chr(T_BASE + s % T_COUNT) if s % T_COUNT else "")
        assert d == want, hex(cp)
    elif d != chr(cp):
        decomp[cp] = [ord(c) for c in d]
py_nfd_diff = [cp for cp in CPS if unicodedata.normalize("NFD", chr(cp)) != hf_nfd[cp]]
assert all(cp not in decomp for cp in py_nfd_diff), "HF decomposes something Python does not"

# 2. ccc: Python's value where HF treats the character as a non-starter. A non-starter c is moved before a
#    following ccc-1 mark (U+0334) when ccc(c) > 1, and a ccc-1 c moves before a preceding U+0301 (230).
cand = [cp for cp in CPS if unicodedata.combining(chr(cp)) and cp not in decomp]
after = hf_batch(HF_NFD, [chr(cp) + "\u0334" for cp in cand])
before = hf_batch(HF_NFD, ["\u0301" + chr(cp) for cp in cand])
ccc, py_ccc_only = {}, []
for cp, a, b in zip(cand, after, before):
    if a != chr(cp) + "\u0334" or b != "\u0301" + chr(cp):
        ccc[cp] = unicodedata.combining(chr(cp))
    else:
        py_ccc_only.append(cp)
# No character that Python calls a starter may be reordered by HF.
starters = [cp for cp in CPS if not unicodedata.combining(chr(cp)) and cp not in decomp and not S_BASE <= cp < S_BASE + S_COUNT]
for s, a, b in zip(starters, hf_batch(HF_NFD, [chr(cp) + "\u0334" for cp in starters]),
                   hf_batch(HF_NFD, ["\u0301" + chr(cp) for cp in starters])):
    assert a == chr(s) + "\u0334" and b == "\u0301" + chr(s), hex(s)

# 3. Compositions: Python's canonical two-character decompositions of characters NFC keeps, where HF composes.
compose, py_compose_only = {}, []
for cp in CPS:
    f = unicodedata.decomposition(chr(cp)).split()
    if len(f) != 2 or f[0].startswith("<") or unicodedata.normalize("NFC", chr(cp)) != chr(cp):
        continue
    a, b = int(f[0], 16), int(f[1], 16)
    if HF_NFC.normalize_str(chr(a) + chr(b)) == chr(cp):
        compose[(a, b)] = cp
    else:
        py_compose_only.append(cp)

# 4. NFC_Quick_Check=No.
qc_no = {cp: 1 for cp in CPS if hf_nfc[cp] != chr(cp)}
py_nfc_diff = [cp for cp in CPS if unicodedata.normalize("NFC", chr(cp)) != hf_nfc[cp]]

# 5. The C++ algorithm (src/nfc.cpp), in Python, over the tables above, must reproduce HF's NFC.
seconds = {b for (_, b) in compose}


def model_nfc(s):
    buf = []
    for ch in s:  # decompose
        cp = ord(ch)
        if S_BASE <= cp < S_BASE + S_COUNT:
            i = cp - S_BASE
            buf += [L_BASE + i // N_COUNT, V_BASE + i % N_COUNT // T_COUNT] + ([T_BASE + i % T_COUNT] if i % T_COUNT else [])
        else:
            buf += decomp.get(cp, [cp])
    i = 0
    while i < len(buf):  # canonical ordering: stable sort of each run of non-starters by ccc
        if ccc.get(buf[i], 0) == 0:
            i += 1
            continue
        j = i
        while j < len(buf) and ccc.get(buf[j], 0):
            j += 1
        buf[i:j] = sorted(buf[i:j], key=lambda c: ccc[c])
        i = j
    out, starter, last_cc = [], -1, 0  # canonical composition
    for cp in buf:
        cc = ccc.get(cp, 0)
        if starter >= 0 and (len(out) - 1 == starter or (last_cc != 0 and last_cc < cc)):
            st, comp = out[starter], None
            if L_BASE <= st < L_BASE + L_COUNT and V_BASE <= cp < V_BASE + V_COUNT:
                comp = S_BASE + ((st - L_BASE) * V_COUNT + cp - V_BASE) * T_COUNT
            elif (S_BASE <= st < S_BASE + S_COUNT and (st - S_BASE) % T_COUNT == 0 and T_BASE < cp < T_BASE + T_COUNT):
                comp = st + cp - T_BASE
            else:
                comp = compose.get((st, cp))
            if comp is not None:
                out[starter] = comp
                continue
        if cc == 0:
            starter = len(out)
        out.append(cp)
        last_cc = cc
    return "".join(map(chr, out))


def check(strings, what):
    for s, h in zip(strings, hf_batch(HF_NFC, strings)):
        if model_nfc(s) != h:
            sys.exit(f"gen_nfc_tables: model differs from HF on {what}: {hex_list(map(ord, s))}: model "
                     f"{hex_list(map(ord, model_nfc(s)))}, HF {hex_list(map(ord, h))}")


check([chr(cp) for cp in CPS], "a single code point")
cand_pairs = []
for cp in CPS:
    f = unicodedata.decomposition(chr(cp)).split()
    if len(f) == 2 and not f[0].startswith("<"):
        cand_pairs.append(chr(int(f[0], 16)) + chr(int(f[1], 16)))
check(cand_pairs + [p[::-1] for p in cand_pairs], "a candidate pair")
refs = {}
for cp in sorted(ccc):
    refs.setdefault(ccc[cp], cp)
check([chr(c) + chr(r) for c in ccc for r in refs.values()], "a non-starter before a reference mark")
rng = random.Random(9)
marks = sorted(ccc) + sorted(seconds) + list(range(0x1161, 0x1176)) + list(range(0x11A8, 0x11C3))
firsts = sorted({a for (a, _) in compose}) + list(range(0x1100, 0x1113)) + [0xAC00, 0xAC01, 0xD7A3]
others = sorted(qc_no) + sorted(decomp) + [ord(c) for c in "aZ \t가나한e"] + list(range(0x1100, 0x1200))
pool = [marks] * 5 + [firsts] * 3 + [others] * 2
check(["".join(chr(rng.choice(rng.choice(pool))) for _ in range(rng.randint(1, 8))) for _ in range(200000)],
      "a random string")

log(f"HF tokenizers {tokenizers.__version__} vs Python unicodedata {unicodedata.unidata_version}:")
log(f"  NFD differs on {len(py_nfd_diff)} code points (Python decomposes, HF does not): {hex_list(py_nfd_diff)}")
log(f"  ccc: {len(py_ccc_only)} non-starters in Python are starters (ccc 0) in HF: {hex_list(py_ccc_only)}")
log(f"  {len(py_compose_only)} compositions Python has and HF lacks: {hex_list(py_compose_only)}")
log(f"  NFC of a single code point differs on {len(py_nfc_diff)} code points: {hex_list(py_nfc_diff)}")
log(f"tables: {len(ccc)} non-starters, {len(decomp)} decompositions, {len(compose)} compositions, "
    f"{len(qc_no)} QC=No code points")


def emit_ranges(name, rs, comment):
    print(f"// {comment}: {len(rs)} ranges {{first, last, value}}")
    print(f"static const uint32_t {name}[][3] = {{")
    for i in range(0, len(rs), 5):
        print("  " + " ".join(f"{{0x{a:X}, 0x{b:X}, {v}}}," for a, b, v in rs[i:i + 5]))
    print("};")


print(f"// GENERATED by scripts/gen_nfc_tables.py from the NFC/NFD normalizers of HF tokenizers {tokenizers.__version__}"
      f" (Unicode 9.0 data), with values from unicodedata {unicodedata.unidata_version}; do not edit.")
emit_ranges("kNfcCcc", ranges_of(ccc), "canonical combining class of the non-decomposable non-starters")
emit_ranges("kNfcQcNo", ranges_of(qc_no), "NFC_Quick_Check=No (value always 1)")
pool_cps, entries = [], []
for cp in sorted(decomp):
    entries.append((cp, len(pool_cps), len(decomp[cp])))
    pool_cps += decomp[cp]
assert max(n for _, _, n in entries) <= 4
print(f"// full canonical decompositions: {len(entries)} entries {{code point, offset into kNfcDecompPool, length}}")
print("static const uint32_t kNfcDecomp[][3] = {")
for i in range(0, len(entries), 5):
    print("  " + " ".join(f"{{0x{c:X}, {o}, {n}}}," for c, o, n in entries[i:i + 5]))
print("};")
print(f"static const uint32_t kNfcDecompPool[] = {{")
for i in range(0, len(pool_cps), 10):
    print("  " + " ".join(f"0x{c:X}," for c in pool_cps[i:i + 10]))
print("};")
comps = sorted(compose.items())
print(f"// primary composites: {len(comps)} entries {{first, second, composite}}, sorted by (first, second)")
print("static const uint32_t kNfcCompose[][3] = {")
for i in range(0, len(comps), 5):
    print("  " + " ".join(f"{{0x{a:X}, 0x{b:X}, 0x{c:X}}}," for (a, b), c in comps[i:i + 5]))
print("};")
