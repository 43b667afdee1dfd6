"""The official `openai` Python client against a live `./infer serve` (started here on a free port, stopped at
the end): models list, chat completion, streaming chat (chunks reassemble to the non-streaming greedy answer),
completions, and an error mapped to openai.BadRequestError.

Fixture: the random tiny checkpoint that build/tests/test_infer_cli writes into build/test_infer_cli/run; if it is
missing, that test binary is run first to create it. Exit status 0 = pass."""
import time

import openai

from serve_util import fail, prepare, run, start_server, stop_server


def main():
    prepare()
    srv, port = start_server(["--temperature", "0", "--max-tokens", "8", "--system", "none", "--name", "beop-test"])
    try:
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
        stop_server(srv)


if __name__ == "__main__":
    run(main)
