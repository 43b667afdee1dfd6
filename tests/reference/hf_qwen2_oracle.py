#!/usr/bin/env python3
"""HF oracle for tests/test_tokenizer_qwen2.cpp: a Qwen2-layout tokenizer.json made the way HF makes one, and
HF `tokenizers`' ids, pre-tokenizer pieces and NFC for beop to match.

  .venv/bin/python    hf_qwen2_oracle.py train   --train FILE... --vocab N --out DIR
  .venv-hf/bin/python hf_qwen2_oracle.py convert --out DIR
  .venv/bin/python    hf_qwen2_oracle.py encode  --tokenizer T.json... --texts texts.json --nfc nfc.json --out O.json

train:   trains a byte-level BPE with Qwen2's pipeline (NFC normalizer, Split(Qwen2 regex, Isolated),
         ByteLevel(add_prefix_space=False, use_regex=False)) on the files, no special tokens, and writes the
         vocab.json + merges.txt pair that Qwen2's slow tokenizer reads (GPT-2 format).
convert: (transformers 4.45.2) Qwen2TokenizerFast(vocab.json, merges.txt) converts them with transformers'
         own Qwen2Converter (the code that made the Hub's Qwen2 tokenizer.json files: NFC, the Qwen2 regex,
         ByteLevel post-processor and decoder, <|endoftext|> after model.vocab), with <|im_start|>, <|im_end|>
         as further special tokens and four non-special added tokens: "<tool_call>" and "B!" and "x\u0301y"
         (normalized=False: matched in the raw text) and "A\u030aB" (normalized=True: matched after NFC, as
         "\u00c5B"), then saves DIR/qwen2/tokenizer.json.
encode:  (tokenizers 0.23.3, the parity target) for each texts.json string: the ids of every --tokenizer
         (add_special_tokens=False: HF always matches added tokens), the ids with encode_special_tokens=True
         (special added tokens are then text, non-special ones are still matched: beop's allow_special=false)
         and HF's decode of those, HF NFC of the string and the Split(Qwen2 regex, Isolated) pieces of that;
         and HF NFC of every nfc.json string. Writes {"ids": [[[id]] per tokenizer], "ids_plain": same,
         "decoded_plain": [[str] per tokenizer], "nfc": [str], "pieces": [[str]], "nfc_only": [str],
         "version": str}.
"""
import argparse
import json
import os

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")


def qwen2_split():
    from tokenizers import Regex, pre_tokenizers
    return pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False)


def train(a):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [qwen2_split(), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=a.vocab, special_tokens=[], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train(a.train, trainer)
    model = json.loads(tok.to_str())["model"]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(model["vocab"], f, ensure_ascii=False)
    with open(os.path.join(a.out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for m in model["merges"]:
            f.write((m if isinstance(m, str) else f"{m[0]} {m[1]}") + "\n")


def convert(a):
    from transformers import AddedToken, Qwen2TokenizerFast
    t = Qwen2TokenizerFast(vocab_file=os.path.join(a.out, "vocab.json"), merges_file=os.path.join(a.out, "merges.txt"),
                           additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    t.add_tokens([AddedToken("<tool_call>", special=False, normalized=False),
                  AddedToken("B!", special=False, normalized=False),
                  AddedToken("x\u0301y", special=False, normalized=False),
                  AddedToken("A\u030aB", special=False, normalized=True)])
    t.save_pretrained(os.path.join(a.out, "qwen2"))


def encode(a):
    import tokenizers
    from tokenizers import Tokenizer, normalizers
    with open(a.texts, encoding="utf-8") as f:
        texts = json.load(f)
    with open(a.nfc, encoding="utf-8") as f:
        nfc_only = json.load(f)
    nfc, split = normalizers.NFC(), qwen2_split()
    out = {"version": tokenizers.__version__, "ids": [], "ids_plain": [], "decoded_plain": [],
           "nfc": [nfc.normalize_str(s) for s in texts]}
    for path in a.tokenizer:
        t = Tokenizer.from_file(path)
        out["ids"].append([t.encode(s, add_special_tokens=False).ids for s in texts])
        t.encode_special_tokens = True
        plain = [t.encode(s, add_special_tokens=False).ids for s in texts]
        out["ids_plain"].append(plain)
        out["decoded_plain"].append([t.decode(ids, skip_special_tokens=False) for ids in plain])
    out["pieces"] = [[p for p, _ in split.pre_tokenize_str(s)] for s in out["nfc"]]
    out["nfc_only"] = [nfc.normalize_str(s) for s in nfc_only]
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("train")
    p.add_argument("--train", nargs="+", required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("convert")
    p.add_argument("--out", required=True)
    p = sub.add_parser("encode")
    p.add_argument("--tokenizer", nargs="+", required=True)
    p.add_argument("--texts", required=True)
    p.add_argument("--nfc", required=True)
    p.add_argument("--out", required=True)
    a = ap.parse_args()
    {"train": train, "convert": convert, "encode": encode}[a.cmd](a)


if __name__ == "__main__":
    main()
