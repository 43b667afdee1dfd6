"""Shared by the tests/py scripts that run a live `./infer serve`: the fixture checkpoint, starting the server on
a free loopback port, stopping it, and the pass/fail convention (exit status 0 = pass, "FAIL: ..." otherwise)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The random tiny checkpoint that build/tests/test_infer_cli writes.
RUN = os.path.join(ROOT, "build", "test_infer_cli", "run")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def prepare():
    """Runs from the repository root; makes the fixture checkpoint if it is missing."""
    os.chdir(ROOT)
    if not os.path.isfile("./infer"):
        fail("./infer is not built (make infer)")
    if not os.path.isdir(RUN):
        subprocess.run(["build/tests/test_infer_cli", "-tc=generate*"], check=True, stdout=subprocess.DEVNULL)


def start_server(args, exe="./infer", cwd=None):
    """Starts `exe serve --model RUN --port 0 --host 127.0.0.1 --threads 1 ARGS`; returns (process, port)."""
    srv = subprocess.Popen([exe, "serve", "--model", RUN, "--port", "0", "--host", "127.0.0.1", "--threads", "1"] + args,
                           cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = srv.stdout.readline()  # "serving NAME on http://127.0.0.1:PORT (...)"
    if "http://127.0.0.1:" not in line:
        stop_server(srv)
        fail("server did not start: " + line + srv.stdout.read())
    return srv, int(line.split("http://127.0.0.1:")[1].split()[0])


def stop_server(srv, timeout=15):
    srv.terminate()
    try:
        srv.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        srv.kill()


def run(main):
    """Runs main(); an AssertionError is a test failure with its message."""
    try:
        main()
    except AssertionError as e:
        fail(repr(e))
