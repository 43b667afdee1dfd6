#!/usr/bin/env python3
"""Independent float64 PyTorch oracle for beop's Llama model (forward, loss, gradients, 10 AdamW steps).

Written from the Hugging Face LlamaForCausalLM definition with plain torch primitives, without reference to
beop's C++ code, so the two implementations can be checked against each other. Writes a
"beop-reference-bundle" (tests/reference/bundle.py, docs/REFERENCE.md) into --out.

    /usr/bin/python3 tests/reference/llama_reference.py --out build/ref/llama_tiny [--tied 1 ...]

Model (shapes: B batch, T seq, C d_model, H heads, KV kv_heads, D head_dim, F ffn, V vocab):
    x = embed[inputs]                                             [B,T,C]
    per layer: x += o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1)))   n1 = rmsnorm1(x)
               x += down_proj(silu(gate_proj(n2)) * up_proj(n2))                    n2 = rmsnorm2(x)
    logits = lm_head(rmsnorm(x))                                  [B,T,V]
    loss = sum(mask * nll) / sum(mask)
"""

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bundle import read_bundle, write_bundle  # noqa: E402

TRAIN_STEPS = 10
OPTIM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1, "grad_clip": 1.0}


# ----------------------------------------------------------------------------------------------- weights

def param_shapes(cfg):
    """HF parameter names -> shapes, in a fixed order (the order random weights are drawn in)."""
    V, C, H, KV, D, Fh = cfg["vocab"], cfg["d_model"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["ffn"]
    shapes = {"model.embed_tokens.weight": (V, C)}
    for i in range(cfg["layers"]):
        p = f"model.layers.{i}."
        shapes[p + "input_layernorm.weight"] = (C,)
        shapes[p + "self_attn.q_proj.weight"] = (H * D, C)
        shapes[p + "self_attn.k_proj.weight"] = (KV * D, C)
        shapes[p + "self_attn.v_proj.weight"] = (KV * D, C)
        shapes[p + "self_attn.o_proj.weight"] = (C, H * D)
        shapes[p + "post_attention_layernorm.weight"] = (C,)
        shapes[p + "mlp.gate_proj.weight"] = (Fh, C)
        shapes[p + "mlp.up_proj.weight"] = (Fh, C)
        shapes[p + "mlp.down_proj.weight"] = (C, Fh)
    shapes["model.norm.weight"] = (C,)
    if not cfg["tied"]:
        shapes["lm_head.weight"] = (V, C)
    return shapes


def init_weights(cfg, rng):
    """Random float32 weights: 2-D ~ N(0, 0.02) (embedding N(0, 0.1)), norm weights 1 + N(0, 0.1)."""
    out = {}
    for name, shape in param_shapes(cfg).items():
        z = rng.standard_normal(shape)
        if len(shape) == 1:
            w = 1.0 + 0.1 * z
        elif name == "model.embed_tokens.weight":
            w = 0.1 * z  # larger than 0.02 so the logits are not trivially uniform
        else:
            w = 0.02 * z
        out[name] = w.astype(np.float32)
    return out


def make_batch(cfg, rng):
    """inputs/targets int32 [B,T] uniform in [0,V); loss_mask float32 [B,T] of 0/1, ~25% zeros,
    row 0 all ones, every other row with at least one masked position."""
    B, T, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    inputs = rng.integers(0, V, size=(B, T)).astype(np.int32)
    targets = rng.integers(0, V, size=(B, T)).astype(np.int32)
    mask = (rng.random((B, T)) >= 0.25).astype(np.float32)
    mask[0, :] = 1.0
    for b in range(1, B):
        if mask[b].all():
            mask[b, rng.integers(0, T)] = 0.0
    return inputs, targets, mask


# ----------------------------------------------------------------------------------------------- model

def rmsnorm(x, w, eps):
    # x [..., C], w [C]: x * rsqrt(mean(x^2) + eps) * w
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * w


def rope_tables(T, D, theta, dtype):
    # HF convention: inv_freq[i] = theta^(-2i/D), i in [0, D/2); cos/sin duplicated to D as cat(f, f)
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))   # [D/2]
    pos = torch.arange(T, dtype=torch.float64)                                     # [T]
    freqs = torch.outer(pos, inv_freq)                                             # [T, D/2]
    emb = torch.cat([freqs, freqs], dim=-1)                                        # [T, D]
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x, cos, sin):
    # x [B, heads, T, D]; cos/sin [T, D] broadcast over batch and heads
    return x * cos + rotate_half(x) * sin


