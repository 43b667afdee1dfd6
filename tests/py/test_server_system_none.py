"""`infer serve --system none` (or --system FILE) must not need prompts/legal_advisor.txt (issue #14).

./infer is copied into an empty temporary directory and run from there, so neither the working directory nor the
executable's directory has prompts/. With --system none it must start and answer; a request asking for
"system_prompt":"legal" then gets a 400 naming system_prompt; with --system legal it must exit non-zero with a
one-line error naming the file.

Fixture: the tiny checkpoint that build/tests/test_infer_cli writes (made first if missing). Exit status 0 = pass."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile

from serve_util import RUN, fail, prepare, run, start_server, stop_server


def request(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=None if body is None else json.dumps(body),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data)


def main():
    prepare()
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "infer")
        shutil.copy("./infer", exe)
        base = [exe, "serve", "--model", RUN, "--port", "0", "--host", "127.0.0.1", "--threads", "1",
                "--temperature", "0", "--max-tokens", "4"]
        # --system legal without the file: a clean one-line error, exit 1
        p = subprocess.run(base + ["--system", "legal"], cwd=tmp, capture_output=True, text=True, timeout=60)
        if p.returncode == 0 or "legal_advisor.txt" not in p.stderr:
            fail(f"--system legal without prompts/: rc {p.returncode}, stderr {p.stderr!r}")
        # --system none: starts (start_server fails the test if it does not) and answers
        srv, port = start_server(["--temperature", "0", "--max-tokens", "4", "--system", "none"], exe=exe, cwd=tmp)
        try:
            status, body = request(port, "GET", "/health")
            assert status == 200 and body["status"] == "ok", body
            msgs = [{"role": "user", "content": "안녕하세요"}]
            status, body = request(port, "POST", "/v1/chat/completions", {"messages": msgs, "max_tokens": 2})
            assert status == 200 and body["object"] == "chat.completion", (status, body)
            status, body = request(port, "POST", "/v1/chat/completions",
                                   {"messages": msgs, "max_tokens": 2, "system_prompt": "legal"})
            assert status == 400 and body["error"]["param"] == "system_prompt", (status, body)
        finally:
            stop_server(srv)
    print("ok: infer serve --system none runs without prompts/legal_advisor.txt")


if __name__ == "__main__":
    run(main)
