#!/usr/bin/env python3
"""Fleet start benchmark: many `lockbox exec` processes started at once against one
table and key whose quotas are far below the burst they make, against as many
`credstash getall` processes under the same quotas. Prints, for each client, how
many processes started with all their secrets, failed closed or went partial, the
p50/p99 start time, and the calls and retries per secret, with the targets.

Run through scripts/bench-fleet, which builds the release binaries.
Settings (environment): BENCH_FLEET_PROCS (200), BENCH_FLEET_SECRETS (20),
BENCH_FLEET_KMS_RPS (200), BENCH_FLEET_READ_UNITS (200), BENCH_FLEET_DEADLINE (30s),
BENCH_FLEET_CREDSTASH_PROCS (as BENCH_FLEET_PROCS; 0 skips credstash),
BENCH_FLEET_MODES (lockbox retry settings to run, `default,adaptive`),
BENCH_LATENCY_MS (0), BENCH_VENV (.venv), BENCH_PIN (1).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import CREDSTASH, LOCKBOX, MOCK, VENV, control, env_for, pin_cpu  # noqa: E402  (the shared helpers)
PROCS = int(os.environ.get("BENCH_FLEET_PROCS", "200"))
SECRETS = int(os.environ.get("BENCH_FLEET_SECRETS", "20"))
KMS_RPS = int(os.environ.get("BENCH_FLEET_KMS_RPS", "200"))
READ_UNITS = int(os.environ.get("BENCH_FLEET_READ_UNITS", "200"))
DEADLINE = os.environ.get("BENCH_FLEET_DEADLINE", "30s")
CS_PROCS = int(os.environ.get("BENCH_FLEET_CREDSTASH_PROCS", str(PROCS)))
MODES = os.environ.get("BENCH_FLEET_MODES", "default,adaptive").split(",")
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "0"))
TABLE = "fleet"
# A process still running after this long is killed and counted as hung (credstash
# has no deadline of its own).
KILL_AFTER = float(os.environ.get("BENCH_FLEET_KILL_AFTER", "120"))
HUNG = [0]
# The last lines of the first failed process's stderr, by client: why it failed.
FIRST_FAILURE = {}

# lockbox's retry settings, through the standard AWS variables it honours.
MODE_ENV = {
    "default": {},
    "adaptive": {"AWS_RETRY_MODE": "adaptive"},
    "attempts10": {"AWS_MAX_ATTEMPTS": "10"},
    "adaptive10": {"AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "10"},
}


def start_emulator(cpu, home):
    argv = [MOCK, "--listen", "127.0.0.1:0"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    endpoint = proc.stdout.readline().strip()
    env = env_for(endpoint, home)
    boto = (
        "import boto3;k=boto3.client('kms');"
        "i=k.create_key()['KeyMetadata']['KeyId'];"
        "k.create_alias(AliasName='alias/credstash',TargetKeyId=i)"
    )
    subprocess.run([os.path.join(VENV, "bin/python"), "-c", boto], env=env, check=True)
    subprocess.run([LOCKBOX, "-t", TABLE, "setup", "--compat", "credstash"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    secrets = {f"fleet/{i:04}": f"value-{i}-" + "x" * 24 for i in range(SECRETS)}
    subprocess.run([LOCKBOX, "-t", TABLE, "import", "-"], env=env, check=True,
                   input=json.dumps(secrets).encode(), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return proc, endpoint, env


def reset_counters(endpoint):
    """Counting rules: each call fires the first rule that matches it."""
    control(endpoint, "DELETE", "/_mock/faults")
    for target in ("dynamodb:*", "kms:*"):
        control(endpoint, "POST", "/_mock/faults", {"target": target, "latency_ms": LATENCY_MS})


def calls(endpoint):
    rules = control(endpoint, "GET", "/_mock/faults")["rules"]
    return {r["rule"]["target"] if "rule" in r else r["target"]: r["fired"] for r in rules}


def exec_argv():
    decl = []
    for i in range(SECRETS):
        decl += ["--env", f"S{i}=fleet/{i:04}"]
    return [LOCKBOX, "-t", TABLE, "exec", "--deadline", DEADLINE, *decl, "--", "/bin/true"]


def credstash_argv():
    return [CREDSTASH, "-t", TABLE, "getall", "-f", "json"]


def fleet(argv, env, n, outdir, check_output):
    """Starts n processes at once; returns (started, failed, partial, start times)."""
    ends = [None] * n

    hung = [False] * n

    def wait(i, p):
        try:
            p.wait(timeout=KILL_AFTER)
        except subprocess.TimeoutExpired:
            hung[i] = True
            p.kill()
            p.wait()
        ends[i] = time.perf_counter()

    procs, waiters = [], []
    for i in range(n):
        with open(os.path.join(outdir, f"{i}.out"), "wb") as out, \
                open(os.path.join(outdir, f"{i}.err"), "wb") as err:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, env=env, cwd=env["HOME"], stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=err)
        procs.append((p, t0))
        w = threading.Thread(target=wait, args=(i, p))
        w.start()
        waiters.append(w)
    for w in waiters:
        w.join()
    times, started, failed, partial = [], 0, 0, 0
    for i, (p, t0) in enumerate(procs):
        if hung[i]:
            failed += 1
            HUNG[0] += 1
        elif p.returncode != 0:
            failed += 1
            if failed == 1:
                with open(os.path.join(outdir, f"{i}.err"), errors="replace") as f:
                    FIRST_FAILURE[argv[0]] = f.read().strip().splitlines()[-3:]
        elif check_output and not check_output(os.path.join(outdir, f"{i}.out")):
            partial += 1
        else:
            started += 1
            times.append(ends[i] - t0)
    return started, failed, partial, times


def complete_getall(path):
    try:
        with open(path) as f:
            return len(json.load(f)) == SECRETS
    except (ValueError, OSError):
        return False


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def run(label, argv, env, n, endpoint, baseline, outdir, check_output=None):
    reset_counters(endpoint)
    time.sleep(2)  # the buckets refill (each holds one second of its rate)
    HUNG[0] = 0
    wall0 = time.perf_counter()
    FIRST_FAILURE.pop(argv[0], None)
    started, failed, partial, times = fleet(argv, env, n, outdir, check_output)
    wall = time.perf_counter() - wall0
    c = calls(endpoint)
    total = c.get("dynamodb:*", 0) + c.get("kms:*", 0)
    per_secret = total / (n * SECRETS)
    retries = (total - n * baseline) / (n * SECRETS)
    return {
        "label": label, "n": n, "started": started, "failed": failed, "partial": partial,
        "p50": pct(times, 0.5), "p99": pct(times, 0.99), "max": max(times, default=float("nan")),
        "wall": wall, "calls": total, "ddb": c.get("dynamodb:*", 0), "kms": c.get("kms:*", 0),
        "per_secret": per_secret, "retries": retries, "hung": HUNG[0],
        "first_failure": FIRST_FAILURE.get(argv[0]),
    }


def main():
    cpu = pin_cpu()
    home = tempfile.mkdtemp(prefix="lockbox-bench-fleet-")
    outdir = os.path.join(home, "out")
    os.makedirs(outdir)
    proc, endpoint, env = start_emulator(cpu, home)
    rows = []
    try:
        # Calls of one unthrottled process, the baseline for retries.
        reset_counters(endpoint)
        subprocess.run(exec_argv(), env=env, cwd=home, check=True)
        c = calls(endpoint)
        lb_base = c["dynamodb:*"] + c["kms:*"]
        cs_base = None
        if CS_PROCS:
            reset_counters(endpoint)
            subprocess.run(credstash_argv(), env=env, cwd=home, check=True,
                           stdout=subprocess.DEVNULL)
            c = calls(endpoint)
            cs_base = c["dynamodb:*"] + c["kms:*"]
        control(endpoint, "POST", "/_mock/quotas",
                {"kms_rps": KMS_RPS, "on_demand_read_units": READ_UNITS})
        for mode in MODES:
            menv = dict(env, **MODE_ENV[mode])
            rows.append(run(f"lockbox exec ({mode})", exec_argv(), menv, PROCS, endpoint,
                            lb_base, outdir))
        if CS_PROCS:
            rows.append(run("credstash getall", credstash_argv(), env, CS_PROCS, endpoint,
                            cs_base, outdir, complete_getall))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(home, ignore_errors=True)

    where = f"confined to CPU {cpu} (taskset)" if cpu is not None else "not confined to a CPU"
    print(f"emulator: {where}; quotas: KMS {KMS_RPS} requests/s, table {READ_UNITS} read "
          f"units/s (on-demand maximum); {SECRETS} secrets per process; latency {LATENCY_MS} ms; "
          f"exec --deadline {DEADLINE}")
    print(f"calls of one unthrottled process: lockbox {lb_base}"
          + (f", credstash {cs_base}" if cs_base is not None else ""))
    print()
    print(f"(a process still running after {KILL_AFTER:.0f} s is killed and counted as failed, "
          "\"hung\")")
    print()
    print("| client | processes | started whole | failed (hung) | partial | p50 start | "
          "p99 start | last | calls | calls / secret | retries / secret | limit | p99 / limit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        # The quota-bound time of the fleet's required calls: the decrypts against the
        # KMS quota, the reads against the table's (one unit per secret, at least).
        limit = r["n"] * SECRETS / min(KMS_RPS, READ_UNITS)
        print(f"| {r['label']} | {r['n']} | {r['started']} | {r['failed']} ({r['hung']}) | {r['partial']} | "
              f"{r['p50']:.2f} s | {r['p99']:.2f} s | {r['max']:.2f} s | {r['calls']} | "
              f"{r['per_secret']:.2f} | {r['retries']:.2f} | {limit:.1f} s | "
              f"{r['p99'] / limit:.2f}x |")
    print()
    for r in rows:
        if r.get("first_failure"):
            print(f"{r['label']}: the first failed process said:")
            for line in r["first_failure"]:
                print(f"    {line}")
            print()
    lb = rows[0]
    print("| target | measured | met? |")
    print("|---|---|---|")
    print(f"| 100% of processes start | {lb['started']} of {lb['n']} | "
          f"{'yes' if lb['started'] == lb['n'] else 'no'} |")
    print(f"| retries <= 1 per secret | {lb['retries']:.2f} | "
          f"{'yes' if lb['retries'] <= 1 else 'no'} |")
    limit = lb["n"] * SECRETS / min(KMS_RPS, READ_UNITS)
    print(f"| p99 within 2x calls / quota | {lb['p99']:.2f} s against {limit:.1f} s "
          f"({lb['p99'] / limit:.2f}x) | {'yes' if lb['p99'] <= 2 * limit else 'no'} |")


if __name__ == "__main__":
    main()
