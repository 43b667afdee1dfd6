#!/usr/bin/env python3
"""Collects `make experiment` results into RUNS/results.md, RUNS/results.json and RUNS/results.png.

Layout read: RUNS/s<seed>/eval_<label>/{report.json,<task>.jsonl} (infer eval), RUNS/s<seed>/<run>/metrics.jsonl and
RUNS/base/metrics.jsonl (train), and the baseline rows of the first seed's default evaluation
(RUNS/s<seed>/eval_default/baseline_<name>/<task>.jsonl, infer eval --baselines).

Statistics (docs/EXPERIMENTS.md): a setting's score on an item is averaged over the seeds first; a task score is
the mean over items with a percentile-bootstrap 95% interval over items (1,000 resamples); AVG resamples every
task's items. A difference between two settings is paired: the same resampled items for both, so the interval of
B - A is computed, and "within noise" means that interval contains 0. Validation losses have no items: their
spread is the range over seeds. With kiwipiepy importable (the venv), a morpheme-level ROUGE-L column (Kiwi
morphemes as tokens, rouge-score's LCS formula) is added beside the eojeol and character ones.
Usage: plot_experiment.py RUNS [--quick 0|1] [--seeds "1 2 3"] [--meta TEXT]"""
import argparse
import json
import os

import numpy as np

SETTINGS = [  # label, training run, what it changes relative to the default
    ("default", "it_default", "PLM > CPT (legal+general) > IT (legal+general, Q + Ref => A), system prompt on"),
    ("cpt_legal_only", "it_cpt_legal", "CPT on legal text only"),
    ("it_legal_only", "it_legal_only", "IT on legal conversations only"),
    ("layout_q_a", "it_qa", "law-QA layout Q => A"),
    ("layout_q_a_ref", "it_qa_ref_out", "law-QA layout Q => A + Ref"),
    ("plm_it", "it_plm", "PLM > IT: no CPT"),
    ("sft_it", "it_sft", "PLM > SFT (general chat) > IT: no CPT"),
    ("no_system_prompt", "it_default", "no system prompt at inference"),
    ("ref_auto", "it_default", "retrieved statutes (--ref auto) in QA/Complaint/Petition/MC prompts"),
]
ROUGE_TASKS = [("complaint", "Complaint"), ("summary", "Summary"), ("petition", "Petition"), ("qa", "QA"),
               ("mrc", "MRC")]
ABLATIONS = [  # (question, setting A, setting B): B - A, B = the study's preferred setting
    ("CPT: legal+general vs legal-only", "cpt_legal_only", "default"),
    ("IT: legal+general vs legal-only", "it_legal_only", "default"),
    ("layout: Q+Ref=>A vs Q=>A", "layout_q_a", "default"),
    ("layout: Q+Ref=>A vs Q=>A+Ref", "layout_q_a_ref", "default"),
    ("start: PLM>CPT>IT vs PLM>IT", "plm_it", "default"),
    ("start: PLM>SFT>IT vs PLM>IT", "plm_it", "sft_it"),
    ("system prompt: on vs off", "no_system_prompt", "default"),
    ("retrieval at inference: on vs off", "default", "ref_auto"),
]
BASELINES = ["copy_input", "lead_n", "retrieve_article"]
B = 1000


def last_val(run_dir):
    """Final validation loss per source from a training run's metrics.jsonl."""
    out = {}
    path = os.path.join(run_dir, "metrics.jsonl")
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            j = json.loads(line)
            if j.get("type") == "val":
                out[j["source"]] = j["loss"]
    return out


def read_items(path):
    return [json.loads(l) for l in open(path, encoding="utf-8")] if os.path.exists(path) else []


