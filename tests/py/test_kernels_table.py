"""docs/KERNELS.md's op table (op -> CPU file, CUDA file, tests) agrees with the tree (issue #15, item 6).

The table says, for every op, where its CPU reference and its CUDA twin live and which tests exercise them, and
every op header repeats that in its top comment (`CUDA: ... Tests: ...` in cpu/, `Reference: cpu/... Tests:
...` in cuda/kernels/). Kept by hand, such lists rot as soon as a kernel moves or a test is added, so this test
reads the table and the headers and fails, one line per problem, when:

  1. a file named in the table does not exist;
  2. a cpu/*.h or cuda/kernels/*.cuh header is neither in the table nor in NOT_OPS below (a new op without
     a row), or a NOT_OPS entry is stale (missing, or in the table after all);
  3. a header's top comment does not name exactly the twins and tests that its rows list: every table entry
     must be in the comment, and every cpu/ (in a CUDA header), cuda/ (in a cpu/ header) or tests/ path in
     the comment must be in the table;
  4. a listed test file mentions neither the op's header nor any function the header defines (a test that
     does not exercise the op, or a row pointing at the wrong test).

A self-check first plants one fault of each kind in an in-memory copy of the tree (a row removed, a test renamed
in a header's comment, a missing file, a test that does not exercise its op) and requires the check to name it,
so the test cannot pass by reading nothing.
"""
import fnmatch
import glob
import os
import re
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = "docs/KERNELS.md"
HEADING = "## Ops, files and tests"
COLUMNS = ["op", "CPU (forward and backward)", "CUDA", "CPU tests", "CUDA tests"]

# Headers of cpu/ and cuda/kernels/ that are not ops, with the reason. Anything else there must have a row.
NOT_OPS = {
    "cpu/ops.h": "binds the cpu/ kernels to the Ops interface; no kernel of its own",
    "cpu/model_cpu.h": "the CpuModel type aliases",
    "cpu/matmul_lowp.h": "inference-only bf16 / Q8_0 kernels behind the linear op's forward (cpu/ops.h routes to them "
                         "for infer --dtype); no backward, no CUDA twin (--device cuda-bf16 is the GPU's low-precision "
                         "path); tested by tests/test_matmul_lowp.cpp",
    "cpu/matmul_smallm.h": "the fp32 few-row forward behind the linear op (cpu/ops.h routes N <= 32 rows to it: "
                           "decode, batched decode, short prompts); no backward, no CUDA twin; tested by "
                           "tests/test_matmul_smallm.cpp",
    "cpu/gemm_amx.h": "the AMX kernel behind cpu/gemm_bf16.h's gemm_bf16 (chosen at run time), not an op of its own "
                      "(the bf16 linear row lists gemm_bf16.h); tested by tests/test_cpu_bf16.cpp",
    "cpu/gemm_block.h": "the edge-block handling shared by the packed GEMM kernels (gemm_bf16.cpp, gemm_amx.cpp, "
                        "gemm_f32.cpp), not an op; tested through tests/test_cpu_bf16.cpp's and "
                        "tests/test_gemm_f32.cpp's awkward shapes",
    "cpu/gemm_f32.h": "the packed fp32 GEMM behind the linear op's forward and backward (cpu/ops.h routes more than 4 "
                      "rows to it where the CPU has AVX-512F, Eigen's otherwise), not an op of its own; tested by "
                      "tests/test_gemm_f32.cpp",
    "cpu/transpose16.h": "the lane mask and 16 x 16 in-register transpose that the GEMMs' packing calls (gemm_amx.cpp, "
                         "gemm_f32.cpp), not an op; tested through tests/test_cpu_bf16.cpp and tests/test_gemm_f32.cpp",
    "cpu/host_memory.h": "the CPU backend's allocator (huge pages for large buffers), not an op; tested by "
                         "tests/test_host_memory.cpp",
    "cpu/lane_sum.h": "vectorizable fixed-order row sums that RMSNorm, the softmaxes and the gradient norm call, "
                      "not an op; tested by tests/test_vexp.cpp",
    "cpu/vexp.h": "an inline exp that the CPU ops' softmaxes and SiLU call, not an op (CUDA uses __expf); tested by "
                  "tests/test_vexp.cpp",
    "cuda/kernels/common.cuh": "helpers shared by every kernel (error checks, fixed-order reductions)",
    "cuda/kernels/example_reduce.cuh": "example kernels that test the SIMT runtime (tests/test_simt.cpp); no CPU twin",
    "cuda/kernels/attention_tc_tiles.cuh": "building blocks of attention_flash_tc.cuh (tile copy, warp-level "
                                           "products), tested alone by tests/test_cuda_mma.cpp; no CPU twin",
}

