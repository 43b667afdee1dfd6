#!/usr/bin/env python3
"""Collects `make experiment` results (RUNS/eval_<label>/report.json, RUNS/<run>/metrics.jsonl) into
RUNS/results.md, RUNS/results.json and RUNS/results.png (one panel per task, one bar per setting, like the
study's bar charts). Usage: plot_experiment.py RUNS [--quick 0|1] [--meta TEXT]"""
import argparse
import json
import os

SETTINGS = [  # label, training run, what it changes relative to the default
    ("default", "it_default", "CPT legal+general, IT legal+general, Q + Ref => A, system prompt on"),
    ("cpt_legal_only", "it_cpt_legal", "CPT on legal text only"),
    ("it_legal_only", "it_legal_only", "IT on legal conversations only"),
    ("layout_q_a", "it_qa", "law-QA layout Q => A"),
    ("layout_q_a_ref", "it_qa_ref_out", "law-QA layout Q => A + Ref"),
    ("no_system_prompt", "it_default", "no system prompt at inference"),
    ("ref_auto", "it_default", "retrieved statutes (--ref auto) in QA/Complaint/Petition/MC prompts"),
]
TASKS = [("complaint", "Complaint"), ("summary", "Summary"), ("petition", "Petition"), ("qa", "QA"), ("mrc", "MRC"),
         ("mc", "MC")]
ABLATIONS = [  # (question, setting A, setting B): B - A
    ("CPT: legal+general vs legal-only", "cpt_legal_only", "default"),
    ("IT: legal+general vs legal-only", "it_legal_only", "default"),
    ("layout: Q+Ref=>A vs Q=>A", "layout_q_a", "default"),
    ("layout: Q+Ref=>A vs Q=>A+Ref", "layout_q_a_ref", "default"),
    ("system prompt: on vs off", "no_system_prompt", "default"),
    ("retrieval at inference: on vs off", "default", "ref_auto"),
]


def last_val(run_dir):
    """Final validation loss per source from a training run's metrics.jsonl."""
    out = {}
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return out
    for line in open(path, encoding="utf-8"):
        j = json.loads(line)
        if j.get("type") == "val":
            out[j["source"]] = j["loss"]
    return out