class Morph:
    """Morpheme ROUGE-L (kiwipiepy), or None when it is not installed."""

    def __init__(self):
        try:
            from kiwipiepy import Kiwi
            self.kiwi = Kiwi()
        except Exception:  # not installed (system python): the column is left out
            self.kiwi = None
        self.cache = {}

    def toks(self, s):
        if s not in self.cache:
            self.cache[s] = [t.form for t in self.kiwi.tokenize(s)]
        return self.cache[s]

    def rouge_l(self, ref, pred):
        a, b = self.toks(ref), self.toks(pred)
        if not a or not b:
            return 0.0
        prev = [0] * (len(b) + 1)
        for x in a:
            cur = [0]
            for j, y in enumerate(b):
                cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
            prev = cur
        lcs = prev[-1]
        if lcs == 0:
            return 0.0
        p, r = lcs / len(b), lcs / len(a)
        return 2 * p * r / (p + r)


def item_scores(eval_dir, morph):
    """{metric: {task: {id: score}}} for one evaluation directory."""
    out = {"rouge": {}, "char": {}, "morph": {}, "mc_letter": {}, "mc_ll_byte": {}, "mc_gen": {}, "korquad": {}}
    for t, _ in ROUGE_TASKS + [("korquad", "KorQuAD")]:
        items = read_items(os.path.join(eval_dir, t + ".jsonl"))
        key = "korquad" if t == "korquad" else "rouge"
        out[key][t] = {it["id"]: it["score"] for it in items}
        if t != "korquad":
            out["char"][t] = {it["id"]: it.get("rouge", {}).get("character", 0.0) for it in items}
            if morph.kiwi is not None:
                out["morph"][t] = {it["id"]: morph.rouge_l(it["reference"], it["prediction"]) for it in items}
    for it in read_items(os.path.join(eval_dir, "mc.jsonl")):
        for m, k in (("mc_letter", "pick_letter"), ("mc_ll_byte", "pick_ll_byte"), ("mc_gen", "pick_gen")):
            out[m].setdefault("mc", {})[it["id"]] = float(it.get(k) is not None and it.get(k) == it["answer"])
    return out


def seed_mean(per_seed, metric, task):
    """{id: mean over seeds} over the items every seed has."""
    dicts = [s[metric].get(task, {}) for s in per_seed]
    if not dicts or not all(dicts):
        return {}
    ids = sorted(set.intersection(*(set(d) for d in dicts)))
    return {i: float(np.mean([d[i] for d in dicts])) for i in ids}


