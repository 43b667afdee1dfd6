"""Every rule that runs a compiler waits for `deps` (scripts/install-deps.sh).

Issue #14: on a fresh machine a parallel `make all` compiled cuda/backend.cu with nvcc before install-deps had
installed nlohmann-json, because the nvcc pattern rule lacked the order-only `| deps`. Only a machine without
the dependencies shows such a bug, so this test reads make's own database instead (`make -pnrR`, a dry run:
nothing is built, a fraction of a second) and checks:

  1. every pattern rule whose recipe compiles (`-c` with $(CXX)/$(CC)/$(NVCC)/g++/nvcc) has `deps` among its
     ORDER-ONLY prerequisites (a normal prerequisite on a phony target would rebuild everything every time);
  2. every file target that make would build for the phony goals (all, test, bench, sanitize, fuzz, ...) and
     whose recipe runs a compiler or the archiver has `deps` among its prerequisites, directly or through
     other targets (make finishes every prerequisite, order-only ones too, before a recipe starts), and never
     as a normal prerequisite.

It reads the Makefile and every .mk it includes (cuda/cuda.mk, fuzz/fuzz.mk, ...), with BUILD pointed at an
empty directory (no stale .d files) and NVCC=/bin/true so the nvcc rules are read whether or not nvcc is
installed. A self-check first adds a compile rule without `deps` and requires the check to name it, so the
test cannot pass by reading nothing.
"""
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMPILER = re.compile(r"\$\((CXX|CC|NVCC)\)|\$\{(CXX|CC|NVCC)\}|(^|[\s@/])(g\+\+|gcc|nvcc|clang\+\+|clang)(\s|$)")
ARCHIVER = re.compile(r"(^|[\s@])(ar|\$\(AR\))\s+r")
VARIABLE = re.compile(r"^\s*(?:(?:export|override|private)\s+)*[A-Za-z_.][A-Za-z0-9_.]*\s*(::=|:=|\+=|\?=|!=|=)")
SKIP_GOALS = {"clean", "deps"}