def score(rep, task):
    t = rep["tasks"].get(task)
    if not t or not t.get("n"):
        return None
    return 100 * (t["acc_ll"] if task == "mc" else t["rouge_l_f"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("--quick", default="0")
    ap.add_argument("--meta", default="")
    a = ap.parse_args()
    rows = []
    for label, run, what in SETTINGS:
        p = os.path.join(a.runs, f"eval_{label}", "report.json")
        if not os.path.exists(p):
            continue
        rep = json.load(open(p, encoding="utf-8"))
        r = {"label": label, "run": run, "what": what}
        for t, _ in TASKS:
            r[t] = score(rep, t)
        r["mc_ll_norm"] = 100 * rep["tasks"]["mc"]["acc_ll_norm"] if "mc" in rep["tasks"] else None
        r["mc_gen"] = 100 * rep["tasks"]["mc"]["acc_gen"] if "mc" in rep["tasks"] else None
        r["avg"] = None if rep.get("avg") is None else 100 * rep["avg"]
        # Character-token ROUGE-L (eojeol overlap is ~0 for tiny models; characters still separate them).
        cs = []
        for t, _ in TASKS[:5]:
            x = rep["tasks"].get(t, {}).get("rouge_l_f_by_tokens", {}).get("character")
            r[t + "_char"] = None if x is None else 100 * x
            if x is not None:
                cs.append(100 * x)
        r["avg_char"] = sum(cs) / len(cs) if len(cs) == 5 else None
        r["korquad"] = score(rep, "korquad")
        r["general_val_loss"] = rep["general"]["val_loss"]
        r["items_per_task"] = rep["tasks"]["summary"]["n"] if "summary" in rep["tasks"] else None
        r["train_val"] = last_val(os.path.join(a.runs, run))
        rows.append(r)
    cpt = {n: last_val(os.path.join(a.runs, n)) for n in ("base", "cpt_legal", "cpt_mix")}

    f = lambda x, d=2: "—" if x is None else f"{x:.{d}f}"
    md = [f"# make experiment results ({'QUICK' if a.quick == '1' else 'full'})", "", f"`{a.meta}`", "",
          "ROUGE-L F ×100 (eojeol tokens), MC accuracy ×100 (option log-likelihood; per-token / generated letter in "
          "brackets), AVG over the five ROUGE-L tasks; general val = loss (nats/token) of the general-domain "
          "validation shards under the evaluated model.", "",
          "| setting | Complaint | Summary | Petition | QA | MRC | MC | AVG | KorQuAD | general val |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mc = f"{f(r['mc'])} [{f(r['mc_ll_norm'], 0)}/{f(r['mc_gen'], 0)}]"
        md.append(f"| {r['label']} | " + " | ".join(f(r[t]) for t, _ in TASKS[:5]) +
                  f" | {mc} | {f(r['avg'])} | {f(r['korquad'])} | {f(r['general_val_loss'], 4)} |")
    md += ["", "The same generations scored with character tokens (every non-space code point):", "",
           "| setting | Complaint | Summary | Petition | QA | MRC | AVG |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['label']} | " + " | ".join(f(r[t + '_char']) for t, _ in TASKS[:5]) + f" | {f(r['avg_char'])} |")
    md += ["", "Final validation loss per source at the end of each training run (train --val):", "",
           "| run | " + " | ".join(["legal", "general", "it_legal", "it_general"]) + " |", "|---|---|---|---|---|"]
    for name, v in list(cpt.items()) + [(r["run"], r["train_val"]) for r in rows if r["label"] not in ("no_system_prompt", "ref_auto")]:
        md.append(f"| {name} | " + " | ".join(f(v.get(s), 4) for s in ["legal", "general", "it_legal", "it_general"])
                  + " |")
    by = {r["label"]: r for r in rows}
    md += ["", "Ablation differences (the study's preferred setting minus the alternative: positive ΔAVG/ΔMC = the "
           "preferred choice scores higher; negative Δgeneral val loss = it keeps more general-domain ability):",
           "", "| ablation | ΔAVG | ΔAVG (char) | ΔMC | Δgeneral val loss |", "|---|---|---|---|---|"]
    diffs = []
    for q, a_, b_ in ABLATIONS:
        if a_ in by and b_ in by:
            d = lambda k: None if by[a_][k] is None or by[b_][k] is None else by[b_][k] - by[a_][k]
            diffs.append({"ablation": q, "d_avg": d("avg"), "d_avg_char": d("avg_char"), "d_mc": d("mc"),
                          "d_general_val": d("general_val_loss")})
            md.append(f"| {q} | {f(d('avg'))} | {f(d('avg_char'))} | {f(d('mc'))} | {f(d('general_val_loss'), 4)} |")
    open(os.path.join(a.runs, "results.md"), "w", encoding="utf-8").write("\n".join(md) + "\n")
    json.dump({"meta": a.meta, "quick": a.quick == "1", "settings": rows, "pretrain_cpt_val": cpt, "ablations": diffs},
              open(os.path.join(a.runs, "results.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=2)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = TASKS + [("avg", "AVG (ROUGE-L)"), ("general_val_loss", "general val loss (nats/token)")] + \
        [(t + "_char", n + " (char ROUGE-L)") for t, n in TASKS[:5]] + [("avg_char", "AVG (char ROUGE-L)")]
    fig, axes = plt.subplots(4, 4, figsize=(16, 14))
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (k, title) in zip(axes.flat, panels):
        vals = [r[k] if r[k] is not None else 0 for r in rows]
        ax.bar(range(len(rows)), vals, color=[colors[i % len(colors)] for i in range(len(rows))])
        ax.set_title(title)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([r["label"] for r in rows], rotation=45, ha="right", fontsize=8)
        for i, v in enumerate(vals):
            ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
    fig.suptitle(f"beop make experiment ({'QUICK' if a.quick == '1' else 'full'}): {a.meta}", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(a.runs, "results.png"), dpi=110)
    print(f"wrote {a.runs}/results.md, results.json, results.png")


if __name__ == "__main__":
    main()