# Paths as the comments write them; the lookbehind skips a path inside a longer one (e.g. build/cuda/...).
CPU_PATH = re.compile(r"(?<![\w/])cpu/\w+\.h\b")
CUDA_PATH = re.compile(r"(?<![\w/])cuda/[\w/]+\.(?:cuh|h)\b")
TEST_PATH = re.compile(r"(?<![\w/])tests/[\w/]+\.(?:cpp|h|py|sh)\b")
# A function defined at namespace scope: a line starting in column 0 with a return type, then `name(`.
# The op headers keep their functions and kernels unindented; `=`/`;` before the name means a variable.
# (Attributes such as __launch_bounds__(...) are skipped: a name may not start with two underscores.)
DEFINITION = re.compile(r"^(?!\s|#|//|template\b|return\b|using\b|typedef\b)"
                        r"[^;=(){}\n]*?\b(?!__)([a-z_][a-z0-9_]*)[ \t]*\(", re.M)


class Tree:
    """The repository's files, with optional in-memory replacements (None = deleted) for the self-check."""

    def __init__(self, root, overrides=None):
        self.root, self.overrides = root, dict(overrides or {})

    def read(self, path):
        if path in self.overrides:
            return self.overrides[path]
        try:
            with open(os.path.join(self.root, path), encoding="utf-8") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def glob(self, pattern):
        found = {os.path.relpath(p, self.root) for p in glob.glob(os.path.join(self.root, pattern))}
        found |= {p for p, t in self.overrides.items() if t is not None and fnmatch.fnmatch(p, pattern)}
        return sorted(p for p in found if self.read(p) is not None)


def parse_table(doc):
    """Rows of the first table under HEADING: dicts of op, cpu, cuda, cpu_tests, cuda_tests (lists of paths).
    Returns (rows, problems)."""
    lines = doc.split("\n")
    try:
        start = lines.index(HEADING)
    except ValueError:
        return [], ["%s: no '%s' section" % (DOC, HEADING)]
    i = start + 1
    while i < len(lines) and not lines[i].startswith("|"):
        if lines[i].startswith("## "):
            return [], ["%s: '%s' has no table" % (DOC, HEADING)]
        i += 1

    def cells(line):
        return [c.strip() for c in line.strip().strip("|").split("|")]

    if i >= len(lines) or cells(lines[i]) != COLUMNS:
        got = cells(lines[i]) if i < len(lines) else []
        return [], ["%s: the table under '%s' must have the columns %s, has %s" % (DOC, HEADING, COLUMNS, got)]
    rows, problems = [], []
    for n in range(i + 2, len(lines)):  # skip the |---| line
        line = lines[n]
        if not line.startswith("|"):
            break
        c = cells(line)
        if len(c) != len(COLUMNS):
            problems.append("%s:%d: %d cells, want %d" % (DOC, n + 1, len(c), len(COLUMNS)))
            continue
        files = [re.findall(r"`([^`]+)`", cell) for cell in c[1:]]
        row = {"op": c[0], "line": n + 1, "cpu": files[0], "cuda": files[1], "cpu_tests": files[2],
               "cuda_tests": files[3]}
        for key in ("cpu", "cuda"):
            if len(row[key]) != 1:
                problems.append("%s:%d: op '%s': want one %s file in backticks, got %s"
                                % (DOC, n + 1, c[0], key.upper(), row[key] or "none"))
        rows.append(row)
    if not rows:
        problems.append("%s: the table under '%s' has no rows" % (DOC, HEADING))
    return rows, problems


def top_comment(text):
    """The leading // lines of a header, as one string (the comment a reader sees first)."""
    out = []
    for line in text.split("\n"):
        if not line.startswith("//"):
            break
        out.append(line[2:])
    return "\n".join(out)


def mentions(test_text, header, header_text):
    """Whether a test names the header (its path; a .cuh also by its base name) or a function it defines."""
    if header in test_text or (header.endswith(".cuh") and os.path.basename(header) in test_text):
        return True
    # Only compound names (an underscore): one-word helpers such as scale or apply would match any text.
    names = {n for n in DEFINITION.findall(header_text) if "_" in n.strip("_")}
    return any(re.search(r"\b%s\b" % re.escape(name), test_text) for name in names)


