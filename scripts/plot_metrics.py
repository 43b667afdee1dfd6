#!/usr/bin/env python3
"""Plot a training run: train loss per step and validation loss per source (the forgetting view).

    /usr/bin/python3 scripts/plot_metrics.py RUN_DIR [RUN_DIR ...] [-o out.png]

Reads RUN_DIR/metrics.jsonl (written by ./train) and writes RUN_DIR/metrics.png (or -o). With several run
directories (e.g. pretrain -> CPT -> IT), steps are laid end to end so the stages read as one curve.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(run):
    path = os.path.join(run, "metrics.jsonl")
    train, val = [], {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                j = json.loads(line)
            except json.JSONDecodeError:
                sys.exit(f"error: {path}:{n}: not JSON")
            if j.get("type") == "train":
                train.append((j["step"], j["loss"]))
            elif j.get("type") == "val" and j.get("loss") is not None:
                val.setdefault(j["source"], []).append((j["step"], j["loss"]))
    return train, val


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("-o", "--out")
    a = ap.parse_args()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    offset = 0
    colors = {}
    for run in a.runs:
        if not os.path.exists(os.path.join(run, "metrics.jsonl")):
            sys.exit(f"error: {run}/metrics.jsonl does not exist")
        train, val = read(run)
        name = os.path.basename(os.path.normpath(run))
        if train:
            ax1.plot([offset + s for s, _ in train], [l for _, l in train], lw=0.8, label=name)
        for src, pts in sorted(val.items()):
            c = colors.setdefault(src, f"C{len(colors)}")
            ax2.plot([offset + s for s, _ in pts], [l for _, l in pts], "o-", ms=3, color=c,
                     label=src if offset == 0 else None)
        last = max([s for s, _ in train] + [0])
        if len(a.runs) > 1:
            for ax in (ax1, ax2):
                ax.axvline(offset + last, color="gray", lw=0.5, ls="--")
                ax.text(offset + 1, ax.get_ylim()[1], name, fontsize=8, va="top")
        offset += last
    ax1.set(title="train loss", xlabel="step", ylabel="loss")
    ax2.set(title="validation loss per source", xlabel="step", ylabel="loss")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    out = a.out or os.path.join(a.runs[-1], "metrics.png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
