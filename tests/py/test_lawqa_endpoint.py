"""`prep lawqa --generator endpoint` against a scripted mock chat-completions server (tests/py/lawqa_mock.py), over
http and over https with a self-signed certificate made here with the openssl CLI (in a temporary folder, never
committed). Checks, with exact counts: good / wrong-fact / non-existent-article / malformed / non-JSON / truncated /
429-then-success (Retry-After honoured) / 500-then-success / slow (timeout, then success) / near-duplicate replies;
the cost line; resume after SIGKILL (no duplicates, valid JSONL, a torn last line dropped); an untrusted certificate
(clear error, nothing kept) and --ca-cert; bounded concurrency that overlaps requests; a missing and a rejected
API key.
Needs ./prep (make prep) and the corpora ($BEOP_DATA or ../shared/data). Exit status 0 = pass; ~15 s."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from lawqa_mock import DUP_A, DUP_B, Mock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("BEOP_DATA", os.path.join(ROOT, "..", "shared", "data"))


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def prep_args(mock, prefix, n, extra=()):
    return ["./prep", "lawqa", "--generator", "endpoint", "--data", DATA, "--only-laws", "주택임대차보호법",
            "--url", mock.url(), "--model", "mock", "--out-prefix", prefix, "--max-items", str(n),
            "--retry-base", "0.05", "--timeout", "4", "--max-attempts", "3"] + list(extra)


def run_prep(args, env=None, timeout=60):
    e = dict(os.environ, **(env or {}))
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=e)


def jsonl(path):
    """Every line of path as JSON (fails on a torn or non-JSON line)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    check(text == "" or text.endswith("\n"), f"{path}: last line is not terminated")
    return [json.loads(line) for line in text.splitlines()]


def test_scripted_replies(tmp):
    scripts = [["good"], ["good"], ["good"], ["wrongfact"], ["noarticle"], ["malformed"], ["notjson"],
               ["truncated", "good"], ["truncated"] * 3, ["r429", "good"], ["r500", "good"], ["r500"] * 3,
               ["slow:5", "good"], ["dupA"], ["dupB"], ["nofields"]]
    mock = Mock(scripts).start()
    try:
        prefix = os.path.join(tmp, "http")
        r = run_prep(prep_args(mock, prefix, len(scripts), ["--concurrency", "3", "--price-in", "2.5",
                                                            "--price-out", "10"]), env={"BEOP_API_KEY": "sk-test"})
    finally:
        mock.stop()
    check(r.returncode == 0, f"prep failed ({r.returncode}): {r.stderr[-2000:]}")
    kept = jsonl(prefix + "_endpoint.jsonl")
    log = jsonl(prefix + "_rejected.jsonl")
    qa = jsonl(prefix + "_qa.jsonl")
    # kept: 3 good, truncated->good, 429->good, 500->good, slow->good, one of the near-duplicate pair
    check(len(kept) == 8, f"kept {len(kept)} items, want 8: {r.stdout}")
    check(len(qa) == 8 and len(jsonl(prefix + "_qa_ref_in.jsonl")) == 8, "the format files hold the kept items")
    check(all(q["meta"]["generator"] == "endpoint:mock" for q in qa), "generator")
    check(len({k["unit"] for k in kept}) == 8, "one kept item per unit")
    stages = {}
    for l in log:
        stages.setdefault(l["stage"], []).append(l["reason"])
    check(sorted(stages.get("transport", [])) == ["http_status", "truncated"], f"transport failures: {stages}")
    check(sorted(stages.get("reply", [])) == ["content_not_json", "missing_fields", "non_json_body"],
          f"reply rejections: {stages}")
    check(stages.get("dedup") == ["near_duplicate"], f"dedup: {stages}")
    check(len(stages.get("verify", [])) == 2, f"wrong fact and 제999조 are rejected by the verifier: {stages}")
    check("citation_unresolved" in stages["verify"], f"the non-existent article: {stages}")
    check(len(log) == 8 and len(log) + len(kept) == len(scripts), "every unit is kept or logged exactly once")
    check(sum(k["question"] in (DUP_A, DUP_B) for k in kept) == 1, "exactly one of the near-duplicate pair is kept")
    # retries: truncated 1+2, 429 1, 500 1+2, slow 1 = 8; requests = 16 units + 8 retries
    summary = [l for l in r.stdout.splitlines() if l.startswith("endpoint ")][0]
    check("16/16 units, 24 requests (8 retries), kept 8, rejected 6" in summary, summary)
    check("failed 2 (http_status 1, truncated 1)" in summary, summary)
    # usage: 13 completions carried it (8 kept, the dropped duplicate, wrongfact, noarticle, malformed, nofields)
    check("tokens 13000 in / 2600 out, ~$0.0585" in summary, summary)
    calls429 = [c for c in mock.calls if c[1] == "r429"]
    after = mock.attempts(calls429[0][0])
    check(len(after) == 2 and after[1][2] - after[0][2] >= 0.95, f"Retry-After: 1 was honoured: {after}")
    check(mock.auth == {"Bearer sk-test"}, f"the key from $BEOP_API_KEY: {mock.auth}")
    check(mock.max_in_flight <= 3, f"--concurrency 3 bounds the requests in flight: {mock.max_in_flight}")


