#!/usr/bin/env python3
"""Big-table benchmark: `lockbox list`, `keys`, `getall`, `export` and `doctor` on a
credstash-format table of 10,000 secrets x 5 versions, against credstash 1.17.1's
`list`, `keys` and `getall` on the same table, with every KMS and DynamoDB call
taking 10 ms, on one lockbox-mock emulator confined to one CPU. Runs are
interleaved (one run of each command per round); every run's output is checked
(every secret, every version, once) before its time counts. Prints a Markdown table
of medians, the ratio to credstash and each target.

Run through scripts/bench-big, which builds the release binaries.
Settings (environment): BENCH_BIG_SECRETS (10000), BENCH_BIG_VERSIONS (5),
BENCH_BIG_RUNS (5), BENCH_BIG_SLOW_RUNS (3: runs of credstash getall, the slow one),
BENCH_LATENCY_MS (10), BENCH_CONCURRENCY (unset: lockbox's default),
BENCH_BIG_COMMANDS (all: a comma-separated subset of the labels below' first words,
e.g. `list,keys`), BENCH_VENV (.venv), BENCH_PIN (1), CARGO_TARGET_DIR (target).
"""
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# The lifecycle benchmark's loader (boto3, credstash's item format, one data key for
# every item) and its reading of the emulator's CPU time; the shared helpers.
from bench_lifecycle import SEED, emulator_cpu

from bench import CREDSTASH, LOCKBOX, MOCK, VENV, control, env_for, pin_cpu  # noqa: E402
SECRETS = int(os.environ.get("BENCH_BIG_SECRETS", "10000"))
VERSIONS = int(os.environ.get("BENCH_BIG_VERSIONS", "5"))
RUNS = int(os.environ.get("BENCH_BIG_RUNS", "5"))
SLOW_RUNS = int(os.environ.get("BENCH_BIG_SLOW_RUNS", "3"))
LATENCY = int(os.environ.get("BENCH_LATENCY_MS", "10"))
CONCURRENCY = os.environ.get("BENCH_CONCURRENCY")
ONLY = [c for c in os.environ.get("BENCH_BIG_COMMANDS", "").split(",") if c]
TABLE = "big"
LOOKUP_TARGET = 10  # list and getall against credstash (issue 19)
DOCTOR_TARGET = 5000  # versions/s, the lifecycle benchmark's target for doctor


def names():
    return [f"bench/{i:05}" for i in range(SECRETS)]


def check_lines(expected):
    def check(out):
        lines = out.decode().splitlines()
        if len(lines) != expected:
            return f"{len(lines)} lines, not {expected}"
        return None
    return check


def check_list(out):
    """One line per version, each name with every version once."""
    seen = {}
    for line in out.decode().splitlines():
        name, version = line.split(" -- ")[:2]
        seen.setdefault(name.strip(), set()).add(version)
    want = {f"version {v:019}" for v in range(1, VERSIONS + 1)}
    lines = len(out.decode().splitlines())
    if lines != SECRETS * VERSIONS or sorted(seen) != names() \
            or any(v != want for v in seen.values()):
        return f"{lines} lines for {len(seen)} names, not {SECRETS} x {VERSIONS}"
    return None


def check_keys(out):
    got = out.decode().split()
    return None if got == names() else f"{len(got)} names, not the {SECRETS} expected"


def check_map(out):
    """Every name once, at its latest version's value."""
    m = json.loads(out)
    if sorted(m) != names():
        return f"{len(m)} secrets, not {SECRETS}"
    bad = [k for k, v in m.items()
           if not v.startswith(f"value-{int(k.split('/')[1])}-{VERSIONS}-")]
    return f"{len(bad)} values not the latest version's" if bad else None


def check_doctor(out):
    inventory = json.loads(out)["inventory"]
    items = inventory["items"]
    return None if items == SECRETS * VERSIONS else f"doctor saw {items} items"


def lockbox(*args):
    argv = [LOCKBOX, "-t", TABLE]
    if CONCURRENCY:
        argv += ["--concurrency", CONCURRENCY]
    return argv + list(args)


# (label, client, argv, output check, runs, compared with, target ratio)
COMMANDS = [
    ("list", "lockbox", lockbox("list"), check_list, RUNS, "list", LOOKUP_TARGET),
    ("list", "credstash", [CREDSTASH, "-t", TABLE, "list"], check_list, RUNS, None, None),
    ("keys", "lockbox", lockbox("keys"), check_keys, RUNS, "keys", None),
    ("keys", "credstash", [CREDSTASH, "-t", TABLE, "keys"], check_keys, RUNS, None, None),
    ("getall", "lockbox", lockbox("getall", "-f", "json"), check_map, RUNS, "getall",
     LOOKUP_TARGET),
    ("getall", "credstash", [CREDSTASH, "-t", TABLE, "getall", "-f", "json"], check_map,
     SLOW_RUNS, None, None),
    ("export", "lockbox", lockbox("export", "-f", "json"), check_map, RUNS, "getall", None),
    ("doctor", "lockbox", lockbox("-o", "json", "doctor"), check_doctor, RUNS, None, None),
]


