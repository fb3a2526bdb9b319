#!/usr/bin/env python3
"""Start-up benchmark: `lockbox exec` and `lockbox get` against credstash 1.17.1
`getall` and `get`, on one lockbox-mock emulator, with 0 ms and 10 ms of injected
latency per call. Prints Markdown tables of medians, peak resident memory and ratios.

Run through scripts/bench, which builds the release binaries and the venv.
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The binaries `cargo build --release` made (CARGO_TARGET_DIR, as cargo reads it).
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
LOCKBOX = os.path.join(TARGET, "release/lockbox")
MOCK = os.path.join(TARGET, "release/lockbox-mock")
# The venv with credstash (and moto, boto3); BENCH_VENV names another.
VENV = os.path.abspath(os.environ.get("BENCH_VENV") or os.path.join(ROOT, ".venv"))
CREDSTASH = os.path.join(VENV, "bin/credstash")
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1,10,100,500").split(",")]
LATENCIES = [int(n) for n in os.environ.get("BENCH_LATENCIES", "0,10").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
SLOW_RUNS = int(os.environ.get("BENCH_SLOW_RUNS", "5"))


def env_for(endpoint, home=None):
    """The environment of a benchmarked client of `endpoint`: fixed credentials,
    no profile, HOME `home` (default target/bench-home)."""
    home = home or os.path.join(ROOT, "target/bench-home")
    os.makedirs(home, exist_ok=True)
    for f in ("config", "credentials"):
        open(os.path.join(home, f), "a").close()
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "AWS_ACCESS_KEY_ID": "AKIDBENCH",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_KMS": endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_CONFIG_FILE": os.path.join(home, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        # The table's account, as a deployment gives it (or a key ARN for -k): lockbox
        # then reads a table's record with one call, in parallel with the items.
        "AWS_ACCOUNT_ID": "000000000000",
    }


def run_once(argv, env):
    """Wall time (s) of one run; fails loudly on error."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=env["HOME"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        sys.exit(f"benchmark command failed ({proc.returncode}): {' '.join(argv[:6])} ...\n{err}")
    return elapsed


