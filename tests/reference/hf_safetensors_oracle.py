"""Oracle for beop's safetensors reader/writer: the `safetensors` PyPI package (the reference implementation).

    .venv/bin/python tests/reference/hf_safetensors_oracle.py write DIR
        DIR/f32.safetensors, f16.safetensors, bf16.safetensors written by safetensors.numpy / safetensors.torch,
        DIR/same.safetensors (tensors "a", "b" of expected.a/expected.b, metadata {"format": "pt"}), and a bundle
        DIR/expected with each tensor's float32 value as converted by numpy / torch (not by beop).
    .venv/bin/python tests/reference/hf_safetensors_oracle.py read FILE OUT
        loads FILE (written by beop) with safetensors and writes every tensor as float32 into the bundle OUT,
        plus its metadata (config.metadata) and dtypes (config.dtypes).
    .venv/bin/python tests/reference/hf_safetensors_oracle.py refuses FILE...
        exit 0 if the reference reader refuses every FILE (prints each refusal), else exit 1 naming the first
        FILE it loads: malformed-file tests check that beop refuses what the reference refuses.
"""
import os
import sys

import numpy as np
import torch
from safetensors.numpy import load_file as np_load, save_file as np_save
from safetensors import safe_open
from safetensors.numpy import load as safe_load
from safetensors.torch import save_file as torch_save

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bundle import write_bundle  # noqa: E402

SPECIAL = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 1e-40, -3e-39, 65504.0, 6e-8, 3.0e38],
                   dtype=np.float32)


def write(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    f32 = {"w": rng.standard_normal((5, 7)).astype(np.float32), "special": SPECIAL, "scalar": np.array(3.5, np.float32),
           "empty": np.zeros((0, 4), np.float32)}
    np_save(f32, os.path.join(out, "f32.safetensors"), metadata={"format": "np", "note": "\u00fc\ud55c"})
    with np.errstate(over="ignore"):  # 3e38 -> inf in half precision, on purpose
        f16 = {"h": rng.standard_normal((3, 11)).astype(np.float16), "special": SPECIAL.astype(np.float16),
               "all": np.arange(65536, dtype=np.uint16).view(np.float16)}  # every half-precision bit pattern
    np_save(f16, os.path.join(out, "f16.safetensors"))
    bf_src = rng.standard_normal((4, 9)).astype(np.float32)
    bf_src[0, :4] = [1.00390625, 1.01171875, -1.00390625, 3.0e38]  # ties (round to even) and overflow to inf
    bf = {"b": torch.from_numpy(bf_src).to(torch.bfloat16),  # torch's round-to-nearest-even
          "special": torch.from_numpy(SPECIAL).to(torch.bfloat16),
          "all": torch.from_numpy(np.arange(65536, dtype=np.int32).astype(np.int16)).view(torch.bfloat16)}
    torch_save(bf, os.path.join(out, "bf16.safetensors"))
    same = {"a": rng.standard_normal((2, 3)).astype(np.float32), "b": rng.standard_normal((4,)).astype(np.float32)}
    np_save(same, os.path.join(out, "same.safetensors"), metadata={"format": "pt"})
    expected = {}
    for k, v in f32.items():
        expected["f32." + k] = v
    for k, v in f16.items():
        expected["f16." + k] = v.astype(np.float32)  # numpy's exact half -> float conversion
    for k, v in bf.items():
        expected["bf16." + k] = v.to(torch.float32).numpy()  # torch's exact bf16 -> float conversion
    expected["bf16src.b"] = bf_src
    for k, v in same.items():
        expected["same." + k] = v
    write_bundle(os.path.join(out, "expected"), expected)


def read(path, out):
    tensors = {}
    dtypes = {}
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        for k in f.keys():
            t = f.get_tensor(k)
            dtypes[k] = str(t.dtype)
            tensors[k] = t.to(torch.float32).numpy()
    if all(d == "torch.float32" for d in dtypes.values()):
        for k, v in np_load(path).items():  # the numpy loader too, for the f32 files
            assert np.array_equal(v.view(np.uint32), tensors[k].view(np.uint32)), k
    write_bundle(out, tensors, config={"metadata": meta, "dtypes": dtypes})


def refuses(paths):
    for path in paths:
        try:
            with open(path, "rb") as fh:
                tensors = safe_load(fh.read())
        except Exception as e:  # SafetensorError: the reference's refusal
            print(f"{path}: refused: {type(e).__name__}: {e}")
            continue
        sys.exit(f"{path}: the reference reader loads it ({len(tensors)} tensors)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "read":
        read(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "refuses":
        refuses(sys.argv[2:])
    else:
        sys.exit(__doc__)
