#!/usr/bin/env python3
"""Benchmark of the Python package: lockbox_secrets.credstash (the drop-in) against
the credstash 1.17.1 library, on one lockbox-mock emulator with injected latency.

Prints Markdown tables:
- getAllSecrets of a table of 1, 10 and 100 secrets, and getSecret called for each
  of 1, 10 and 100 names one after the other (plus the native Client.get_many of
  the same names), in one process after a warm-up call: medians of BENCH_RUNS runs;
- the start-up case: a fresh interpreter imports the module and calls
  getAllSecrets once (what a settings module or wsgi.py does);
- import time of each module (a fresh interpreter per run, timed inside it) and
  the resident memory the import adds, and what a getAllSecrets of 100 adds on top.

Run it with scripts/bench-python, which builds the release wheel and the emulator
and makes a virtualenv holding both libraries; or by hand in such a venv:
    python python/bench.py --mock target/release/lockbox-mock --latency-ms 10
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

# The installed wheel, not the source tree beside this script (which has no
# native module).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]


def aws(url, service, operation, body):
    target = {"kms": "TrentService", "dynamodb": "DynamoDB_20120810"}[service]
    version = {"kms": "1.1", "dynamodb": "1.0"}[service]
    req = urllib.request.Request(url + "/", method="POST", data=json.dumps(body).encode(),
                                 headers={"X-Amz-Target": "%s.%s" % (target, operation),
                                          "Content-Type": "application/x-amz-json-" + version})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"{}")


def start_emulator(mock, latency_ms, pin):
    argv = [mock, "--listen", "127.0.0.1:0", "--latency-ms", str(latency_ms)]
    if pin and shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2:
        # A real KMS and DynamoDB run elsewhere: keep the emulator off the client's CPU.
        argv = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[-1]), *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, RUST_LOG="error"))
    url = proc.stdout.readline().strip()
    key = aws(url, "kms", "CreateKey", {})["KeyMetadata"]["KeyId"]
    aws(url, "kms", "CreateAlias", {"AliasName": "alias/credstash", "TargetKeyId": key})
    return proc, url


def set_env(url, home):
    for f in ("config", "credentials"):
        open(os.path.join(home, f), "w").close()
    for name in list(os.environ):
        if name.startswith(("AWS_", "CREDSTASH_")):
            del os.environ[name]
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_KMS": url, "AWS_ENDPOINT_URL_DYNAMODB": url,
        "AWS_CONFIG_FILE": os.path.join(home, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    })


def median_ms(fn, runs):
    fn()  # warm-up: clients, connections, the table's record
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def in_fresh_python(code):
    """Run `code` in a fresh interpreter of this venv; returns its stdout."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout


IMPORT_CODE = """
import time, sys
t = time.perf_counter()
import {module}
print((time.perf_counter() - t) * 1000)
"""

MEMORY_CODE = """
def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
base = status("VmRSS")
import {module} as m
imported = status("VmRSS")
m.getAllSecrets(table="{table}")
called = status("VmRSS")
print(imported - base, called - base, status("VmHWM"))
"""

# The start-up case (a settings module or wsgi.py): import, then the first
# getAllSecrets, in a fresh interpreter.
FIRST_CALL_CODE = """
import time
t = time.perf_counter()
import {module} as m
m.getAllSecrets(table="{table}")
print((time.perf_counter() - t) * 1000)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mock", default=os.environ.get("LOCKBOX_MOCK_BIN",
                                                         "target/release/lockbox-mock"))
    parser.add_argument("--latency-ms", type=int, default=10)
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "7")))
    parser.add_argument("--no-pin", action="store_true", help="do not confine the emulator")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    home = tempfile.mkdtemp(prefix="lockbox-pybench-")
    proc, url = start_emulator(args.mock, args.latency_ms, not args.no_pin)
    try:
        set_env(url, home)
        import credstash
        import lockbox_secrets
        import lockbox_secrets.credstash as dropin

        print("## Python: lockbox_secrets.credstash against credstash 1.17.1 "
              "(%d ms per call, %d cores, Python %s)\n" % (
                  args.latency_ms, os.cpu_count(), sys.version.split()[0]))
        print("| call | N | lockbox_secrets | credstash 1.17.1 | speed-up |")
        print("|---|---:|---:|---:|---:|")
        for n in sizes:
            table = "pybench-%d" % n
            client = lockbox_secrets.Client(table=table)
            client.setup("credstash")
            names = ["bench/%04d" % i for i in range(n)]
            for name in names:
                client.put(name, "value-%s-%s" % (name, "x" * 24))
            ours = median_ms(lambda: dropin.getAllSecrets(table=table), args.runs)
            theirs = median_ms(lambda: credstash.getAllSecrets(table=table), args.runs)
            print("| `getAllSecrets` | %d | %.1f ms | %.1f ms | %.1fx |" % (
                n, ours, theirs, theirs / ours))
            runs = args.runs if n < 100 else max(3, args.runs // 2)
            ours = median_ms(lambda: [dropin.getSecret(x, table=table) for x in names], runs)
            theirs = median_ms(lambda: [credstash.getSecret(x, table=table) for x in names],
                               runs)
            print("| `getSecret` x N, one after another | %d | %.1f ms | %.1f ms | %.1fx |" % (
                n, ours, theirs, theirs / ours))
            native = median_ms(lambda: client.get_many(names), args.runs)
            print("| native `Client.get_many` (for comparison) | %d | %.1f ms | | |" % (
                n, native))
        print()
        runs = max(5, args.runs)
        print("| start-up: import, then the first `getAllSecrets` (fresh interpreter, median of"
              " %d) | N | lockbox_secrets | credstash 1.17.1 | speed-up |" % runs)
        print("|---|---:|---:|---:|---:|")
        for n in sizes:
            ours, theirs = [statistics.median(
                float(in_fresh_python(FIRST_CALL_CODE.format(module=m, table="pybench-%d" % n)))
                for _ in range(runs)) for m in ("lockbox_secrets.credstash", "credstash")]
            print("| `import` + `getAllSecrets` | %d | %.1f ms | %.1f ms | %.1fx |" % (
                n, ours, theirs, theirs / ours))
        print()
        bare = statistics.median(
            float(in_fresh_python(IMPORT_CODE.format(module="sys"))) for _ in range(runs))
        print("| module | import (median of %d fresh interpreters) | RSS added by the import |"
              " RSS added after `getAllSecrets` of %d | peak RSS of the process |" % (
                  runs, sizes[-1]))
        print("|---|---:|---:|---:|---:|")
        for module in ("lockbox_secrets.credstash", "credstash"):
            took = statistics.median(
                float(in_fresh_python(IMPORT_CODE.format(module=module))) for _ in range(runs))
            imported, called, peak = in_fresh_python(MEMORY_CODE.format(
                module=module, table="pybench-%d" % sizes[-1])).split()
            print("| `%s` | %.1f ms | %.1f MB | %.1f MB | %.1f MB |" % (
                module, took - bare, int(imported) / 1024, int(called) / 1024,
                int(peak) / 1024))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
