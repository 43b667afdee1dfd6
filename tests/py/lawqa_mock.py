"""A scripted OpenAI-compatible chat-completions server (http or https) for the law-QA endpoint generator's tests.

Each new unit (its citation, read from the generation prompt) is given the next script from `scripts`, a list of
behaviours for its successive attempts; units beyond the scripts, and attempts beyond a script, get `default`.
The counts a test asserts therefore do not depend on which unit the generator sends first or on concurrency.

Behaviours: good | dupA | dupB (a good item whose question is one of two near-identical texts) | wrongfact (a
quoted "fact" that is not in the article) | noarticle (cites 제999조) | malformed (content is cut-off JSON) |
nofields (content JSON without "answer") | notjson (the HTTP body is HTML) | truncated (Content-Length promises
more than is sent, then the connection closes) | r429 (429 + Retry-After: 1) | r500 | r401 (key rejected) |
slow:S (sleep S seconds, then good).

The mock reads the citation and the article text from the prompt: the line holding "<law> 제N조[ 제M항]" and the
lines after it up to the next blank line (the layout of lawqa::endpoint_prompt). Every socket has a timeout, the
port is chosen by the OS, and stop() never waits on a stuck client."""
import http.server
import json
import re
import socket
import ssl
import threading
import time

CITATION = re.compile(r"(\S+ 제\d+조(?:의\d+)?(?: 제\d+항)?)")
DUP_A = "전세 계약이 끝났는데 집주인이 보증금을 돌려주지 않으면 법은 세입자를 어떻게 보호하나요?"
DUP_B = "전세계약이 끝났는데, 집주인이 보증금을 돌려주지 않으면 법은 세입자를 어떻게 보호합니까??"  # Jaccard 0.85
USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}


def parse_prompt(prompt):
    lines = prompt.split("\n")
    for i, line in enumerate(lines):
        m = CITATION.search(line)
        if m:
            text = []
            for t in lines[i + 1:]:
                if not t.strip():
                    break
                text.append(t)
            return m.group(1), "\n".join(text)
    return "?", ""


def completion(content, usage=True):
    body = {"id": "mock", "object": "chat.completion", "model": "mock",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
    if usage:
        body["usage"] = USAGE
    return json.dumps(body, ensure_ascii=False).encode()


def item(question, answer, reference):
    return json.dumps({"question": question, "answer": answer, "reference": reference}, ensure_ascii=False)


class Mock:
    def __init__(self, scripts=(), default="good", certfile=None, keyfile=None):
        self.scripts = [list(s) for s in scripts]
        self.default = default
        self.lock = threading.Lock()
        self.assigned = {}     # citation -> [script, attempts so far]
        self.calls = []        # (citation, behaviour, start time)
        self.auth = set()      # Authorization headers seen
        self.in_flight = 0
        self.max_in_flight = 0
        ctx = None
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
        self.server = _Server(("127.0.0.1", 0), _Handler, ctx, self)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self):
        return f"{'https' if self.server.ctx else 'http'}://127.0.0.1:{self.port}/v1"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def next_behaviour(self, citation):
        with self.lock:
            if citation not in self.assigned:
                script = self.scripts.pop(0) if self.scripts else []
                self.assigned[citation] = [script, 0]
            entry = self.assigned[citation]
            b = entry[0][entry[1]] if entry[1] < len(entry[0]) else self.default
            entry[1] += 1
            self.calls.append((citation, b, time.monotonic()))
            return b

    def attempts(self, citation):
        return [c for c in self.calls if c[0] == citation]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, handler, ctx, mock):
        self.ctx, self.mock = ctx, mock
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the request's own thread (a client that rejects the certificate fails only here).
        request.settimeout(10)
        if self.ctx:
            try:
                request = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        try:
            super().finish_request(request, client_address)
        except (ssl.SSLError, OSError):
            pass
        finally:
            if self.ctx:
                request.close()  # the wrapped socket: shutdown_request() only sees the detached plain one


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        mock = self.server.mock
        with mock.lock:
            mock.in_flight += 1
            mock.max_in_flight = max(mock.max_in_flight, mock.in_flight)
        try:
            self.handle_post(mock)
        finally:
            with mock.lock:
                mock.in_flight -= 1

    def handle_post(self, mock):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n))
        if self.headers.get("Authorization"):
            with mock.lock:
                mock.auth.add(self.headers["Authorization"])
        citation, text = parse_prompt(req["messages"][0]["content"])
        b = mock.next_behaviour(citation)
        flat = text.replace("\n", " ")
        good_q = f"{citation}에 따르면 '{flat[:60]}' 이 경우 어떻게 되나요?"
        good_a = f"{citation}은 다음과 같이 규정합니다. {flat}"
        if b.startswith("slow:"):
            time.sleep(float(b[5:]))
            b = "good"
        if b == "good":
            self.send(200, completion(item(good_q, good_a, citation)))
        elif b in ("dupA", "dupB"):
            # The answer must address its question (the verifier's off_topic rule: shared content bigrams), so it
            # names the question's terms before the cited text; only then can dedup see the pair.
            dup_a = "질문하신 전세 계약 보증금 사안을 보면, " + good_a
            self.send(200, completion(item(DUP_A if b == "dupA" else DUP_B, dup_a, citation)))
        elif b == "wrongfact":
            self.send(200, completion(item(good_q, good_a + ' 즉 "임대인은 언제든지 퇴거를 요구할 수 있다".', citation)))
        elif b == "noarticle":
            law = citation.split(" 제")[0]
            self.send(200, completion(item(good_q, good_a, f"{law} 제999조")))
        elif b == "malformed":
            self.send(200, completion('{"question": "보증금은", "answer": "임대인은'))
        elif b == "nofields":
            self.send(200, completion(json.dumps({"question": good_q, "reference": citation}, ensure_ascii=False)))
        elif b == "notjson":
            self.send(200, b"<html><body>502 Bad Gateway</body></html>")
        elif b == "truncated":
            body = completion(item(good_q, good_a, citation))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif b == "r429":
            self.send(429, b'{"error": {"message": "rate limited"}}', [("Retry-After", "1")])
        elif b == "r500":
            self.send(500, b'{"error": {"message": "internal"}}')
        elif b == "r401":
            self.send(401, b'{"error": {"message": "Incorrect API key provided"}}')
        else:
            self.send(500, b'{"error": "unknown behaviour"}')
