"""Oracle for `prep export-gguf` (tests/test_gguf_export.cpp): reads the GGUF files back with the PyPI `gguf`
package (llama.cpp's own Python reader) and checks every key and every tensor against the Hugging Face export of
the same checkpoint (`prep export-hf --dtype f32`), written independently by src/hf_model.cpp:
  - keys: exactly the expected set, each value from config.json / tokenizer.json / tokenizer_config.json;
  - f32 tensors equal the HF tensors exactly, Q/K rows permuted as llama.cpp's convert_hf_to_gguf.py does;
  - bf16 tensors equal gguf.quants.quantize(..., BF16) bit for bit;
  - q8_0 tensors equal gguf.quants.quantize(..., Q8_0) byte for byte, and dequantized (gguf.quants.dequantize)
    they equal beop's own `--dtype q8` weights (dumped by the test from cpu/matmul_lowp.h) exactly.
Usage: gguf_oracle.py HF_DIR F32.gguf BF16.gguf Q8_0.gguf BEOP_Q8_DIR. Exit 0 when everything matches."""
import json
import sys

import numpy as np
from gguf import GGUFReader, GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize
from safetensors.numpy import load_file

hf_dir, f32_path, bf16_path, q8_path, beop_dir = sys.argv[1:6]
cfg = json.load(open(f"{hf_dir}/config.json"))
tokj = json.load(open(f"{hf_dir}/tokenizer.json"))
tcfg = json.load(open(f"{hf_dir}/tokenizer_config.json"))
hf = load_file(f"{hf_dir}/model.safetensors")
assert tcfg["add_bos_token"] is False, "export-hf: tokenizer_config.json lacks add_bos_token: false"

H, KV, L = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
V, C, F, D = cfg["vocab_size"], cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]


def permute(w, n_head):  # convert_hf_to_gguf.py LlamaModel.permute
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


ref = {"token_embd.weight": hf["model.embed_tokens.weight"], "output_norm.weight": hf["model.norm.weight"]}
if not cfg["tie_word_embeddings"]:
    ref["output.weight"] = hf["lm_head.weight"]
for l in range(L):
    p = f"model.layers.{l}."
    ref[f"blk.{l}.attn_norm.weight"] = hf[p + "input_layernorm.weight"]
    ref[f"blk.{l}.attn_q.weight"] = permute(hf[p + "self_attn.q_proj.weight"], H)
    ref[f"blk.{l}.attn_k.weight"] = permute(hf[p + "self_attn.k_proj.weight"], KV)
    ref[f"blk.{l}.attn_v.weight"] = hf[p + "self_attn.v_proj.weight"]
    ref[f"blk.{l}.attn_output.weight"] = hf[p + "self_attn.o_proj.weight"]
    ref[f"blk.{l}.ffn_norm.weight"] = hf[p + "post_attention_layernorm.weight"]
    ref[f"blk.{l}.ffn_gate.weight"] = hf[p + "mlp.gate_proj.weight"]
    ref[f"blk.{l}.ffn_up.weight"] = hf[p + "mlp.up_proj.weight"]
    ref[f"blk.{l}.ffn_down.weight"] = hf[p + "mlp.down_proj.weight"]

# the tokenizer as convert_hf_to_gguf.py's gpt2 vocabulary would list it
tokens = [f"[PAD{i}]" for i in range(V)]
types = [5] * V
for t, i in tokj["model"]["vocab"].items():
    tokens[i], types[i] = t, 1
for a in tokj["added_tokens"]:
    tokens[a["id"]], types[a["id"]] = a["content"], (3 if a["special"] else 4)
merges = [m if isinstance(m, str) else " ".join(m) for m in tokj["model"]["merges"]]
ids = {a["content"]: a["id"] for a in tokj["added_tokens"]}


