#!/usr/bin/env python3
"""ROUGE-L oracle for tests/test_rouge.cpp: Google's rouge-score (`rouge_scorer.RougeScorer(['rougeL'])`).

usage: rouge_oracle.py CASES.jsonl OUT.jsonl
  each input line: {"mode": "ws"|"char"|"ids", "ref": str|[int], "cand": str|[int],
                    "lower": bool, "punct": bool}
  each output line: {"p": float, "r": float, "f": float}, in input order; a final line
  {"corpus_f": mean F, "corpus_p": ..., "corpus_r": ...} over all cases; and a line {"isspace": [code points]}
  listing every code point for which str.isspace() is true (checks beop's is_unicode_space).

rouge-score's default tokenizer lower-cases and keeps only [a-z0-9], which drops every Hangul syllable, so the
scorer is always given an explicit tokenizer object here. The normalisation options implement the definitions
stated in legal/metrics/rouge.h (ASCII-only lower-casing; a listed punctuation set), independently of the C++.
"""
import json
import string
import sys

from rouge_score import rouge_scorer

PUNCT = set(string.punctuation) | set("\u2018\u2019\u201c\u201d\u00b7\u2026\u3001\u3002\u3008\u3009\u300a\u300b"
                                      "\u300c\u300d\u300e\u300f\u3010\u3011\u3014\u3015\uff62\uff63")


def normalise(tok, lower, punct):
    if lower:
        tok = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in tok)
    if punct:
        tok = "".join(c for c in tok if c not in PUNCT)
    return tok


class Tokenizer:
    """tokenize(text) -> tokens, as rouge_scorer expects of a custom tokenizer."""

    def __init__(self, mode, lower, punct):
        self.mode, self.lower, self.punct = mode, lower, punct

    def tokenize(self, text):
        if self.mode == "ids":
            return list(text)
        if self.mode == "ws":
            toks = text.split()  # str.split(): splits on str.isspace() characters
        elif self.mode == "char":
            toks = [c for c in text if not c.isspace()]
        else:
            raise ValueError("bad mode %r" % self.mode)
        toks = [normalise(t, self.lower, self.punct) for t in toks]
        return [t for t in toks if t]


def main():
    cases_path, out_path = sys.argv[1], sys.argv[2]
    out = []
    fs, ps, rs = [], [], []
    with open(cases_path, encoding="utf-8") as f:
        for line in f:
            c = json.loads(line)
            tok = Tokenizer(c["mode"], c.get("lower", False), c.get("punct", False))
            scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=tok)
            s = scorer.score(c["ref"], c["cand"])["rougeL"]  # score(target, prediction)
            out.append({"p": s.precision, "r": s.recall, "f": s.fmeasure})
            ps.append(s.precision)
            rs.append(s.recall)
            fs.append(s.fmeasure)
    n = len(fs)
    out.append({"corpus_p": sum(ps) / n if n else 0.0, "corpus_r": sum(rs) / n if n else 0.0,
                "corpus_f": sum(fs) / n if n else 0.0})
    out.append({"isspace": [cp for cp in range(0x110000) if chr(cp).isspace()]})
    with open(out_path, "w", encoding="utf-8") as f:
        for o in out:
            f.write(json.dumps(o) + "\n")  # json floats are repr(): exact round trip of the double


if __name__ == "__main__":
    main()
