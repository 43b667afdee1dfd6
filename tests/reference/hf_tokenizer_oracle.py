#!/usr/bin/env python3
"""HF `tokenizers` oracle for tests/test_tokenizer.cpp (run with /work/main/.venv/bin/python).

  hf_tokenizer_oracle.py --train FILE... --vocab N --texts texts.json --beop beop.json --out DIR

(a) trains an HF ByteLevel BPE with the Llama-3 pre-tokenizer (Sequence[Split(Regex, Isolated),
    ByteLevel(add_prefix_space=False, use_regex=False)], ByteLevel decoder, the 5 beop special tokens) on the
    --train files and saves DIR/hf.json as HF writes it (merges as [a, b] lists, ignore_merges=false);
    also writes DIR/hf_llama3.json, the same model laid out the way Meta's Llama-3 tokenizer.json is:
    "ignore_merges": true, merges as "a b" strings (the older form), the special tokens not in model.vocab but
    added after it (ids vocab_size..), extra added tokens (a reserved special one, and a non-special "<|eot"
    that overlaps "<|eot_id|>" to exercise leftmost-longest matching), a TemplateProcessing post-processor;
(b) encodes every string of texts.json (a JSON list) with hf.json, hf_llama3.json and the beop-trained
    --beop tokenizer.json, add_special_tokens=False (HF always matches added tokens in the text), and
    pre-tokenizes it with the bare Split(Regex, Isolated) step;
writes DIR/oracle_out.json = {"hf": [[ids]], "hf_llama3": [[ids]], "beop": [[ids]], "pieces": [[str]],
    "hf_vocab_size": int}.
"""
import argparse
import json
import os

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
           r"\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def split_step():
    return pre_tokenizers.Split(Regex(PATTERN), behavior="isolated", invert=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--beop", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [split_step(), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=a.vocab, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train(a.train, trainer)
    hf_path = os.path.join(a.out, "hf.json")
    tok.save(hf_path)

    with open(hf_path, encoding="utf-8") as f:
        j = json.load(f)
    j["model"]["ignore_merges"] = True
    j["model"]["merges"] = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in j["model"]["merges"]]
    vocab = {t: i for t, i in j["model"]["vocab"].items() if t not in SPECIALS}
    vocab = {t: new for new, (t, _) in enumerate(sorted(vocab.items(), key=lambda kv: kv[1]))}  # ids 0..N-1
    j["model"]["vocab"] = vocab
    next_id = len(vocab)
    added = []
    for content in SPECIALS + ["<|reserved_special_token_0|>", "<|eot"]:
        added.append({"id": next_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": content == "<|eot", "special": content != "<|eot"})
        next_id += 1
    j["added_tokens"] = added
    j["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [added[0]["id"]],
                                                 "tokens": ["<|begin_of_text|>"]}}}
    l3_path = os.path.join(a.out, "hf_llama3.json")
    with open(l3_path, "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False, indent=2)

    with open(a.texts, encoding="utf-8") as f:
        texts = json.load(f)
    out = {"hf_vocab_size": tok.get_vocab_size()}
    for name, path in (("hf", hf_path), ("hf_llama3", l3_path), ("beop", a.beop)):
        t = Tokenizer.from_file(path)
        out[name] = [t.encode(s, add_special_tokens=False).ids for s in texts]
    sp = split_step()
    out["pieces"] = [[p for p, _ in sp.pre_tokenize_str(s)] for s in texts]
    with open(os.path.join(a.out, "oracle_out.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
