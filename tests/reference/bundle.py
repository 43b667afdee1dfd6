"""Reader/writer for the "beop-reference-bundle" format (version 1).

A bundle is a directory written by a Python oracle and read by a C++ test:

    DIR/manifest.json   {"format": "beop-reference-bundle", "version": 1,
                         "config": {...}, "optim": {...}, "scalars": {...},
                         "tensors": {NAME: {"dtype": "f32"|"f64"|"i32", "shape": [...],
                                            "offset": BYTES, "nbytes": BYTES}}}
    DIR/tensors.bin     little-endian raw C-order data at those offsets; every offset is 8-byte aligned,
                        gaps are zero padding
    DIR/ok              written last (empty but for a newline); its presence means the bundle is complete

Only numpy and the standard library are used so every oracle (system python or .venv) can import it.
See docs/REFERENCE.md.
"""

import json
import os

import numpy as np

FORMAT = "beop-reference-bundle"
VERSION = 1
ALIGN = 8  # bytes; every tensor starts on a multiple of this so a reader may map f64 directly

# bundle dtype name -> explicit little-endian numpy dtype
DTYPES = {"f32": np.dtype("<f4"), "f64": np.dtype("<f8"), "i32": np.dtype("<i4")}


class BundleError(Exception):
    pass


def _dtype_name(arr):
    for name, dt in DTYPES.items():
        if arr.dtype.kind == dt.kind and arr.dtype.itemsize == dt.itemsize:
            return name
    raise BundleError(f"unsupported dtype {arr.dtype} (bundle holds f32, f64, i32 only)")


def write_bundle(out_dir, tensors, config=None, optim=None, scalars=None):
    """Write tensors (dict name -> numpy array of f32/f64/i32) and the JSON sections into out_dir.

    The old 'ok' marker is removed first and written again only after both files are complete and renamed
    into place, so a reader never mistakes a half-written bundle for a finished one.
    """
    os.makedirs(out_dir, exist_ok=True)
    ok_path = os.path.join(out_dir, "ok")
    if os.path.exists(ok_path):
        os.remove(ok_path)

    entries = {}
    offset = 0
    bin_tmp = os.path.join(out_dir, "tensors.bin.tmp")
    with open(bin_tmp, "wb") as f:
        for name, arr in tensors.items():
            arr = np.asarray(arr)
            dname = _dtype_name(arr)
            data = np.ascontiguousarray(arr, dtype=DTYPES[dname]).tobytes(order="C")
            pad = (-offset) % ALIGN
            if pad:
                f.write(b"\0" * pad)
                offset += pad
            entries[name] = {"dtype": dname, "shape": [int(s) for s in arr.shape],
                             "offset": offset, "nbytes": len(data)}
            f.write(data)
            offset += len(data)

    manifest = {"format": FORMAT, "version": VERSION,
                "config": config or {}, "optim": optim or {}, "scalars": scalars or {},
                "tensors": entries}
    man_tmp = os.path.join(out_dir, "manifest.json.tmp")
    with open(man_tmp, "w") as f:
        # json writes floats with repr(), which round-trips float64 exactly
        json.dump(manifest, f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(bin_tmp, os.path.join(out_dir, "tensors.bin"))
    os.replace(man_tmp, os.path.join(out_dir, "manifest.json"))
    with open(ok_path, "w") as f:
        f.write("ok\n")
    return manifest


def read_bundle(in_dir):
    """Return (manifest dict, dict name -> numpy array). Raises BundleError with a one-line message."""
    if not os.path.exists(os.path.join(in_dir, "ok")):
        raise BundleError(f"{in_dir}: no 'ok' marker (bundle missing or incomplete)")
    man_path = os.path.join(in_dir, "manifest.json")
    bin_path = os.path.join(in_dir, "tensors.bin")
    try:
        with open(man_path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise BundleError(f"{man_path}: cannot read manifest: {e}")
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{man_path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("version") != VERSION:
        raise BundleError(f"{man_path}: version {manifest.get('version')!r}, expected {VERSION}")
    with open(bin_path, "rb") as f:
        blob = f.read()
    tensors = {}
    for name, e in manifest.get("tensors", {}).items():
        if e.get("dtype") not in DTYPES:
            raise BundleError(f"{man_path}: tensor {name}: unknown dtype {e.get('dtype')!r}")
        dt = DTYPES[e["dtype"]]
        shape = tuple(int(s) for s in e["shape"])
        off, nb = int(e["offset"]), int(e["nbytes"])
        count = int(np.prod(shape, dtype=np.int64))
        if nb != count * dt.itemsize:
            raise BundleError(f"{man_path}: tensor {name}: nbytes {nb} != {count} x {dt.itemsize} for shape {list(shape)}")
        if off % ALIGN or off < 0 or off + nb > len(blob):
            raise BundleError(f"{bin_path}: tensor {name}: bytes [{off}, {off + nb}) misaligned or past end {len(blob)}")
        tensors[name] = np.frombuffer(blob, dtype=dt, count=count, offset=off).reshape(shape)
    return manifest, tensors


if __name__ == "__main__":
    # Round-trip self-check: python3 tests/reference/bundle.py
    import tempfile
    rng = np.random.default_rng(0)
    src = {"a": rng.standard_normal((3, 5)).astype(np.float32),   # 60 bytes -> next offset padded to 64
           "b": rng.standard_normal(7),
           "c": rng.integers(-5, 5, size=(2, 3, 1)).astype(np.int32),
           "empty": np.zeros((0, 4), np.float64)}
    with tempfile.TemporaryDirectory() as d:
        write_bundle(d, src, config={"x": 1}, scalars={"pi": 3.141592653589793})
        man, got = read_bundle(d)
        assert man["scalars"]["pi"] == 3.141592653589793
        for k, v in src.items():
            assert got[k].dtype == v.dtype.newbyteorder("<") and got[k].shape == v.shape, k
            assert np.array_equal(got[k], v), k
            assert man["tensors"][k]["offset"] % ALIGN == 0, k
    print("bundle round-trip ok")
