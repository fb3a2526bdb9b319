#!/usr/bin/env python3
"""Lifecycle benchmark: `lockbox doctor`, `migrate`, `sync` and `rewrap` on a
credstash-format table of 10,000 versions (2,000 secrets x 5 versions), with every
KMS and DynamoDB call taking 10 ms on one lockbox-mock emulator. Prints a Markdown
table of wall times and rates.

Run through scripts/bench-lifecycle, which builds the release binaries and the venv.
Settings: BENCH_SECRETS (2000), BENCH_VERSIONS (5), BENCH_LATENCY_MS (10),
BENCH_CONCURRENCY (unset: lockbox's default), BENCH_PIN (1: the emulator on the
last CPU).
"""
import base64
import hashlib
import hmac
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import LOCKBOX, MOCK, VENV, control, env_for, pin_cpu  # noqa: E402  (the shared helpers)
SECRETS = int(os.environ.get("BENCH_SECRETS", "2000"))
VERSIONS = int(os.environ.get("BENCH_VERSIONS", "5"))
LATENCY = int(os.environ.get("BENCH_LATENCY_MS", "10"))
CONCURRENCY = os.environ.get("BENCH_CONCURRENCY")

SEED = r"""
import base64, hashlib, hmac, json, sys
import boto3
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

secrets, versions, table = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
kms = boto3.client("kms")
ddb = boto3.client("dynamodb")
# One data key for every item: the benchmark measures lockbox, not KMS.
key = kms.generate_data_key(KeyId="alias/credstash", NumberOfBytes=64)
data_key, hmac_key = key["Plaintext"][:32], key["Plaintext"][32:]
wrapped = base64.b64encode(key["CiphertextBlob"]).decode()
def item(name, version, value):
    enc = Cipher(algorithms.AES(data_key), modes.CTR(b"\x00" * 15 + b"\x01")).encryptor()
    contents = enc.update(value.encode()) + enc.finalize()
    mac = hmac.new(hmac_key, contents, hashlib.sha256).hexdigest()
    return {"PutRequest": {"Item": {
        "name": {"S": name}, "version": {"S": "%019d" % version},
        "key": {"S": wrapped}, "contents": {"S": base64.b64encode(contents).decode()},
        "hmac": {"S": mac}, "digest": {"S": "SHA256"}}}}
batch = []
for i in range(secrets):
    for v in range(1, versions + 1):
        batch.append(item("bench/%05d" % i, v, "value-%d-%d-%s" % (i, v, "x" * 24)))
        if len(batch) == 25:
            ddb.batch_write_item(RequestItems={table: batch})
            batch = []
if batch:
    ddb.batch_write_item(RequestItems={table: batch})
"""


def lockbox(env, *args, expect=(0,)):
    """Run lockbox: its wall time and CPU time (user + system) in seconds, and the JSON
    document it printed."""
    argv = [LOCKBOX]
    if CONCURRENCY:
        argv += ["--concurrency", CONCURRENCY]
    argv += ["-o", "json", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=env["HOME"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in expect:
        sys.exit(f"lockbox {' '.join(args)} failed ({proc.returncode}):\n"
                 f"{proc.stderr.decode(errors='replace')}")
    return elapsed, cpu, json.loads(proc.stdout or b"null")


def emulator_cpu(pid):
    """CPU seconds (user + system) the emulator has used so far, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def main():
    pinned = pin_cpu()
    argv = [MOCK, "--listen", "127.0.0.1:0"]
    if pinned is not None:
        # exec: the emulator replaces taskset, so its pid is the child's.
        argv = ["taskset", "-c", str(pinned), *argv]
    mock = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        endpoint = mock.stdout.readline().strip()
        env = env_for(endpoint)
        python = os.path.join(VENV, "bin/python")
        boto = ("import boto3;k=boto3.client('kms')\n"
                "for a in ('alias/credstash','alias/bench-new'):\n"
                "    k.create_alias(AliasName=a,TargetKeyId=k.create_key()['KeyMetadata']['KeyId'])")
        subprocess.run([python, "-c", boto], env=env, check=True)
        lockbox(env, "-t", "bench-src", "setup", "--compat", "credstash")
        lockbox(env, "-t", "bench-sealed", "setup")
        subprocess.run([python, "-c", SEED, str(SECRETS), str(VERSIONS), "bench-src"],
                       env=env, check=True)
        total = SECRETS * VERSIONS
        control(endpoint, "POST", "/_mock/faults", {"target": "*", "latency_ms": LATENCY})

        rows = []
        emulator_before = [0.0]

        def measured(*args):
            emulator_before[0] = emulator_cpu(mock.pid)
            return lockbox(env, *args)

        def row(what, elapsed, n, target):
            rows.append((what, elapsed, cpu, emulator_cpu(mock.pid) - emulator_before[0],
                         n, target))

        t, cpu, report = measured("-t", "bench-src", "doctor")
        assert report["inventory"]["items"] == total, report["inventory"]
        row("`doctor` (no `--verify`)", t, total, 5000)
        t, cpu, report = measured("-t", "bench-src", "doctor", "--verify")
        assert report["inventory"]["verified"] == total, report["inventory"]
        row("`doctor --verify`", t, total, None)
        t, cpu, report = measured("-t", "bench-src", "migrate", "--to-table", "bench-sealed")
        assert len(report["copied"]) == total, {k: v for k, v in report.items() if k != "copied"}
        row("`migrate` (every version copied)", t, total, 500)
        t, cpu, report = measured("-t", "bench-src", "migrate", "--to-table", "bench-sealed")
        assert len(report["unchanged"]) == total
        row("`migrate` again (every version compared)", t, total, None)
        t, cpu, report = measured("-t", "bench-src", "sync", "--to-table", "bench-dr")
        assert len(report["copied"]) == total
        row("`sync` (every item copied, target created)", t, total, 2000)
        t, cpu, report = measured("-t", "bench-src", "sync", "--to-table", "bench-dr")
        assert len(report["unchanged"]) == total
        row("`sync` again (every item compared)", t, total, None)
        t, cpu, report = measured("-t", "bench-src", "rewrap", "--to-key", "alias/bench-new")
        assert len(report["rewrapped"]) == total and report["pin_moved"], report["passes"]
        row("`rewrap` (every item moved, then the pin)", t, total, 500)
        t, cpu, report = measured("-t", "bench-src", "-k", "alias/bench-new", "rewrap",
                            "--to-key", "alias/bench-new")
        assert len(report["unchanged"]) == total
        row("`rewrap` again (every item checked)", t, total, None)
    finally:
        mock.terminate()
        mock.wait()

    where = (f"confined to CPU {pinned} (taskset)" if pinned is not None
             else "not confined to a CPU")
    print(f"emulator: {where}; {LATENCY} ms per call; {total} versions "
          f"({SECRETS} secrets x {VERSIONS}); concurrency {CONCURRENCY or 'default'}")
    print()
    print("| command | versions | wall time | rate | lockbox CPU | emulator CPU | target | met? |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for what, elapsed, cpu, ecpu, n, target in rows:
        rate = n / elapsed
        met = "" if target is None else ("yes" if rate >= target else "**no**")
        target_text = "" if target is None else f"≥ {target:,}/s"
        print(f"| {what} | {n:,} | {elapsed:.2f} s | {rate:,.0f}/s | {cpu:.2f} s "
              f"({cpu / elapsed:.0%}) | {ecpu:.2f} s ({ecpu / elapsed:.0%}) | {target_text} "
              f"| {met} |")


if __name__ == "__main__":
    main()
