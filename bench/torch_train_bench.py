#!/usr/bin/env python3
"""PyTorch side of the training benchmark: the same Llama model as beop, full training steps.

    PY bench/torch_train_bench.py --preset small [--batch 8 --seq 256 --steps 5 --threads 2]
                                  [--dtype fp32|bf16] [--compile] [--attention sdpa|matmul]

PY is the bench's own venv with PyTorch 2.x from PyPI (bench/torch_venv.sh makes it). --dtype bf16 runs the
forward and the loss under torch.autocast("cpu", bfloat16) (fp32 weights and optimizer, as beop's --dtype bf16);
--compile wraps the model in torch.compile (inductor, CPU). --attention sdpa (default) is
F.scaled_dot_product_attention(is_causal=True), what a PyTorch 2.x user writes (it dispatches to the fused
flash kernel on the CPU); matmul is the explicit QK^T / softmax / PV of older code.
Times `steps` full steps (forward, masked cross-entropy, backward, clip_grad_norm_ 1.0, AdamW step) after
warm-up steps, and prints one JSON line:
    {"impl": "pytorch", "torch": ..., "threads": ..., "tokens_per_s": ..., "step_ms": ..., ...}
Extra fields say what was measured (preset, batch, seq, steps, params, blas library loaded, step times), because a
Debian torch linked against netlib reference BLAS is several times slower than one on OpenBLAS/MKL.
"""

import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # V vocab, C d_model, L layers, H heads, KV kv_heads, D head_dim, F ffn, T seq
    "tiny": dict(vocab=2048, d_model=128, layers=4, heads=4, kv_heads=2, head_dim=32, ffn=384, seq=64, tied=False),
    "small": dict(vocab=8192, d_model=256, layers=6, heads=8, kv_heads=4, head_dim=32, ffn=704, seq=256, tied=False),
}


class RMSNorm(nn.Module):
    def __init__(self, c, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.eps = eps

    def forward(self, x):  # x [..., C]
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, H, KV, D, Fh = cfg["d_model"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["ffn"]
        self.H, self.KV, self.D = H, KV, D
        self.input_layernorm = RMSNorm(C, cfg["rms_eps"])
        self.q_proj = nn.Linear(C, H * D, bias=False)
        self.k_proj = nn.Linear(C, KV * D, bias=False)
        self.v_proj = nn.Linear(C, KV * D, bias=False)
        self.o_proj = nn.Linear(H * D, C, bias=False)
        self.post_attention_layernorm = RMSNorm(C, cfg["rms_eps"])
        self.gate_proj = nn.Linear(C, Fh, bias=False)
        self.up_proj = nn.Linear(C, Fh, bias=False)
        self.down_proj = nn.Linear(Fh, C, bias=False)

    sdpa = True

    def forward(self, x, cos, sin, causal):  # x [B,T,C]; cos/sin [T,D]; causal [T,T] bool, True = masked
        B, T, _ = x.shape
        n = self.input_layernorm(x)
        q = self.q_proj(n).view(B, T, self.H, self.D).transpose(1, 2)     # [B,H,T,D]
        k = self.k_proj(n).view(B, T, self.KV, self.D).transpose(1, 2)    # [B,KV,T,D]
        v = self.v_proj(n).view(B, T, self.KV, self.D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(self.H // self.KV, dim=1)                 # query head h -> kv head h // (H/KV)
        v = v.repeat_interleave(self.H // self.KV, dim=1)
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)    # [B,H,T,D]
        else:
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.D)  # [B,H,T,T]
            p = torch.softmax(s.masked_fill(causal, float("-inf")), dim=-1)
            y = torch.matmul(p, v)
        y = y.transpose(1, 2).reshape(B, T, self.H * self.D)
        x = x + self.o_proj(y)
        n = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(n)) * self.up_proj(n))


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg["vocab"], cfg["d_model"])
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg["layers"]))
        self.norm = RMSNorm(cfg["d_model"], cfg["rms_eps"])
        self.lm_head = None if cfg["tied"] else nn.Linear(cfg["d_model"], cfg["vocab"], bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, inputs):  # inputs long [B,T] -> logits [B,T,V]
        T, D = inputs.shape[1], self.cfg["head_dim"]
        inv_freq = 1.0 / (self.cfg["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)                         # [T,D]
        cos, sin = emb.cos(), emb.sin()
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)
        x = self.embed_tokens(inputs)
        for layer in self.layers:
            x = layer(x, cos, sin, causal)
        x = self.norm(x)
        return F.linear(x, self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight)


def blas_library():
    """The BLAS torch was built with (PyPI wheels link MKL statically, so it is not in /proc/self/maps)."""
    for line in torch.__config__.show().splitlines():
        if "BLAS_INFO" in line:
            return [part.strip() for part in line.split(",") if "BLAS_INFO" in part]
    return []


def main():
    ap = argparse.ArgumentParser(description="PyTorch Llama training-step benchmark (CPU)")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=None, help="default: the preset's sequence length")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (inductor)")
    ap.add_argument("--attention", choices=["sdpa", "matmul"], default="sdpa")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (--compile compiles in them)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time steps in the process's CPU time, not wall time (1 thread on a loaded machine)")
    a = ap.parse_args()
    cfg = dict(PRESETS[a.preset], rope_theta=10000.0, rms_eps=1e-5)
    T = a.seq or cfg["seq"]
    for k, v in (("batch", a.batch), ("seq", T), ("steps", a.steps), ("threads", a.threads)):
        if v <= 0:
            ap.error(f"--{k} must be positive, got {v}")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    Block.sdpa = a.attention == "sdpa"
    model = Llama(cfg)
    run = torch.compile(model) if a.compile else model
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    B, V = a.batch, cfg["vocab"]
    inputs = torch.randint(0, V, (B, T))
    targets = torch.randint(0, V, (B, T))
    mask = (torch.rand(B, T) >= 0.25).float()                           # per-token loss mask, as beop trains

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
            logits = run(inputs)
            nll = F.cross_entropy(logits.view(-1, V), targets.view(-1), reduction="none")
            loss = (nll * mask.view(-1)).sum() / mask.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(max(1, a.warmup)):  # allocator, optimizer state, compilation
        step()
    times = []
    clock = time.process_time if a.cpu_time else time.perf_counter
    for _ in range(a.steps):
        t0 = clock()
        loss = step()
        times.append(clock() - t0)
    mean_s = sum(times) / len(times)
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "threads": a.threads, "dtype": a.dtype,
                      "compile": a.compile, "attention": a.attention, "cpu_time": a.cpu_time,
                      "tokens_per_s": round(B * T / mean_s, 1), "step_ms": round(mean_s * 1e3, 1),
                      "preset": a.preset, "batch": B, "seq": T, "steps": a.steps,
                      "params": sum(p.numel() for p in model.parameters()),
                      "step_ms_min": round(min(times) * 1e3, 1),
                      "step_ms_each": [round(t * 1e3, 1) for t in times], "last_loss": round(loss, 4),
                      "blas": blas_library()}))


if __name__ == "__main__":
    main()