def make_db(build_dir, goals, extra_makefiles=()):
    cmd = ["make", "-pnrR", "-f", "Makefile"]
    for mk in extra_makefiles:
        cmd += ["-f", mk]
    cmd += ["BUILD=" + build_dir, "NVCC=/bin/true"] + list(goals)
    env = dict(os.environ, MAKEFLAGS="")
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        sys.exit("FAIL: %s exited %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()[-2000:]))
    return r.stdout


def parse_db(text):
    """Rules from make's database: (target, normal prereqs, order-only prereqs, recipe lines, origin, is_pattern,
    considered). `considered`: make looked at the file for the goals (a file only named as a prerequisite of an
    unused target, e.g. the sub-make's copy of train's CUDA archive, has unresolved prerequisites)."""
    rules = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line or line[0] in "#\t " or ":" not in line:
            continue
        # "target: prereqs | order-only"; skip variable lines and target-specific variables.
        m = re.match(r"^(.+?):(:?)(?:\s(.*))?$", line)
        if not m or line.startswith("define ") or VARIABLE.match(line):
            continue
        target, rest = m.group(1), m.group(3) or ""
        if VARIABLE.match(rest):
            continue
        normal, _, order = rest.partition("|")
        recipe, origin, considered = [], "", False
        while i < len(lines) and lines[i] != "":
            body = lines[i]
            if body.startswith("\t"):
                recipe.append(body[1:])
            elif body.startswith("#  Implicit rule search has been done") or body.startswith("#  File has been updated"):
                considered = True
            else:
                o = re.search(r"recipe to execute \(from '([^']+)', line (\d+)\)", body)
                if o:
                    origin = "%s:%s" % (o.group(1), o.group(2))
            i += 1
        rules.append((target, normal.split(), order.split(), recipe, origin, "%" in target, considered))
    return rules


def runs(recipe, pattern):
    return any(pattern.search(r) for r in recipe)


def compiles(recipe):
    return any(COMPILER.search(r) and re.search(r"(^|\s)-c(\s|$)", r) for r in recipe)


def problems(rules):
    out = []
    files = {}
    for target, normal, order, recipe, origin, is_pattern, considered in rules:
        if is_pattern:
            if "deps" in normal:
                out.append("pattern rule %s (%s) has `deps` as a NORMAL prerequisite (rebuilds every time); "
                           "make it order-only: `| deps`" % (target, origin))
            elif compiles(recipe) and "deps" not in order:
                out.append("pattern rule %s: %s (%s) compiles without the order-only `| deps` prerequisite"
                           % (target, " ".join(normal), origin))
        else:
            # A target can appear in several entries (target-specific variables, extra prerequisites).
            f = files.setdefault(target, {"pre": [], "normal": [], "recipe": [], "origin": "", "considered": False})
            f["considered"] |= considered
            f["pre"] += normal + order
            f["normal"] += normal
            if recipe:
                f["recipe"], f["origin"] = recipe, origin or f["origin"]

    memo = {}

    def reaches_deps(t, stack=()):
        if t == "deps":
            return True
        if t in memo:
            return memo[t]
        if t in stack or t not in files:
            return False
        memo[t] = any(reaches_deps(p, stack + (t,)) for p in files[t]["pre"])
        return memo[t]

    for target, f in sorted(files.items()):
        if not f["considered"] or not (runs(f["recipe"], COMPILER) or runs(f["recipe"], ARCHIVER)):
            continue
        if "deps" in f["normal"]:
            out.append("%s (%s) has `deps` as a NORMAL prerequisite; make it order-only: `| deps`"
                       % (target, f["origin"]))
        elif not reaches_deps(target):
            out.append("%s (%s) runs a compiler but does not wait for `deps` (no `| deps`, directly or "
                       "through its prerequisites)" % (target, f["origin"]))
    return out


def phony_goals(rules):
    goals = []
    for target, normal, order, *_ in rules:
        if target == ".PHONY":
            goals += [g for g in normal if g not in SKIP_GOALS and g not in goals]
    return goals


def main():
    with tempfile.TemporaryDirectory() as tmp:
        build = os.path.join(tmp, "build")
        # Self-check: a compile pattern rule and a link rule without `deps` must both be named.
        bad = os.path.join(tmp, "bad.mk")
        with open(bad, "w") as f:
            f.write("$(BUILD)/selfcheck/%.o: %.cpp\n\t$(CXX) $(CXXFLAGS) -c $< -o $@\n"
                    "selfcheck_bin: src/selfcheck_main.o\n\t$(CXX) $^ -o $@\n"
                    "src/selfcheck_main.o:\n\ttouch $@\n")
        found = problems(parse_db(make_db(build, ["all", "selfcheck_bin"], [bad])))
        want = ["pattern rule %s/selfcheck/%%.o" % build, "selfcheck_bin ("]
        missing = [w for w in want if not any(p.startswith(w) for p in found)]
        if missing:
            sys.exit("FAIL: self-check: the planted rules without `deps` were not named (%s); got:\n  "
                     % ", ".join(missing) + "\n  ".join(found or ["(nothing)"]))

        rules = parse_db(make_db(build, ["all"]))
        goals = phony_goals(rules)
        if "all" not in goals or "test" not in goals:
            sys.exit("FAIL: could not read .PHONY goals from make's database (got %r)" % goals)
        rules = parse_db(make_db(build, goals))
        n_pattern = sum(1 for r in rules if r[5] and compiles(r[3]))
        n_files = sum(1 for r in rules if not r[5] and r[6] and runs(r[3], COMPILER))
        if n_pattern < 2 or n_files < 10:
            sys.exit("FAIL: read too few compile rules (%d pattern, %d file targets): parser broken?"
                     % (n_pattern, n_files))
        bad_rules = problems(rules)
        if bad_rules:
            shown = bad_rules[:12] + (["... and %d more" % (len(bad_rules) - 12)] if len(bad_rules) > 12 else [])
            sys.exit("FAIL: build rules that can run before scripts/install-deps.sh (fresh-machine race, "
                     "issue #14; file:line is the recipe's):\n  " + "\n  ".join(shown).replace(build, "$(BUILD)"))
        print("ok: %d compile pattern rules and %d compiler/archiver targets (goals: %s) all wait for deps"
              % (n_pattern, n_files, " ".join(goals)))


if __name__ == "__main__":
    main()