def attention(n, p, cfg, cos, sin):
    """n [B,T,C] (normed input) -> attention output after o_proj [B,T,C]."""
    B, T, _ = n.shape
    H, KV, D = cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    q = F.linear(n, p["self_attn.q_proj.weight"]).view(B, T, H, D).transpose(1, 2)   # [B,H,T,D]
    k = F.linear(n, p["self_attn.k_proj.weight"]).view(B, T, KV, D).transpose(1, 2)  # [B,KV,T,D]
    v = F.linear(n, p["self_attn.v_proj.weight"]).view(B, T, KV, D).transpose(1, 2)  # [B,KV,T,D]
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    # grouped-query: query head h reads kv head h // (H/KV); repeat_interleave lays kv heads out that way
    k = k.repeat_interleave(H // KV, dim=1)                                           # [B,H,T,D]
    v = v.repeat_interleave(H // KV, dim=1)
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D)                      # [B,H,T,T]
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)                               # True above diagonal
    scores = scores.masked_fill(causal, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    y = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, H * D)                   # [B,T,H*D]
    return F.linear(y, p["self_attn.o_proj.weight"])


def forward(params, cfg, inputs):
    """params: name -> tensor (HF names); inputs long [B,T] -> logits [B,T,V]."""
    x = F.embedding(inputs, params["model.embed_tokens.weight"])                      # [B,T,C]
    dtype = x.dtype
    cos, sin = rope_tables(inputs.shape[1], cfg["head_dim"], cfg["rope_theta"], dtype)
    eps = cfg["rms_eps"]
    for i in range(cfg["layers"]):
        pre = f"model.layers.{i}."
        p = {k[len(pre):]: v for k, v in params.items() if k.startswith(pre)}
        x = x + attention(rmsnorm(x, p["input_layernorm.weight"], eps), p, cfg, cos, sin)
        n2 = rmsnorm(x, p["post_attention_layernorm.weight"], eps)
        x = x + F.linear(F.silu(F.linear(n2, p["mlp.gate_proj.weight"])) * F.linear(n2, p["mlp.up_proj.weight"]),
                         p["mlp.down_proj.weight"])
    x = rmsnorm(x, params["model.norm.weight"], eps)
    head = params["model.embed_tokens.weight"] if cfg["tied"] else params["lm_head.weight"]
    return F.linear(x, head)                                                          # [B,T,V]


def masked_loss(logits, targets, mask):
    # logits [B,T,V], targets long [B,T], mask [B,T]: sum(mask * nll) / sum(mask)
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    m = mask.reshape(-1)
    return (nll * m).sum() / m.sum()


# ----------------------------------------------------------------------------------------------- checks

