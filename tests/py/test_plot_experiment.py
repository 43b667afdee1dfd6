"""scripts/plot_experiment.py on a synthetic RUNS tree with two seeds: seed averaging per item, the paired
bootstrap of ablation differences (a constant per-item shift gives exactly that shift as its interval and is
flagged; a setting against an identical one gives [0, 0], unflagged), baseline rows, the three MC methods, and
the morpheme ROUGE-L column re-checked against rouge-score with a Kiwi tokenizer. Exit 0 = pass."""
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNS = os.path.join(ROOT, "build", "test_plot_experiment")
TASKS = ["complaint", "summary", "petition", "qa", "mrc"]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def write_eval(d, shift, mc_right):
    os.makedirs(d, exist_ok=True)
    rep = {"tasks": {}, "general": {"val_loss": 5.0 + shift}, "avg": None}
    for t in TASKS + ["korquad"]:
        with open(os.path.join(d, t + ".jsonl"), "w", encoding="utf-8") as f:
            for i in range(10):
                s = 0.1 * (i % 4) + shift
                f.write(json.dumps({"id": f"{t}:{i}", "score": s, "rouge": {"character": s},
                                    "reference": "임대인은 보증금을 반환하여야 한다", "prediction": "임대인은 보증금을 돌려준다"},
                                   ensure_ascii=False) + "\n")
        rep["tasks"][t] = {"n": 10}
    with open(os.path.join(d, "mc.jsonl"), "w", encoding="utf-8") as f:
        for i in range(8):
            ok = i < mc_right
            f.write(json.dumps({"id": f"mc:{i}", "answer": "A", "pick_letter": "A" if ok else "B", "pick_ll_byte": "A",
                                "pick_gen": None}) + "\n")
    rep["tasks"]["mc"] = {"n": 8}
    json.dump(rep, open(os.path.join(d, "report.json"), "w"))


def main():
    shutil.rmtree(RUNS, ignore_errors=True)
    for seed in ("1", "2"):
        s = os.path.join(RUNS, "s" + seed)
        write_eval(os.path.join(s, "eval_default"), 0.1, 6)
        write_eval(os.path.join(s, "eval_cpt_legal_only"), 0.0, 2)   # default = this + 0.1 on every item
        write_eval(os.path.join(s, "eval_no_system_prompt"), 0.1, 6)  # identical to default
        write_eval(os.path.join(s, "eval_default", "baseline_copy_input"), 0.05, 0)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "plot_experiment.py"), RUNS, "--seeds", "1 2",
                        "--meta", "synthetic"], capture_output=True, text=True)
    if r.returncode != 0:
        fail("plot_experiment.py: " + r.stderr[-2000:])
    res = json.load(open(os.path.join(RUNS, "results.json"), encoding="utf-8"))
    by = {x["label"]: x for x in res["settings"]}
    if set(by) != {"default", "cpt_legal_only", "no_system_prompt"}:
        fail(f"settings {sorted(by)}")
    # Item scores 0.1 * (i % 4) + 0.1 over i = 0..9: mean 0.1 * 1.3 + 0.1 = 0.23.
    avg = by["default"]["rouge:avg"]
    if abs(avg[0] - 23.0) > 1e-9 or not avg[1][0] <= 23.0 <= avg[1][1]:
        fail(f"default AVG {avg}")
    if abs(by["default"]["mc_letter"][0] - 75.0) > 1e-9 or abs(by["default"]["mc_ll_byte"][0] - 100.0) > 1e-9 or \
            by["default"]["mc_gen"][0] != 0.0:
        fail(f"MC methods {by['default']['mc_letter']} {by['default']['mc_ll_byte']} {by['default']['mc_gen']}")
    d = {x["ablation"]: x for x in res["ablations"]}
    cpt = d["CPT: legal+general vs legal-only"]["d_avg"]
    if abs(cpt[0] - 10.0) > 1e-9 or abs(cpt[1][0] - 10.0) > 1e-9 or abs(cpt[1][1] - 10.0) > 1e-9:
        fail(f"constant +0.1 shift: {cpt}")
    sp = d["system prompt: on vs off"]["d_avg"]
    if sp != [0.0, [0.0, 0.0]]:
        fail(f"identical settings: {sp}")
    md = open(os.path.join(RUNS, "results.md"), encoding="utf-8").read()
    if "**+10.00 [+10.00, +10.00]**" not in md or "| system prompt: on vs off | +0.00 [+0.00, +0.00] |" not in md:
        fail("results.md does not flag the shift / leaves the null difference flagged")
    if not [b for b in res["baselines"] if b["label"] == "baseline: copy_input"]:
        fail("no baseline row")
    if not os.path.getsize(os.path.join(RUNS, "results.png")):
        fail("empty figure")
    try:
        from kiwipiepy import Kiwi
    except ImportError:
        fail("kiwipiepy is not installed in this Python (scripts/install-deps.sh installs it)")
    if not res["morpheme_rouge"]:
        fail("kiwipiepy importable but no morpheme column")
    from rouge_score import rouge_scorer
    kiwi = Kiwi()
    tok = type("K", (), {"tokenize": lambda self, s: [t.form for t in kiwi.tokenize(s)]})()
    want = rouge_scorer.RougeScorer(["rougeL"], tokenizer=tok).score("임대인은 보증금을 반환하여야 한다",
                                                                      "임대인은 보증금을 돌려준다")["rougeL"].fmeasure
    got = by["default"]["morph:qa"][0] / 100
    if abs(got - want) > 1e-9 or not 0 < want < 1:
        fail(f"morpheme ROUGE-L {got} != rouge-score with Kiwi tokens {want}")
    print(f"ok: paired intervals, seeds, baselines, MC methods; morpheme ROUGE-L {got:.4f} = rouge-score's")


if __name__ == "__main__":
    main()