def expected_keys(file_type):
    k = {
        "GGUF.version": 3, "GGUF.tensor_count": len(ref), "GGUF.kv_count": None,
        "general.architecture": "llama", "general.name": None, "general.file_type": file_type,
        "llama.vocab_size": V, "llama.context_length": cfg["max_position_embeddings"], "llama.embedding_length": C,
        "llama.block_count": L, "llama.feed_forward_length": F, "llama.attention.head_count": H,
        "llama.attention.head_count_kv": KV, "llama.attention.key_length": D, "llama.attention.value_length": D,
        "llama.rope.dimension_count": D, "llama.rope.freq_base": np.float32(cfg["rope_theta"]),
        "llama.attention.layer_norm_rms_epsilon": np.float32(cfg["rms_norm_eps"]),
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "llama-bpe", "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": types, "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.bos_token_id": ids["<|begin_of_text|>"], "tokenizer.ggml.eos_token_id": ids["<|end_of_text|>"],
        "tokenizer.ggml.padding_token_id": ids["<|end_of_text|>"], "tokenizer.ggml.eot_token_id": ids["<|eot_id|>"],
        "tokenizer.ggml.add_bos_token": False, "tokenizer.ggml.add_eos_token": False,
        "tokenizer.chat_template": tcfg["chat_template"],
    }
    if file_type == 7:
        k["general.quantization_version"] = 2
    return k


def check_keys(r, file_type):
    want = expected_keys(file_type)
    got = set(r.fields)
    assert got == set(want), f"keys: missing {set(want) - got}, unexpected {got - set(want)}"
    for key, val in want.items():
        if val is None:
            continue
        c = r.fields[key].contents()
        if isinstance(val, np.float32):
            assert np.float32(c) == val, (key, c, val)
        else:
            assert c == val, (key, str(c)[:200], str(val)[:200])


def read(path, file_type, qtype):
    r = GGUFReader(path)
    check_keys(r, file_type)
    out = {}
    for t in r.tensors:
        want = ref[t.name]
        is_norm = want.ndim == 1
        assert t.tensor_type == (Q.F32 if is_norm else qtype), (t.name, t.tensor_type)
        assert list(t.shape) == list(reversed(want.shape)), (t.name, t.shape, want.shape)
        out[t.name] = (t, want)
    assert set(out) == set(ref), set(ref) ^ set(out)
    return out


for name, (t, want) in read(f32_path, 0, Q.F32).items():
    assert np.array_equal(np.asarray(t.data).reshape(want.shape), want), name
for name, (t, want) in read(bf16_path, 32, Q.BF16).items():
    if want.ndim == 1:
        continue
    assert np.array_equal(np.asarray(t.data).view(np.uint16).reshape(-1), quantize(want, Q.BF16).view(np.uint16).reshape(-1)), name
q8 = read(q8_path, 7, Q.Q8_0)
for name, (t, want) in q8.items():
    if want.ndim == 1:
        continue
    raw = np.asarray(t.data)
    assert np.array_equal(raw.reshape(-1), quantize(want, Q.Q8_0).reshape(-1)), name + ": bytes differ from gguf's Q8_0"


def deq(name, rows):
    return dequantize(np.asarray(q8[name][0].data), Q.Q8_0).reshape(rows, -1)


# beop's own q8 weights (what `infer --dtype q8` multiplies with), dumped as raw float32 by the test
def beop(name, rows):
    return np.fromfile(f"{beop_dir}/{name}.f32", dtype=np.float32).reshape(rows, -1)


qkv = beop("layer0_qkv", (H + 2 * KV) * D)
assert np.array_equal(deq("blk.0.attn_q.weight", H * D), permute(qkv[: H * D], H)), "q"
assert np.array_equal(deq("blk.0.attn_k.weight", KV * D), permute(qkv[H * D : (H + KV) * D], KV)), "k"
assert np.array_equal(deq("blk.0.attn_v.weight", KV * D), qkv[(H + KV) * D :]), "v"
assert np.array_equal(deq("blk.1.ffn_down.weight", C), beop("layer1_down", C)), "down"
assert np.array_equal(deq("output.weight", V), beop("lm_head", V)), "lm_head"
assert np.array_equal(deq("token_embd.weight", V), beop("tok_emb", V)), "embedding"
print(f"gguf oracle: {len(ref)} tensors x 3 files, {len(expected_keys(0))} keys each: all equal")
