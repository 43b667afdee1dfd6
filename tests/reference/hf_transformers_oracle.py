"""Oracle for beop's Hugging Face import/export: Hugging Face transformers itself (LlamaForCausalLM,
Qwen2ForCausalLM), not a re-implementation. Needs a Python with transformers and torch; the Debian torch 1.13
works with transformers 4.45.2 (newer releases need torch >= 2), installed in its own venv:

    /usr/bin/python3 -m venv --system-site-packages .venv-hf && .venv-hf/bin/pip install transformers==4.45.2 'numpy<2'

    PY tests/reference/hf_transformers_oracle.py make --case CASE --tokenizer TOK.json --out DIR
        Builds a tiny random model of CASE (llama_gqa | llama_tied | llama3_rope | qwen2), saves it with
        save_pretrained (safetensors) into DIR/hf with a copy of TOK.json, and writes the bundle DIR/ref: inputs,
        targets (B, T) and the model's float32 logits (B, T, V) and mean next-token loss (scalars.loss).
    PY tests/reference/hf_transformers_oracle.py run --hf HFDIR --inputs BUNDLE --out OUT
        Loads HFDIR (e.g. exported by beop) with AutoModelForCausalLM / AutoTokenizer, runs BUNDLE's inputs and
        writes OUT: logits, loss, the chat template rendered by apply_chat_template (config.chat) and the ids
        of config.text encoded by the fast tokenizer (tensor "text_ids").
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bundle import read_bundle, write_bundle  # noqa: E402

torch.set_num_threads(1)  # the dev machine's cores are shared

B, T = 2, 24
CHAT = [{"role": "system", "content": "법률 상담"}, {"role": "user", "content": "임대차 계약은?"},
        {"role": "assistant", "content": "Yes.\n 2년"}, {"role": "user", "content": "<|eot_id|> 정말?"}]
TEXT = "제1조(목적) 이 법은 The Act, 2024년 <|eot_id|> 끝."


def config_for(case, vocab):
    from transformers import LlamaConfig, Qwen2Config
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, max_position_embeddings=128,
                  rope_theta=10000.0, tie_word_embeddings=False, torch_dtype="float32")
    if case == "llama_gqa":
        return LlamaConfig(**common)
    if case == "llama_tied":
        common.update(tie_word_embeddings=True, num_key_value_heads=4, rope_theta=500000.0, rms_norm_eps=1e-6)
        return LlamaConfig(**common)
    if case == "llama3_rope":  # original context 32 < 128: the low/middle frequencies are rescaled
        common.update(rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 32}, num_key_value_heads=1)
        return LlamaConfig(**common)
    if case == "qwen2":
        common.update(rope_theta=1000000.0, rms_norm_eps=1e-6)
        return Qwen2Config(**common, use_sliding_window=False)
    raise SystemExit(f"unknown case {case}")


def forward(model, inputs, targets):
    with torch.no_grad():
        logits = model(input_ids=torch.from_numpy(inputs).long()).logits.float()
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(),
                                             torch.from_numpy(targets).long().reshape(-1))
    return logits.numpy(), float(loss)


def make(args):
    from transformers import AutoModelForCausalLM
    vocab = json.load(open(args.tokenizer, encoding="utf-8"))
    n_tok = len(vocab["model"]["vocab"]) + sum(1 for t in vocab.get("added_tokens", [])
                                                 if t["content"] not in vocab["model"]["vocab"])
    V = n_tok + 3  # a few unused rows beyond the tokenizer, as real models have; not a multiple of 128
    torch.manual_seed(args.seed)
    cfg = config_for(args.case, V)
    model = AutoModelForCausalLM.from_config(cfg).float().eval()
    g = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():  # random weights of a realistic scale (HF's init leaves norms at 1 and biases at 0)
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_((0.3 if "embed" in name else 0.08) * torch.randn(p.shape, generator=g))
    hf = os.path.join(args.out, "hf")
    if os.path.exists(hf):
        shutil.rmtree(hf)
    model.save_pretrained(hf, safe_serialization=True)
    shutil.copy(args.tokenizer, os.path.join(hf, "tokenizer.json"))
    rng = np.random.default_rng(args.seed)
    seq = rng.integers(0, V, size=(B, T + 1)).astype(np.int32)
    inputs, targets = seq[:, :T].copy(), seq[:, 1:].copy()
    logits, loss = forward(model, inputs, targets)
    write_bundle(os.path.join(args.out, "ref"), {"inputs": inputs, "targets": targets, "logits": logits},
                 config={"case": args.case, "vocab": V, "batch": B, "seq": T,
                         "transformers": __import__("transformers").__version__},
                 scalars={"loss": loss})


def run(args):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    _, ref = read_bundle(args.inputs)
    inputs, targets = ref["inputs"], ref["targets"]
    model = AutoModelForCausalLM.from_pretrained(args.hf, torch_dtype=torch.float32).eval()
    logits, loss = forward(model, inputs, targets)
    tok = AutoTokenizer.from_pretrained(args.hf)
    chat = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    ids = np.array(tok(TEXT, add_special_tokens=False)["input_ids"], dtype=np.int32)
    write_bundle(args.out, {"logits": logits, "text_ids": ids},
                 config={"chat": chat, "messages": CHAT, "text": TEXT, "arch": model.config.architectures[0]},
                 scalars={"loss": loss})


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--case", required=True)
    m.add_argument("--tokenizer", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=1234)
    r = sub.add_parser("run")
    r.add_argument("--hf", required=True)
    r.add_argument("--inputs", required=True)
    r.add_argument("--out", required=True)
    a = ap.parse_args()
    make(a) if a.cmd == "make" else run(a)