def test_concurrency(tmp):
    mock = Mock([], default="slow:0.5").start()
    try:
        r = run_prep(prep_args(mock, os.path.join(tmp, "conc"), 8, ["--concurrency", "4"]))
    finally:
        mock.stop()
    check(r.returncode == 0, r.stderr[-2000:])
    check(mock.max_in_flight == 4, f"4 requests in flight at once, saw {mock.max_in_flight}")
    check(len(jsonl(os.path.join(tmp, "conc_endpoint.jsonl"))) == 8, "8 kept")
    # One after another, the 8th request would start 3.5 s after the 1st; 4 at a time, about 0.5 s after.
    starts = sorted(c[2] for c in mock.calls)
    check(len(starts) == 8 and starts[-1] - starts[0] < 2.0, f"request starts spread over {starts[-1] - starts[0]:.1f} s")


def test_resume_after_sigkill(tmp):
    n = 20
    mock = Mock([], default="slow:0.25").start()
    prefix = os.path.join(tmp, "resume")
    items = prefix + "_endpoint.jsonl"
    try:
        p = subprocess.Popen(prep_args(mock, prefix, n, ["--concurrency", "2"]), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(items) and open(items, encoding="utf-8").read().count("\n") >= 4:
                break
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        before = jsonl(items)
        check(4 <= len(before) < n, f"killed mid-run with {len(before)} items written")
        check(not os.path.exists(prefix + "_qa.jsonl"), "a killed run writes no format files")
        with open(items, "a", encoding="utf-8") as f:
            f.write('{"unit": "주택임대차보호법 제')  # a torn last line, as a crash inside a write would leave
        calls_before = len(mock.calls)
        r = run_prep(prep_args(mock, prefix, n, ["--concurrency", "2", "--resume"]))
    finally:
        mock.stop()
    check(r.returncode == 0, r.stderr[-2000:])
    after = jsonl(items)
    units = [k["unit"] for k in after]
    check(len(after) == n and len(set(units)) == n, f"{len(after)} lines, {len(set(units))} distinct units, want {n}")
    check(after[:len(before)] == before, "resume keeps the items written before the kill")
    # Units kept before the kill are never asked again (a request of the killed run that the mock records only
    # after the snapshot is for a unit without an item, so this holds whatever the timing).
    again = {c[0] for c in mock.calls[calls_before:]}
    done_before = {k["unit"] for k in before}
    check(not again & done_before, f"kept units requested again: {again & done_before}")
    check(again == set(units) - done_before, "every unit without an item was requested")
    check(len(jsonl(prefix + "_qa.jsonl")) == n, "the format files hold every item")
    check(f"({len(before)} resumed)" in r.stdout, r.stdout)


def test_https(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    mock = Mock([], certfile=cert, keyfile=key).start()
    try:
        check(mock.url().startswith("https://"), mock.url())
        prefix = os.path.join(tmp, "tls")
        r = run_prep(prep_args(mock, prefix, 3))
        check(r.returncode == 1, f"an untrusted certificate fails the run: {r.returncode} {r.stderr[-500:]}")
        err = [l for l in r.stderr.splitlines() if l.startswith("error:")]
        check(len(err) == 1 and "not trusted" in err[0] and "--ca-cert" in err[0], f"one clear line: {r.stderr}")
        check(jsonl(prefix + "_endpoint.jsonl") == [], "nothing kept over an untrusted connection")
        check(mock.calls == [], "no request got through the failed handshake")
        r = run_prep(prep_args(mock, prefix, 3, ["--ca-cert", cert, "--resume"]))
        check(r.returncode == 0, r.stderr[-2000:])
        check(len(jsonl(prefix + "_endpoint.jsonl")) == 3, "3 kept over https with --ca-cert")
        check(len(jsonl(prefix + "_qa.jsonl")) == 3, "format file")
    finally:
        mock.stop()


def test_missing_key(tmp):
    env = {k: v for k, v in os.environ.items() if k not in ("BEOP_API_KEY", "OPENAI_API_KEY")}
    prefix = os.path.join(tmp, "nokey")
    r = subprocess.run(["./prep", "lawqa", "--generator", "endpoint", "--data", DATA, "--url",
                        "https://teacher.invalid/v1", "--model", "gpt-4o", "--out-prefix", prefix],
                       capture_output=True, text=True, timeout=60, env=env)
    check(r.returncode == 2, f"missing key: exit {r.returncode}")
    lines = r.stderr.strip().splitlines()
    check(len(lines) == 1 and "BEOP_API_KEY" in lines[0], f"one line naming the variable: {r.stderr}")
    check(not os.path.exists(prefix + "_endpoint.jsonl"), "no output file")


def test_rejected_key(tmp):
    mock = Mock([["r401"]]).start()
    prefix = os.path.join(tmp, "badkey")
    try:
        r = run_prep(prep_args(mock, prefix, 5, ["--concurrency", "1"]), env={"BEOP_API_KEY": "sk-wrong"})
    finally:
        mock.stop()
    check(r.returncode == 1, f"a rejected key stops the run: exit {r.returncode}")
    err = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    check(len(err) == 1 and "HTTP 401" in err[0] and "rejected the API key" in err[0], r.stderr)
    check(len(mock.calls) == 1, f"no further request after the 401: {len(mock.calls)}")
    check(jsonl(prefix + "_endpoint.jsonl") == [] and jsonl(prefix + "_rejected.jsonl") == [], "nothing kept or logged")


def main():
    os.chdir(ROOT)
    check(os.path.isfile("./prep"), "./prep is not built (make prep)")
    with tempfile.TemporaryDirectory() as tmp:
        for t in (test_missing_key, test_rejected_key, test_scripted_replies, test_concurrency, test_resume_after_sigkill, test_https):
            t0 = time.monotonic()
            t(tmp)
            print(f"ok {t.__name__} ({time.monotonic() - t0:.1f} s)")


if __name__ == "__main__":
    main()
