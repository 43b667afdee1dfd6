"""The official `openai` Python client against a live `./infer serve` (started here on a free port, stopped at
the end): models list, chat completion, streaming chat (chunks reassemble to the non-streaming greedy answer),
completions, and an error mapped to openai.BadRequestError.

Fixture: the random tiny checkpoint that build/tests/test_infer_cli writes into build/test_infer_cli/run; if it is
missing, that test binary is run first to create it. Exit status 0 = pass."""
import os
import subprocess
import sys
import time

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "build", "test_infer_cli", "run")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    os.chdir(ROOT)
    if not os.path.isfile("./infer"):
        fail("./infer is not built (make infer)")
    if not os.path.isdir(RUN):
        subprocess.run(["build/tests/test_infer_cli", "-tc=generate*"], check=True, stdout=subprocess.DEVNULL)
    srv = subprocess.Popen(["./infer", "serve", "--model", RUN, "--port", "0", "--host", "127.0.0.1", "--threads", "1",
                            "--temperature", "0", "--max-tokens", "8", "--system", "none", "--name", "beop-test"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = srv.stdout.readline()  # "serving NAME on http://127.0.0.1:PORT (...)"
        if "http://127.0.0.1:" not in line:
            fail("server did not start: " + line + srv.stdout.read())
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=60)

        models = client.models.list()
        ids = [m.id for m in models.data]
        assert ids == ["beop-test"], ids

        msgs = [{"role": "user", "content": "전세 보증금을 돌려받지 못했어요"}]
        r = client.chat.completions.create(model="beop-test", messages=msgs, max_tokens=8, temperature=0)
        assert r.object == "chat.completion", r
        assert r.choices[0].message.role == "assistant"
        answer = r.choices[0].message.content
        assert isinstance(answer, str)
        assert r.choices[0].finish_reason in ("stop", "length")
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
        assert 0 < r.usage.completion_tokens <= 8
        # the same request again: greedy is deterministic
        r2 = client.chat.completions.create(model="beop-test", messages=msgs, max_tokens=8, temperature=0)
        assert r2.choices[0].message.content == answer

        stream = client.chat.completions.create(model="beop-test", messages=msgs, max_tokens=8, temperature=0,
                                                stream=True, stream_options={"include_usage": True})
        parts, finish, usage = [], None, None
        for chunk in stream:
            assert chunk.object == "chat.completion.chunk"
            if chunk.usage is not None:
                usage = chunk.usage
            for ch in chunk.choices:
                if ch.delta.content:
                    parts.append(ch.delta.content)
                if ch.finish_reason:
                    finish = ch.finish_reason
        assert "".join(parts) == answer, ("".join(parts), answer)
        assert finish == r.choices[0].finish_reason
        assert usage is not None and usage.completion_tokens == r.usage.completion_tokens

        c = client.completions.create(model="beop-test", prompt="민법 제618조", max_tokens=6, temperature=0)
        assert c.object == "text_completion"
        assert isinstance(c.choices[0].text, str)
        assert c.usage.completion_tokens <= 6
        cs = client.completions.create(model="beop-test", prompt="민법 제618조", max_tokens=6, temperature=0, stream=True)
        assert "".join(ch.choices[0].text for ch in cs) == c.choices[0].text

        try:
            client.chat.completions.create(model="beop-test", messages=msgs, max_tokens=0)
            fail("max_tokens=0 was accepted")
        except openai.BadRequestError as e:
            assert e.status_code == 400
            assert "max_tokens" in str(e)
        # still serving after the error
        assert client.chat.completions.create(model="beop-test", messages=msgs, max_tokens=2).choices[0].message.role == "assistant"
        print("ok: openai client against ./infer serve on port", port)
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        fail(repr(e))