def finite_difference_check(w32, cfg, inputs, targets, mask):
    """Compare autograd gradients of a few scalar weights with a 4-point central difference (float64).

    Runs on a sub-batch (rows 0-1, the all-ones row and a masked row; first <= 32 positions, which a causal
    model sees exactly as in the full batch) to keep the 28 extra forwards cheap; it checks the same code.
    Each checked weight is the entry with the largest |grad| of its tensor, so the derivative is well above
    the finite-difference noise: the stencil's truncation error is O(h^4) and its rounding error is about
    eps64 * |loss| / h ~ 1e-16 * 10 / 1e-4 ~ 1e-11, far below 1e-6 of a gradient of size >~ 1e-4.
    """
    rows, T = min(2, inputs.shape[0]), min(32, inputs.shape[1])
    inputs, targets, mask = inputs[:rows, :T], targets[:rows, :T], mask[:rows, :T]
    params = {n: torch.tensor(w.astype(np.float64), requires_grad=True) for n, w in w32.items()}
    masked_loss(forward(params, cfg, inputs), targets, mask).backward()
    L = cfg["layers"]
    names = ["model.embed_tokens.weight",
             "model.layers.0.self_attn.q_proj.weight",      # through RoPE and softmax
             "model.layers.0.self_attn.k_proj.weight",
             f"model.layers.{L - 1}.input_layernorm.weight",
             f"model.layers.{L - 1}.mlp.gate_proj.weight",
             "model.norm.weight"]
    if not cfg["tied"]:
        names.append("lm_head.weight")

    def f():
        with torch.no_grad():
            return masked_loss(forward(params, cfg, inputs), targets, mask).item()

    worst = 0.0
    for name in names:
        w = params[name]
        idx = tuple(int(i) for i in np.unravel_index(int(w.grad.abs().argmax()), w.shape))
        g = w.grad[idx].item()
        h = 1e-4 * max(1.0, abs(w[idx].item()))
        orig = w.data[idx].item()
        vals = {}
        for s in (-2, -1, 1, 2):
            w.data[idx] = orig + s * h
            vals[s] = f()
        w.data[idx] = orig
        fd = (8.0 * (vals[1] - vals[-1]) - (vals[2] - vals[-2])) / (12.0 * h)
        rel = abs(fd - g) / max(abs(g), 1e-300)
        worst = max(worst, rel)
        if not (rel < 1e-6):
            raise SystemExit(f"error: finite-difference check failed for {name}{list(idx)}: "
                             f"autograd {g:.12e} vs fd {fd:.12e} (rel {rel:.2e})")
    return worst


def verify_written(out_dir, tensors, loss):
    """Read the bundle back: every tensor bit-identical, and the loss recomputed in numpy from the stored
    logits/targets/mask (an independent log-sum-exp, not torch) equal to the stored loss to float64 rounding."""
    man, got = read_bundle(out_dir)
    for n, v in tensors.items():
        if got[n].shape != v.shape or not np.array_equal(got[n], v):
            raise SystemExit(f"error: {out_dir}: tensor {n} does not read back identically")
    lg, tg, m = got["logits"], got["targets"].astype(np.int64), got["loss_mask"].astype(np.float64)
    mx = lg.max(axis=-1, keepdims=True)
    lse = (mx + np.log(np.exp(lg - mx).sum(axis=-1, keepdims=True)))[..., 0]          # [B,T]
    nll = lse - np.take_along_axis(lg, tg[..., None], axis=-1)[..., 0]
    np_loss = float((nll * m).sum() / m.sum())
    if not abs(np_loss - man["scalars"]["loss"]) <= 1e-12 * abs(loss):
        raise SystemExit(f"error: {out_dir}: numpy loss {np_loss!r} != stored loss {man['scalars']['loss']!r}")


# ----------------------------------------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="bundle directory to write")
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--ffn", type=int, default=384)
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--rms-eps", type=float, default=1e-5)
    ap.add_argument("--tied", type=int, choices=[0, 1], default=0)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--grad-clip", type=float, default=OPTIM["grad_clip"],
                    help="global-norm clip; the default untied model's norms are ~0.95, so a smaller value "
                         "(e.g. 0.5) makes the clip act on every step")
    a = ap.parse_args(argv)
    cfg = {"vocab": a.vocab, "d_model": a.d_model, "layers": a.layers, "heads": a.heads, "kv_heads": a.kv_heads,
           "head_dim": a.head_dim, "ffn": a.ffn, "rope_theta": a.rope_theta, "rms_eps": a.rms_eps,
           "tied": a.tied, "batch": a.batch, "seq": a.seq}
    for k in ("vocab", "d_model", "layers", "heads", "kv_heads", "head_dim", "ffn", "batch", "seq"):
        if cfg[k] <= 0:
            ap.error(f"--{k.replace('_', '-')} must be positive, got {cfg[k]}")
    if cfg["heads"] % cfg["kv_heads"]:
        ap.error(f"--heads {cfg['heads']} is not a multiple of --kv-heads {cfg['kv_heads']}")
    if cfg["head_dim"] % 2:
        ap.error(f"--head-dim {cfg['head_dim']} must be even for RoPE")
    if not a.grad_clip > 0:
        ap.error(f"--grad-clip must be positive, got {a.grad_clip}")
    if not (cfg["rope_theta"] > 0 and cfg["rms_eps"] > 0):
        ap.error("--rope-theta and --rms-eps must be positive")
    return a, cfg