def peak_rss_kib(argv, env):
    """Peak RSS of the command itself, from GNU time. (The rusage of a child forked
    from Python counts Python's own pages from before the exec, so it is not used.)"""
    if not os.path.exists("/usr/bin/time"):
        return float("nan")
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, cwd=env["HOME"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return int(out.stderr.decode().strip().splitlines()[-1])


def measure(argv, env, runs):
    run_once(argv, env)  # warm the page cache
    times = [run_once(argv, env) for _ in range(runs)]
    rss = max(peak_rss_kib(argv, env) for _ in range(3))
    return statistics.median(times), rss


def control(endpoint, method, path, body=None):
    """A call to the emulator's control API; its JSON answer, or None."""
    req = urllib.request.Request(endpoint + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        text = resp.read()
        return json.loads(text) if text else None


def pin_cpu():
    """The CPU the emulator is confined to, or None. A real KMS and DynamoDB run on
    other machines; on a small benchmark machine the emulator would otherwise
    compete with the client for its core. Both clients get the same treatment.
    BENCH_PIN=0 turns it off."""
    if os.environ.get("BENCH_PIN", "1") == "0" or not shutil.which("taskset"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[-1] if len(cpus) >= 2 else None


def start_emulator(cpu, sizes):
    """An emulator (on `cpu` if given) with a KMS key and one credstash-format table
    per size, `bench-N`, holding N secrets."""
    argv = [MOCK, "--listen", "127.0.0.1:0"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    endpoint = proc.stdout.readline().strip()
    env = env_for(endpoint)
    boto = (
        "import boto3;k=boto3.client('kms');"
        "i=k.create_key()['KeyMetadata']['KeyId'];"
        "k.create_alias(AliasName='alias/credstash',TargetKeyId=i)"
    )
    subprocess.run([os.path.join(VENV, "bin/python"), "-c", boto], env=env, check=True)
    # One table per size, set up for credstash clients (legacy items).
    for n in sizes:
        table = f"bench-{n}"
        subprocess.run([LOCKBOX, "-t", table, "setup", "--compat", "credstash"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        secrets = {f"bench/{i:04}": f"value-{i}-" + "x" * 24 for i in range(n)}
        subprocess.run([LOCKBOX, "-t", table, "import", "-"], env=env, check=True,
                       input=json.dumps(secrets).encode(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return proc, endpoint, env


def exec_argv(n):
    decl = []
    for i in range(n):
        decl += ["--env", f"S{i}=bench/{i:04}"]
    return [LOCKBOX, "-t", f"bench-{n}", "exec", *decl, "--", "/bin/true"]


def unpinned_comparison(n, latency):
    """`exec` of n at `latency` with the emulator free to run on any CPU."""
    proc, endpoint, env = start_emulator(None, [n])
    try:
        control(endpoint, "POST", "/_mock/faults", {"target": "*", "latency_ms": latency})
        return measure(exec_argv(n), env, RUNS)[0]
    finally:
        proc.terminate()
        proc.wait()


def main():
    cpu = pin_cpu()
    proc, endpoint, env = start_emulator(cpu, SIZES)
    try:
        start_time, start_rss = measure([LOCKBOX, "--version"], env, RUNS)
        rows = []
        for latency in LATENCIES:
            control(endpoint, "DELETE", "/_mock/faults")
            if latency:
                control(endpoint, "POST", "/_mock/faults", {"target": "*", "latency_ms": latency})
            limit = 2 * latency / 1000 + start_time
            for n in SIZES:
                table = f"bench-{n}"
                lb_t, lb_m = measure(exec_argv(n), env, RUNS)
                cs_t, cs_m = measure([CREDSTASH, "-t", table, "getall"], env, SLOW_RUNS)
                rows.append(("exec", latency, n, lb_t, lb_m, cs_t, cs_m, limit))
            table = f"bench-{SIZES[0]}"
            lb_t, lb_m = measure([LOCKBOX, "-t", table, "get", "bench/0000"], env, RUNS)
            cs_t, cs_m = measure([CREDSTASH, "-t", table, "get", "bench/0000"], env, SLOW_RUNS)
            rows.append(("get", latency, 1, lb_t, lb_m, cs_t, cs_m, limit))
    finally:
        proc.terminate()
        proc.wait()

    compare = None
    if cpu is not None and 100 in SIZES and 10 in LATENCIES:
        compare = unpinned_comparison(100, 10)

    where = f"confined to CPU {cpu} (taskset)" if cpu is not None else "not confined to a CPU"
    print(f"emulator: {where}")
    print(f"process start (`lockbox --version`): {start_time * 1000:.1f} ms, {start_rss / 1024:.1f} MB peak RSS")
    print(f"binary size: {os.path.getsize(LOCKBOX) / 1e6:.1f} MB")
    print()
    print("| command | latency | N | lockbox median | credstash median | speed-up | "
          "2-RT limit | lockbox / limit | lockbox peak RSS | credstash peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind, latency, n, lb_t, lb_m, cs_t, cs_m, limit in rows:
        what = "`exec` vs `getall`" if kind == "exec" else "cold `get` vs `get`"
        print(f"| {what} | {latency} ms | {n} | {lb_t * 1000:.1f} ms | {cs_t * 1000:.0f} ms | "
              f"{cs_t / lb_t:.1f}x | {limit * 1000:.1f} ms | {lb_t / limit:.2f}x | "
              f"{lb_m / 1024:.1f} MB | {cs_m / 1024:.1f} MB |")
    if compare is not None:
        limit = 2 * 10 / 1000 + start_time
        print()
        print(f"with the emulator on any CPU: `exec` of 100 at 10 ms {compare * 1000:.1f} ms "
              f"({compare / limit:.2f}x the two-round-trip limit)")


if __name__ == "__main__":
    main()
