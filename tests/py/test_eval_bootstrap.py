"""Oracle for infer eval's bootstrap intervals and baseline rows (legal/eval/bootstrap.h, baselines.h): runs
`./infer eval --model none --baselines` on a few QA / Summary items, then replays the documented resampling in
numpy (splitmix64 from seed 1, index = draw % n, 1,000 resamples, numpy.percentile 2.5 / 97.5) on the per-item
scores the command wrote, and re-scores the copy_input rows with rouge-score. Exit 0 = pass."""
import json
import os
import subprocess
import sys

import numpy as np
from rouge_score import rouge_scorer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join("build", "test_eval_bootstrap_py")
M64 = (1 << 64) - 1


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def interval(groups, resamples=1000, seed=1):
    """Mean of group means; each resample redraws every group in order from one stream."""
    state, means = seed, []
    for _ in range(resamples):
        total = 0.0
        for g in groups:
            s = 0.0
            for _ in range(len(g)):
                state, r = splitmix64(state)
                s += g[r % len(g)]
            total += s / len(g)
        means.append(total / len(groups))
    return np.percentile(means, 2.5), np.percentile(means, 97.5)


def main():
    os.chdir(ROOT)
    for exe in ("./infer", "./prep"):
        if not os.path.isfile(exe):
            fail(f"{exe} is not built")
    os.makedirs(OUT, exist_ok=True)
    idx = os.path.join(OUT, "statutes.idx")
    if not os.path.isfile(idx):
        subprocess.run(["./prep", "index", "--out", idx], check=True, stdout=subprocess.DEVNULL)
    r = subprocess.run(["./infer", "eval", "--model", "none", "--baselines", "--tasks", "summary,qa,mc", "--limit", "12",
                        "--index", idx, "--task-dir", os.path.join(OUT, "no_tasks"), "--out", os.path.join(OUT, "out"),
                        "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        fail("infer eval --model none --baselines: " + r.stderr.strip())
    rep = json.load(open(os.path.join(OUT, "out", "report.json"), encoding="utf-8"))
    names = [b["label"] for b in rep["baselines"]]
    if names != ["baseline: copy_input", "baseline: lead_n", "baseline: retrieve_article"]:
        fail(f"baseline rows {names}")
    sc = rouge_scorer.RougeScorer(["rougeL"], tokenizer=type("T", (), {"tokenize": lambda self, s: s.split()})())
    checked = 0
    for b in rep["baselines"]:
        name = b["label"].split(": ")[1]
        if "mc" in b["tasks"]:
            fail(f"{name}: an MC baseline row")
        groups = []
        for task in ("summary", "qa"):
            items = [json.loads(l) for l in open(os.path.join(OUT, "out", "baseline_" + name, task + ".jsonl"), encoding="utf-8")]
            if len(items) != 12:
                fail(f"{name}/{task}: {len(items)} items, want 12")
            scores = [it["score"] for it in items]
            t = b["tasks"][task]
            if abs(t["rouge_l_f"] - np.mean(scores)) > 1e-12:
                fail(f"{name}/{task}: mean {t['rouge_l_f']} != {np.mean(scores)}")
            lo, hi = interval([scores])
            if abs(t["ci"][0] - lo) > 1e-12 or abs(t["ci"][1] - hi) > 1e-12:
                fail(f"{name}/{task}: interval {t['ci']} != numpy replay [{lo}, {hi}]")
            if not (lo <= t["rouge_l_f"] <= hi):
                fail(f"{name}/{task}: mean outside its interval")
            if name == "copy_input":
                for it in items:
                    f = sc.score(it["reference"], it["prediction"])["rougeL"].fmeasure
                    if abs(f - it["score"]) > 1e-12:
                        fail(f"copy_input {it['id']}: {it['score']} != rouge-score {f}")
            groups.append(scores)
            checked += 1
        # AVG over the two tasks present: the mean of means, tasks resampled from one stream.
        lo, hi = interval(groups)
        if abs(b["avg_ci"][0] - lo) > 1e-12 or abs(b["avg_ci"][1] - hi) > 1e-12:
            fail(f"{name}: AVG interval {b['avg_ci']} != numpy replay [{lo}, {hi}]")
    md = open(os.path.join(OUT, "out", "report.md"), encoding="utf-8").read()
    if "| baseline: copy_input |" not in md or "[" not in md:
        fail("report.md lacks the baseline rows with intervals")
    print(f"ok: {checked} baseline task intervals and 3 AVG intervals equal the numpy replay")


if __name__ == "__main__":
    main()
