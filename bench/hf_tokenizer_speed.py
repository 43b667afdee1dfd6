#!/usr/bin/env python3
"""HF `tokenizers` single-thread encode throughput, the reference for bench/bench_tokenizer.cpp.

  RAYON_NUM_THREADS=1 .venv/bin/python bench/hf_tokenizer_speed.py --tokenizer T.json --text X.txt \
      [--repeat 3] [--ids-out ids.bin]

Mode: the text is cut into lines, each keeping its '\n' (so the concatenated ids are those of the text's
lines), and encoded with ONE Tokenizer.encode_batch(lines, add_special_tokens=False) call, which
RAYON_NUM_THREADS=1 keeps on one thread; the C++ bench calls beop's encode() once per line, in order. (Encoding
the whole multi-MB text as one document is not a fair mode: HF then runs at ~0.4 MB/s, 40x slower than
beop, because of its offset bookkeeping on huge strings.) Best of --repeat runs; both word caches are warm
after the first run.
Prints one JSON line: {"mb_per_s": .., "seconds": .., "bytes": .., "tokens": .., "version": ..};
--ids-out writes the ids as little-endian int32 so the bench can check both encoders agree.
"""
import argparse
import array
import json
import os
import sys
import time

if os.environ.get("RAYON_NUM_THREADS") != "1":
    sys.exit("run with RAYON_NUM_THREADS=1 (single-thread comparison)")
import tokenizers  # noqa: E402  (after the env check: rayon reads it at first use)
from tokenizers import Tokenizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ids-out")
    a = ap.parse_args()
    tok = Tokenizer.from_file(a.tokenizer)
    with open(a.text, encoding="utf-8") as f:
        text = f.read()
    nbytes = len(text.encode("utf-8"))
    lines = [ln + "\n" for ln in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    if not lines[-1]:
        lines.pop()
    best, ids = None, None
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        encs = tok.encode_batch(lines, add_special_tokens=False)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    ids = [i for e in encs for i in e.ids]
    if a.ids_out:
        with open(a.ids_out, "wb") as f:
            array.array("i", ids).tofile(f)
    print(json.dumps({"mb_per_s": nbytes / best / 1e6, "seconds": best, "bytes": nbytes, "tokens": len(ids),
                      "version": tokenizers.__version__}))


if __name__ == "__main__":
    main()