def check(tree):
    doc = tree.read(DOC)
    if doc is None:
        return ["%s does not exist" % DOC]
    rows, problems = parse_table(doc)
    if not rows:
        return problems

    # 1. every file in the table exists
    listed = set()
    for r in rows:
        for key in ("cpu", "cuda", "cpu_tests", "cuda_tests"):
            for path in r[key]:
                listed.add(path)
                if tree.read(path) is None:
                    problems.append("%s:%d: op '%s': %s does not exist" % (DOC, r["line"], r["op"], path))

    # 2. every op header has a row; the NOT_OPS list is not stale
    in_table = {p for r in rows for p in r["cpu"] + r["cuda"]}
    for path in tree.glob("cpu/*.h") + tree.glob("cuda/kernels/*.cuh"):
        if path not in in_table and path not in NOT_OPS:
            problems.append("%s is missing from the table in %s (add a row, or to NOT_OPS in %s if it is not an op)"
                            % (path, DOC, os.path.relpath(__file__, REPO)))
    for path in sorted(NOT_OPS):
        if tree.read(path) is None:
            problems.append("NOT_OPS names %s, which does not exist (remove it from %s)"
                            % (path, os.path.relpath(__file__, REPO)))
        elif path in in_table:
            problems.append("%s is in the table in %s and in NOT_OPS" % (path, DOC))

    # 3. each header's top comment names exactly its rows' twins and tests. A cpu/ header: the CUDA files of
    # its rows and all their tests (the CUDA tests run it as their reference); a CUDA header: its CPU files
    # and its CUDA tests.
    want = {}  # header -> (twin pattern, twins, tests)
    for r in rows:
        for c in r["cpu"]:
            w = want.setdefault(c, (CUDA_PATH, set(), set()))
            w[1].update(r["cuda"])
            w[2].update(r["cpu_tests"] + r["cuda_tests"])
        for u in r["cuda"]:
            w = want.setdefault(u, (CPU_PATH, set(), set()))
            w[1].update(r["cpu"])
            w[2].update(r["cuda_tests"])
    for header, (pattern, twins, tests) in sorted(want.items()):
        text = tree.read(header)
        if text is None:
            continue  # reported above
        comment = top_comment(text)
        for kind, named, expected in (("twin", set(pattern.findall(comment)), twins),
                                      ("test", set(TEST_PATH.findall(comment)), tests)):
            for p in sorted(expected - named):
                problems.append("%s: top comment does not name the %s %s that %s lists" % (header, kind, p, DOC))
            for p in sorted(named - expected):
                problems.append("%s: top comment names the %s %s, which its row in %s does not list"
                                % (header, kind, p, DOC))

    # 4. each listed test mentions the header it is listed for (or one of its functions)
    for r in rows:
        for tests, headers in ((r["cpu_tests"], r["cpu"]), (r["cuda_tests"], r["cuda"])):
            for t in tests:
                t_text = tree.read(t)
                for h in headers:
                    h_text = tree.read(h)
                    if t_text is not None and h_text is not None and not mentions(t_text, h, h_text):
                        problems.append("%s:%d: op '%s': %s mentions neither %s nor any function it defines"
                                        % (DOC, r["line"], r["op"], t, h))
    return problems


def self_check(tree):
    """Plant one fault of each kind; each must be reported. Returns the faults the check missed."""
    doc = tree.read(DOC)
    rope = tree.read("cpu/rope.h")
    kv_row = next((l for l in doc.split("\n") if l.startswith("| kv_cache")), None)
    swiglu_row = next((l for l in doc.split("\n") if l.startswith("| swiglu")), None)
    if kv_row is None or swiglu_row is None or rope is None:
        return ["the self-check plants its faults in the kv_cache and swiglu rows and cpu/rope.h: not found"]
    cases = [
        ("a row removed", {DOC: doc.replace(kv_row + "\n", "")},
         "cuda/kernels/kv_cache.cuh is missing from the table"),
        ("a test renamed in a header's comment",
         {"cpu/rope.h": rope.replace("tests/test_ops.cpp", "tests/test_opz.cpp")},
         "cpu/rope.h: top comment names the test tests/test_opz.cpp"),
        ("a file that does not exist", {DOC: doc.replace("`cuda/kernels/swiglu.cuh`", "`cuda/kernels/swiglu2.cuh`")},
         "cuda/kernels/swiglu2.cuh does not exist"),
        ("a test that does not exercise its op",
         {DOC: doc.replace(swiglu_row, swiglu_row.replace("`tests/test_ops.cpp`", "`tests/test_tokenizer.cpp`")),
          "cpu/swiglu.h": tree.read("cpu/swiglu.h").replace("tests/test_ops.cpp", "tests/test_tokenizer.cpp")},
         "tests/test_tokenizer.cpp mentions neither cpu/swiglu.h"),
        ("a twin missing from a header's comment",
         {"cuda/kernels/bias.cuh": tree.read("cuda/kernels/bias.cuh").replace("cpu/bias.h", "the CPU reference")},
         "cuda/kernels/bias.cuh: top comment does not name the twin cpu/bias.h"),
    ]
    missed = []
    for name, overrides, expect in cases:
        found = check(Tree(tree.root, overrides))
        if not any(expect in p for p in found):
            missed.append("%s (expected a problem containing '%s'; got: %s)" % (name, expect, found or "nothing"))
    return missed


def main():
    tree = Tree(REPO)
    problems = check(tree)
    if problems:
        for p in problems:
            print("FAIL: " + p)
        sys.exit(1)
    missed = self_check(tree)
    if missed:
        for m in missed:
            print("FAIL: self-check: a planted fault was not reported: " + m)
        sys.exit(1)
    rows, _ = parse_table(tree.read(DOC))
    print("ok: %d rows in %s agree with the headers' top comments and the tests; %d non-op headers skipped"
          % (len(rows), DOC, len(NOT_OPS)))


if __name__ == "__main__":
    main()