def main(argv=None):
    args, cfg = parse_args(argv)
    # one thread: the dev machine's 2 cores are shared, and torch's OpenMP threads spin badly under load
    # (measured 17 s with 1 thread vs 65 s with 2 on a busy machine; ~8 s CPU either way with netlib BLAS)
    torch.set_num_threads(1)
    optim = dict(OPTIM, grad_clip=args.grad_clip)
    rng = np.random.default_rng(args.seed)
    w32 = init_weights(cfg, rng)                                  # name -> float32 array (stored as is)
    inputs, targets, mask = make_batch(cfg, rng)
    train = [make_batch(cfg, rng) for _ in range(TRAIN_STEPS)]

    def leaf_params():
        return {n: torch.tensor(w.astype(np.float64), requires_grad=True) for n, w in w32.items()}

    def as_torch(batch):
        i, t, m = batch
        return (torch.from_numpy(i.astype(np.int64)), torch.from_numpy(t.astype(np.int64)),
                torch.from_numpy(m.astype(np.float64)))

    # ---- one forward/backward in float64
    params = leaf_params()
    ti, tt, tm = as_torch((inputs, targets, mask))
    logits = forward(params, cfg, ti)
    loss = masked_loss(logits, tt, tm)
    loss.backward()
    fd_worst = finite_difference_check(w32, cfg, ti, tt, tm)

    tensors = {}
    for n, w in w32.items():
        tensors[n] = w
    tensors["inputs"], tensors["targets"], tensors["loss_mask"] = inputs, targets, mask
    tensors["logits"] = logits.detach().numpy()
    for n, p in params.items():
        tensors["grad." + n] = p.grad.numpy()

    # ---- 10 AdamW steps from the same initial weights, clip by global norm before each step
    params = leaf_params()
    decay = [p for n, p in params.items() if p.dim() == 2]        # embedding, projections, lm_head
    no_decay = [p for n, p in params.items() if p.dim() != 2]     # RMSNorm weights
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPTIM["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=OPTIM["lr"], betas=(OPTIM["beta1"], OPTIM["beta2"]), eps=OPTIM["eps"])
    all_params = list(params.values())
    train_losses, train_norms = [], []
    for step in range(TRAIN_STEPS):
        bi, bt, bm = as_torch(train[step])
        opt.zero_grad(set_to_none=True)
        step_loss = masked_loss(forward(params, cfg, bi), bt, bm)
        step_loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(all_params, optim["grad_clip"])       # returns pre-clip norm
        opt.step()
        train_losses.append(step_loss.item())
        train_norms.append(norm.item())
    tensors["train.inputs"] = np.stack([b[0] for b in train])      # [10,B,T] i32
    tensors["train.targets"] = np.stack([b[1] for b in train])
    tensors["train.loss_mask"] = np.stack([b[2] for b in train])   # [10,B,T] f32
    for n, p in params.items():
        tensors["train.final." + n] = p.detach().numpy()            # f64 weights after the 10 steps

    for k, v in [("loss", loss.item())] + [("train_losses", x) for x in train_losses] + \
                [("train_grad_norms", x) for x in train_norms]:
        if not math.isfinite(v):
            raise SystemExit(f"error: non-finite {k} {v}")
    scalars = {"loss": loss.item(), "train_losses": train_losses, "train_grad_norms": train_norms}
    write_bundle(args.out, tensors, config=cfg, optim=optim, scalars=scalars)
    verify_written(args.out, tensors, loss.item())
    print(f"wrote {args.out}: loss {loss.item():.6f} (ln V = {math.log(cfg['vocab']):.4f}), "
          f"train loss {train_losses[0]:.4f} -> {train_losses[-1]:.4f}, fd check worst rel err {fd_worst:.1e}")


if __name__ == "__main__":
    main()