def boot(groups_a, groups_b=None):
    """Percentile-bootstrap 95% interval of the mean of group means (of B - A when groups_b is given, paired)."""
    rng = np.random.default_rng(1)
    reps = np.zeros(B)
    used = 0
    for gi, a in enumerate(groups_a):
        a = np.asarray(a, dtype=float)
        if a.size == 0:
            continue
        x = a if groups_b is None else np.asarray(groups_b[gi], dtype=float) - a
        idx = rng.integers(0, x.size, size=(B, x.size))
        reps += x[idx].mean(axis=1)
        used += 1
    if used == 0:
        return None
    reps /= used
    return float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("--quick", default="0")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--meta", default="")
    a = ap.parse_args()
    seeds = a.seeds.split()
    morph = Morph()
    metrics = ["rouge", "char"] + (["morph"] if morph.kiwi is not None else [])
    data = {}  # label -> {"per_seed": [...], "reports": [...]}
    for label, run, what in SETTINGS:
        per, reps = [], []
        for s in seeds:
            d = os.path.join(a.runs, "s" + s, "eval_" + label)
            if os.path.exists(os.path.join(d, "report.json")):
                per.append(item_scores(d, morph))
                reps.append(json.load(open(os.path.join(d, "report.json"), encoding="utf-8")))
        if per:
            data[label] = {"per_seed": per, "reports": reps, "run": run, "what": what}
    # Baselines: the first seed's default evaluation (no model: seed-free).
    base_rows = {}
    d0 = os.path.join(a.runs, "s" + seeds[0], "eval_default")
    for name in BASELINES:
        bd = os.path.join(d0, "baseline_" + name)
        if os.path.isdir(bd):
            base_rows[name] = item_scores(bd, morph)

    def row_of(per_seed):
        r = {}
        for m in metrics:
            groups = []
            for t, _ in ROUGE_TASKS:
                sm = seed_mean(per_seed, m, t)
                v = list(sm.values())
                r[f"{m}:{t}"] = (100 * np.mean(v), [100 * x for x in boot([v])]) if v else None
                groups.append(v)
            ci = boot(groups)
            present = [g for g in groups if g]
            r[f"{m}:avg"] = (100 * np.mean([np.mean(g) for g in present]), [100 * x for x in ci]) if present else None
        for m in ("mc_letter", "mc_ll_byte", "mc_gen"):
            v = list(seed_mean(per_seed, m, "mc").values())
            r[m] = (100 * np.mean(v), [100 * x for x in boot([v])]) if v else None
        v = list(seed_mean(per_seed, "korquad", "korquad").values())
        r["korquad"] = (100 * np.mean(v), [100 * x for x in boot([v])]) if v else None
        return r

    rows = []
    for label, _, _ in SETTINGS:
        if label not in data:
            continue
        d = data[label]
        r = {"label": label, "run": d["run"], "what": d["what"], "seeds": len(d["per_seed"])}
        r.update(row_of(d["per_seed"]))
        gv = [rep["general"]["val_loss"] for rep in d["reports"] if rep["general"]["val_loss"] is not None]
        r["general_val_loss"] = (float(np.mean(gv)), [min(gv), max(gv)]) if gv else None
        r["items"] = {t: rep["tasks"][t]["n"] for rep in d["reports"][:1] for t in rep["tasks"]}
        r["train_val"] = [last_val(os.path.join(a.runs, "s" + s, d["run"])) for s in seeds]
        rows.append(r)
    brows = []
    for name, sc in base_rows.items():
        r = {"label": "baseline: " + name}
        r.update(row_of([sc]))
        brows.append(r)

    def f(x, dgt=2):
        return "—" if x is None else f"{x:.{dgt}f}"

    def cell(v, dgt=2):
        return "—" if v is None else f"{v[0]:.{dgt}f} [{v[1][0]:.{dgt}f}, {v[1][1]:.{dgt}f}]"

    kind = "QUICK" if a.quick == "1" else "full"
    md = [f"# make experiment results ({kind}, seeds {' '.join(seeds)})", "", f"`{a.meta}`", "",
          "Scores ×100 with percentile-bootstrap 95% intervals over items [lo, hi] (item scores averaged over the "
          "seeds first). ROUGE-L F with eojeol tokens; MC accuracy by the answer letter's probability (KMMLU "
          "convention); AVG over the five ROUGE-L tasks; general val = loss (nats/token) of the general-domain "
          "validation shards under the evaluated model, mean [min, max] over seeds. Baseline rows: no model, the "
          "same items.", "",
          "| setting | Complaint | Summary | Petition | QA | MRC | MC | AVG | KorQuAD | general val |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows + brows:
        gv = r.get("general_val_loss")
        md.append(f"| {r['label']} | " + " | ".join(cell(r.get(f'rouge:{t}')) for t, _ in ROUGE_TASKS) +
                  f" | {cell(r.get('mc_letter'))} | {cell(r.get('rouge:avg'))} | {cell(r.get('korquad'))} | "
                  f"{'—' if gv is None else f'{gv[0]:.4f} [{gv[1][0]:.4f}, {gv[1][1]:.4f}]'} |")
    md += ["", "MC accuracy three ways (letter probability / log-likelihood per byte of the option / generated "
           "letter), ×100 with 95% intervals:", "", "| setting | letter prob | LL per byte | generated letter |",
           "|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['label']} | {cell(r['mc_letter'])} | {cell(r['mc_ll_byte'])} | {cell(r['mc_gen'])} |")
    for m, title in (("char", "character tokens (every non-space code point)"),
                     ("morph", "morphemes (kiwipiepy's Kiwi analyser; a report-side column)")):
        if m not in metrics:
            continue
        md += ["", f"The same generations, ROUGE-L F with {title}:", "",
               "| setting | Complaint | Summary | Petition | QA | MRC | AVG |", "|---|---|---|---|---|---|---|"]
        for r in rows + brows:
            md.append(f"| {r['label']} | " + " | ".join(cell(r.get(f'{m}:{t}')) for t, _ in ROUGE_TASKS) +
                      f" | {cell(r.get(f'{m}:avg'))} |")
    if morph.kiwi is None:
        md += ["", "(No morpheme column: kiwipiepy is not importable by this Python.)"]
    md += ["", "Final validation loss per source at the end of each training run (train --val), mean over seeds:", "",
           "| run | legal | general | it_legal | it_general |", "|---|---|---|---|---|"]
    srcs = ["legal", "general", "it_legal", "it_general"]
    base = last_val(os.path.join(a.runs, "base"))
    md.append("| base | " + " | ".join(f(base.get(s), 4) for s in srcs) + " |")
    runs_seen = set()
    train_val = {"base": base}
    for run in ["cpt_legal", "cpt_mix", "sft_general"] + [r["run"] for r in rows]:
        if run in runs_seen:
            continue
        runs_seen.add(run)
        vals = [last_val(os.path.join(a.runs, "s" + s, run)) for s in seeds]
        mean = {s: float(np.mean([v[s] for v in vals if s in v])) for s in srcs if any(s in v for v in vals)}
        if mean:
            train_val[run] = mean
            md.append(f"| {run} | " + " | ".join(f(mean.get(s), 4) for s in srcs) + " |")

    # Paired differences.
    md += ["", "Ablation differences B − A (B = the study's preferred setting), paired bootstrap 95% intervals over "
           "items; **bold** = the interval excludes 0 (not within noise). Δ general val: mean over seeds [min, max "
           "of the per-seed differences]; negative = B keeps more general-domain ability.", "",
           "| ablation | ΔAVG (eojeol) | ΔAVG (char) | ΔMC (letter) | Δgeneral val loss |", "|---|---|---|---|---|"]
    diffs = []

    def paired(la, lb, metric, tasks):
        ga, gb, pa, pb = [], [], [], []
        for t in tasks:
            sa, sb = seed_mean(data[la]["per_seed"], metric, t), seed_mean(data[lb]["per_seed"], metric, t)
            ids = sorted(set(sa) & set(sb))
            if ids:
                ga.append([sa[i] for i in ids])
                gb.append([sb[i] for i in ids])
                pa.append(np.mean(ga[-1]))
                pb.append(np.mean(gb[-1]))
        if not ga:
            return None
        ci = boot(ga, gb)
        return 100 * (np.mean(pb) - np.mean(pa)), [100 * ci[0], 100 * ci[1]]

    def dcell(v, dgt=2):
        if v is None:
            return "—"
        s = f"{v[0]:+.{dgt}f} [{v[1][0]:+.{dgt}f}, {v[1][1]:+.{dgt}f}]"
        return f"**{s}**" if v[1][0] > 0 or v[1][1] < 0 else s

    rt = [t for t, _ in ROUGE_TASKS]
    for q, la, lb in ABLATIONS:
        if la not in data or lb not in data:
            continue
        dv = {"ablation": q, "a": la, "b": lb, "d_avg": paired(la, lb, "rouge", rt), "d_avg_char": paired(la, lb, "char", rt),
              "d_mc_letter": paired(la, lb, "mc_letter", ["mc"])}
        if "morph" in metrics:
            dv["d_avg_morph"] = paired(la, lb, "morph", rt)
        ga = [rep["general"]["val_loss"] for rep in data[la]["reports"]]
        gb = [rep["general"]["val_loss"] for rep in data[lb]["reports"]]
        per = [y - x for x, y in zip(ga, gb) if x is not None and y is not None]
        dv["d_general_val"] = (float(np.mean(per)), [min(per), max(per)]) if per else None
        diffs.append(dv)
        g = dv["d_general_val"]
        md.append(f"| {q} | {dcell(dv['d_avg'])} | {dcell(dv['d_avg_char'])} | {dcell(dv['d_mc_letter'])} | "
                  f"{'—' if g is None else f'{g[0]:+.4f} [{g[1][0]:+.4f}, {g[1][1]:+.4f}]'} |")
    open(os.path.join(a.runs, "results.md"), "w", encoding="utf-8").write("\n".join(md) + "\n")
    json.dump({"meta": a.meta, "quick": a.quick == "1", "seeds": seeds, "settings": rows, "baselines": brows,
               "train_val": train_val, "ablations": diffs, "morpheme_rouge": morph.kiwi is not None},
              open(os.path.join(a.runs, "results.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    plot(a, rows, brows, diffs, kind, seeds)
    print(f"wrote {a.runs}/results.md, results.json, results.png")


def plot(a, rows, brows, diffs, kind, seeds):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [(f"rouge:{t}", n) for t, n in ROUGE_TASKS] + [("mc_letter", "MC (letter prob.)"), ("rouge:avg", "AVG (ROUGE-L)"),
                                                           ("char:avg", "AVG (char ROUGE-L)")]
    fig, axes = plt.subplots(3, 4, figsize=(18, 13))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = [r["label"] for r in rows]
    for ax, (k, title) in zip(axes.flat, panels):
        vals = [r[k][0] if r.get(k) else 0 for r in rows]
        err = np.maximum(0, np.array([[r[k][0] - r[k][1][0], r[k][1][1] - r[k][0]] if r.get(k) else [0, 0]
                                      for r in rows]).T)  # rounding can put a mean a hair outside its interval
        ax.bar(range(len(rows)), vals, yerr=err, capsize=3, color=[colors[i % len(colors)] for i in range(len(rows))])
        for j, b in enumerate(brows):
            if b.get(k):
                ax.axhline(b[k][0], ls="--", lw=1, color="k", alpha=0.3 + 0.2 * j)
                ax.text(len(rows) - 0.5, b[k][0], b["label"].split(": ")[1], fontsize=6, va="bottom", ha="right")
        if k == "mc_letter":
            ax.axhline(25, ls=":", color="r", lw=1)
            ax.text(len(rows) - 0.5, 25, "chance", fontsize=6, color="r", ha="right")
        ax.set_title(title)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax = axes.flat[len(panels)]
    gv = [r["general_val_loss"][0] if r.get("general_val_loss") else 0 for r in rows]
    ax.bar(range(len(rows)), gv, color=[colors[i % len(colors)] for i in range(len(rows))])
    ax.set_title("general val loss (nats/token)")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    for k, title, pos in (("d_avg_char", "ablations: ΔAVG char ROUGE-L (B − A), 95% CI", len(panels) + 1),
                          ("d_mc_letter", "ablations: ΔMC letter (B − A), 95% CI", len(panels) + 2)):
        ax = axes.flat[pos]
        ds = [d for d in diffs if d.get(k)]
        y = np.arange(len(ds))
        xerr = np.maximum(0, np.array([[d[k][0] - d[k][1][0], d[k][1][1] - d[k][0]] for d in ds]).T) if ds else None
        ax.errorbar([d[k][0] for d in ds], y, xerr=xerr, fmt="o", capsize=3)
        ax.axvline(0, color="k", lw=1)
        ax.set_yticks(y)
        ax.set_yticklabels([d["ablation"] for d in ds], fontsize=7)
        ax.set_title(title, fontsize=9)
    axes.flat[-1].axis("off")
    fig.suptitle(f"beop make experiment ({kind}, seeds {' '.join(seeds)}): {a.meta}", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(a.runs, "results.png"), dpi=100)


if __name__ == "__main__":
    main()
