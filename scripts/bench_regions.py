#!/usr/bin/env python3
"""Multi-region start-up benchmark: `lockbox exec` of N secrets with
`--regions us-east-1,eu-west-1` on one lockbox-mock (a global table replicated to
both regions, a multi-Region KMS key), 10 ms per call, with the home region
(us-east-1) healthy, answering 503, and not answering at all (an hour of latency).
The target (docs/BENCHMARKS.md): the failed-home cases within one attempt timeout
plus twice the healthy time. Runs of the three conditions are interleaved.

Run through scripts/bench (`scripts/bench regions`), which builds the release
binaries.
"""
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the shared helpers: env, timing, emulator control)

N = int(os.environ.get("BENCH_REGIONS_N", "100"))
ROUNDS = int(os.environ.get("BENCH_REGIONS_RUNS", "7"))
LATENCY_MS = 10
# lockbox's attempt timeout (AwsOptions::attempt_timeout's default).
ATTEMPT_TIMEOUT_S = 5.0
REGIONS = "us-east-1,eu-west-1"
TABLE = "bench-regions"

# Each condition's fault rules, first match first: the home region's own rule,
# then 10 ms on every call.
EVERY_CALL = {"target": "*", "latency_ms": LATENCY_MS}
CONDITIONS = [
    ("healthy", []),
    ("home 503", [{"target": "*", "region": "us-east-1", "error": "ServiceUnavailable",
                   "status": 503, "latency_ms": LATENCY_MS}]),
    ("home hanging", [{"target": "*", "region": "us-east-1", "latency_ms": 3600 * 1000}]),
]


def kms_call(endpoint, target, body):
    """An unsigned KMS call (served by us-east-1) to the emulator in open mode."""
    req = urllib.request.Request(endpoint + "/", method="POST", data=json.dumps(body).encode(),
                                 headers={"X-Amz-Target": f"TrentService.{target}",
                                          "Content-Type": "application/x-amz-json-1.1"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def fault_list(endpoint):
    with urllib.request.urlopen(endpoint + "/_mock/faults") as resp:
        return json.loads(resp.read())["rules"]


def start(cpu):
    """An emulator (on `cpu` if given) with a multi-Region key in us-east-1 and its
    replica in eu-west-1, and a global table of N secrets replicated to both."""
    argv = [bench.MOCK, "--listen", "127.0.0.1:0"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    endpoint = proc.stdout.readline().strip()
    env = bench.env_for(endpoint)
    arn = kms_call(endpoint, "CreateKey", {"MultiRegion": True})["KeyMetadata"]["Arn"]
    kms_call(endpoint, "ReplicateKey", {"KeyId": arn, "ReplicaRegion": "eu-west-1"})
    # Copies land before each write is answered: both regions hold every secret.
    bench.control(endpoint, "POST", "/_mock/replication", {"lag_ms": 0})
    base = [bench.LOCKBOX, "--regions", REGIONS, "-k", arn, "-t", TABLE]
    subprocess.run([*base, "setup"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    secrets = {f"bench/{i:04}": f"value-{i}-" + "x" * 24 for i in range(N)}
    subprocess.run([*base, "import", "-"], env=env, check=True,
                   input=json.dumps(secrets).encode(), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return proc, endpoint, env, base


def exec_argv(base):
    decl = []
    for i in range(N):
        decl += ["--env", f"S{i}=bench/{i:04}"]
    # BENCH_LOCKBOX: another build's binary for the same runs (such as the one
    # before a change), the set-up still done by this build's.
    return [os.environ.get("BENCH_LOCKBOX", base[0]), *base[1:], "exec", *decl, "--",
            "/bin/true"]


def run_once(argv, env):
    """Wall time (s) of one run, and whether it started its child."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=env["HOME"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, proc.returncode == 0


def set_condition(endpoint, rules):
    bench.control(endpoint, "DELETE", "/_mock/faults")
    for rule in [*rules, EVERY_CALL]:
        bench.control(endpoint, "POST", "/_mock/faults", rule)


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    cpu = bench.pin_cpu()
    print(f"load before: {uptime()}")
    proc, endpoint, env, base = start(cpu)
    argv = exec_argv(base)
    times = {name: [] for name, _ in CONDITIONS}
    failed = {name: 0 for name, _ in CONDITIONS}
    home_calls = {name: [] for name, _ in CONDITIONS}
    try:
        for name, rules in CONDITIONS:  # one warm-up run of each
            set_condition(endpoint, rules)
            run_once(argv, env)
        for _ in range(ROUNDS):
            for name, rules in CONDITIONS:
                set_condition(endpoint, rules)
                elapsed, ok = run_once(argv, env)
                times[name].append(elapsed)
                failed[name] += not ok
                if rules:
                    home_calls[name].append(fault_list(endpoint)[0]["fired"])
    finally:
        proc.terminate()
        proc.wait()
    print(f"load after: {uptime()}")
    where = f"confined to CPU {cpu} (taskset)" if cpu is not None else "not confined to a CPU"
    print(f"emulator: {where}; exec of {N} secrets, --regions {REGIONS}, {LATENCY_MS} ms per "
          f"call, {ROUNDS} interleaved runs of each condition (median; min-max)")
    healthy = statistics.median(times["healthy"])
    target = ATTEMPT_TIMEOUT_S + 2 * healthy
    print()
    print("| home region (us-east-1) | median | min-max | calls the home region received per run "
          "| failed runs | target | met? |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, _ in CONDITIONS:
        t = times[name]
        med = statistics.median(t)
        calls = "-"
        if home_calls[name]:
            calls = f"{min(home_calls[name])}-{max(home_calls[name])}"
        if name == "healthy":
            goal, met = "-", "-"
        else:
            goal = f"{target * 1000:.0f} ms"
            met = "met" if med <= target and not failed[name] else "NOT met"
        print(f"| {name} | {med * 1000:.1f} ms | {min(t) * 1000:.1f}-{max(t) * 1000:.1f} ms "
              f"| {calls} | {failed[name]} of {len(t)} | {goal} | {met} |")
    print()
    print(f"target: one attempt timeout ({ATTEMPT_TIMEOUT_S:.0f} s) plus twice the healthy "
          f"median ({healthy * 1000:.1f} ms) = {target * 1000:.0f} ms")


if __name__ == "__main__":
    start_time = time.time()
    main()
    print(f"(benchmark took {time.time() - start_time:.0f} s)")