def timed(argv, env, check, mock_pid, outdir):
    """Wall time, the command's CPU time and the emulator's over the run (seconds);
    exits if the command fails or its output is not every secret once."""
    path = os.path.join(outdir, "out")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    mock_before = emulator_cpu(mock_pid)
    with open(path, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=env["HOME"], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
    mock_cpu = emulator_cpu(mock_pid) - mock_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # doctor reports findings with a non-zero status; its report is checked instead.
    if proc.returncode != 0 and "doctor" not in argv:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                 f"{proc.stderr.decode(errors='replace')[-2000:]}")
    with open(path, "rb") as f:
        problem = check(f.read())
    if problem:
        sys.exit(f"{' '.join(argv)}: {problem}\n{proc.stderr.decode(errors='replace')[-2000:]}")
    return elapsed, cpu, mock_cpu


def main():
    cpu = pin_cpu()
    argv = [MOCK, "--listen", "127.0.0.1:0"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    mock = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    outdir = tempfile.mkdtemp(prefix="lockbox-bench-big-")
    commands = [c for c in COMMANDS if not ONLY or c[0] in ONLY]
    times = {(label, client): [] for label, client, *_ in commands}
    try:
        endpoint = mock.stdout.readline().strip()
        env = env_for(endpoint)
        python = os.path.join(VENV, "bin/python")
        boto = ("import boto3;k=boto3.client('kms');"
                "k.create_alias(AliasName='alias/credstash',"
                "TargetKeyId=k.create_key()['KeyMetadata']['KeyId'])")
        subprocess.run([python, "-c", boto], env=env, check=True)
        subprocess.run([LOCKBOX, "-t", TABLE, "setup", "--compat", "credstash"], env=env,
                       cwd=env["HOME"], check=True, stdout=subprocess.DEVNULL)
        t0 = time.perf_counter()
        subprocess.run([python, "-c", SEED, str(SECRETS), str(VERSIONS), TABLE], env=env,
                       check=True)
        print(f"loaded {SECRETS * VERSIONS:,} versions in {time.perf_counter() - t0:.0f} s "
              "(not measured)", file=sys.stderr)
        control(endpoint, "POST", "/_mock/faults", {"target": "*", "latency_ms": LATENCY})
        loads = []
        for r in range(max(runs for *_, runs, _, _ in commands)):
            loads.append(os.getloadavg()[0])
            for label, client, argv, check, runs, _, _ in commands:
                if r < runs:
                    times[(label, client)].append(timed(argv, env, check, mock.pid, outdir))
            print(f"round {r + 1} done", file=sys.stderr)
        loads.append(os.getloadavg()[0])
    finally:
        mock.terminate()
        mock.wait()
        shutil.rmtree(outdir, ignore_errors=True)

    def median(label, client, i=0):
        return statistics.median(t[i] for t in times[(label, client)])

    where = f"confined to CPU {cpu} (taskset)" if cpu is not None else "not confined to a CPU"
    print(f"emulator: {where}; {LATENCY} ms per call; table of {SECRETS:,} secrets x "
          f"{VERSIONS} versions ({SECRETS * VERSIONS:,} items, credstash format); "
          f"concurrency {CONCURRENCY or 'default'}; 1-minute load average "
          f"{min(loads):.1f}-{max(loads):.1f} during the runs ({os.cpu_count()} CPUs)")
    print()
    print("| command | client | runs | median wall | min-max | CPU (client) | CPU (emulator) "
          "| vs credstash | target | met? |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for label, client, argv, _, _, compared, target in commands:
        runs = times[(label, client)]
        wall = median(label, client)
        ratio, target_text, met = "", "", ""
        if compared and (compared, "credstash") in times:
            cs = median(compared, "credstash")
            ratio = f"{cs / wall:.1f}x"
            if target:
                target_text = f">= {target}x credstash"
                met = "met" if cs / wall >= target else "**not met**"
        if label == "doctor":
            rate = SECRETS * VERSIONS / wall
            target_text = f">= {DOCTOR_TARGET:,} versions/s"
            met = (f"{rate:,.0f}/s, " + ("met" if rate >= DOCTOR_TARGET else "**not met**"))
        shown = " ".join(a for a in argv[1:] if a not in ("-t", TABLE))
        print(f"| `{client} {shown}` | {client} | {len(runs)} | {wall:.3f} s | "
              f"{min(t[0] for t in runs):.3f}-{max(t[0] for t in runs):.3f} s | "
              f"{median(label, client, 1):.2f} s | {median(label, client, 2):.2f} s | {ratio} | "
              f"{target_text} | {met} |")


if __name__ == "__main__":
    main()
