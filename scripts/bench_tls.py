#!/usr/bin/env python3
"""Start-up over TLS through a network with real round trips: `lockbox exec` and a
cold `lockbox get` against credstash 1.17.1 `getall` and `get`, both trusting the
emulator's CA through AWS_CA_BUNDLE, each service behind its own delay proxy
(`lockbox-mock delay-proxy`: every packet pays half the round-trip time each way,
so TCP and TLS handshakes pay it too). Prints each target with its measured ratio.

Run through `scripts/bench tls`, which builds the release binaries and the venv.
BENCH_RTT_MS (default 10), BENCH_SIZES, BENCH_RUNS, BENCH_SLOW_RUNS as in bench.py.
"""
import json
import math
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the shared helpers: env, timing, peak RSS)

RTT_MS = float(os.environ.get("BENCH_RTT_MS", "10"))
CONCURRENCY = 128  # lockbox's default fetch concurrency


def start_tls_emulator(cpu, sizes):
    """A TLS emulator (on `cpu` if given) with a KMS key and a credstash-mode table
    `bench-N` of N secrets per size, set up directly (no delay)."""
    argv = [bench.MOCK, "--listen", "127.0.0.1:0", "--tls"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = proc.stdout.readline().strip()
    ca_line = proc.stdout.readline().strip()
    if not url.startswith("https://") or not ca_line.startswith("AWS_CA_BUNDLE="):
        sys.exit(f"lockbox-mock --tls printed {url!r}, {ca_line!r}")
    ca = ca_line.split("=", 1)[1]
    env = dict(bench.env_for(url), AWS_CA_BUNDLE=ca)
    boto = (
        "import boto3;k=boto3.client('kms');"
        "i=k.create_key()['KeyMetadata']['KeyId'];"
        "k.create_alias(AliasName='alias/credstash',TargetKeyId=i)"
    )
    subprocess.run([os.path.join(bench.VENV, "bin/python"), "-c", boto], env=env, check=True)
    for n in sizes:
        table = f"bench-{n}"
        subprocess.run([bench.LOCKBOX, "-t", table, "setup", "--compat", "credstash"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        secrets = {f"bench/{i:04}": f"value-{i}-" + "x" * 24 for i in range(n)}
        subprocess.run([bench.LOCKBOX, "-t", table, "import", "-"], env=env, check=True,
                       input=json.dumps(secrets).encode(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return proc, url, ca


def start_delay_proxy(upstream, cpu):
    """`lockbox-mock delay-proxy` in front of `upstream` (host:port), on `cpu`."""
    argv = [bench.MOCK, "delay-proxy", "--upstream", upstream, "--rtt-ms", str(RTT_MS)]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, proc.stdout.readline().strip()


def proc_cpu_ms(pid):
    """User + system CPU of a running process so far, in ms."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def cpu_split(argv, env, servers, runs=5):
    """Median CPU of one run of `argv`: its own (GNU time), the emulator's and the
    delay proxies' (from /proc), in ms."""
    client, server, proxies = [], [], []
    for _ in range(runs):
        before = [proc_cpu_ms(p.pid) for p in servers]
        out = subprocess.run(["/usr/bin/time", "-f", "%U %S", *argv], env=env, cwd=env["HOME"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        after = [proc_cpu_ms(p.pid) for p in servers]
        user, sys_ = out.stderr.decode().strip().splitlines()[-1].split()
        client.append((float(user) + float(sys_)) * 1000)
        server.append(after[0] - before[0])
        proxies.append(sum(a - b for a, b in zip(after[1:], before[1:])))
    return (statistics.median(client), statistics.median(server), statistics.median(proxies))


def limits(start_s, n):
    """The physical limit of `exec` of n (and of a cold `get`, n=1), in seconds.

    One connection carries one request at a time (HTTP/1.1, as AWS's endpoints
    serve the SDKs), so n requests at once need n connections. With every
    connection opened at start-up, to DynamoDB and to KMS together:
    TCP handshake (1 RTT) + TLS 1.3 handshake (1 RTT) + the reads (one RTT per
    wave of `CONCURRENCY`) + the last wave's decrypts (1 RTT; the KMS connections
    were opened while the reads were in flight), plus the process's own start.
    """
    waves = math.ceil(n / CONCURRENCY)
    rtts = 2 + waves + 1
    return start_s + rtts * RTT_MS / 1000, rtts


def main():
    cpu = bench.pin_cpu()
    sizes = bench.SIZES
    procs = []
    try:
        mock, url, ca = start_tls_emulator(cpu, sizes)
        procs.append(mock)
        upstream = url.split("://", 1)[1]
        kms_proxy, kms_addr = start_delay_proxy(upstream, cpu)
        ddb_proxy, ddb_addr = start_delay_proxy(upstream, cpu)
        procs += [kms_proxy, ddb_proxy]
        # One proxy per service, each by its own host name (the certificate has
        # both): two origins and two TLS session caches, as kms.* and dynamodb.*
        # are, so no connection to one resumes a session of the other.
        kms_port = kms_addr.rsplit(":", 1)[1]
        env = dict(bench.env_for(url), AWS_CA_BUNDLE=ca,
                   AWS_ENDPOINT_URL_KMS=f"https://localhost:{kms_port}",
                   AWS_ENDPOINT_URL_DYNAMODB=f"https://{ddb_addr}")
        start_s, start_rss = bench.measure([bench.LOCKBOX, "--version"], env, bench.RUNS)
        rows = []
        cpu_rows = []
        for n in sizes:
            cpu_rows.append((n, *cpu_split(bench.exec_argv(n), env, [mock, kms_proxy, ddb_proxy])))
            lb_t, lb_m = bench.measure(bench.exec_argv(n), env, bench.RUNS)
            cs_t, cs_m = bench.measure([bench.CREDSTASH, "-t", f"bench-{n}", "getall"], env,
                                       bench.SLOW_RUNS)
            rows.append(("exec", n, lb_t, lb_m, cs_t, cs_m))
        table = f"bench-{sizes[0]}"
        lb_t, lb_m = bench.measure([bench.LOCKBOX, "-t", table, "get", "bench/0000"], env,
                                   bench.RUNS)
        cs_t, cs_m = bench.measure([bench.CREDSTASH, "-t", table, "get", "bench/0000"], env,
                                   bench.SLOW_RUNS)
        rows.append(("get", 1, lb_t, lb_m, cs_t, cs_m))
        # The same without the KMS connections opened while the reads are in flight.
        late = dict(env, LOCKBOX_OPEN_CONNECTIONS_EARLY="0")
        late_rows = []
        for what, argv in ((f"`exec` of {n}", bench.exec_argv(n)) for n in sizes if n <= 100):
            late_rows.append((what, bench.measure(argv, late, bench.RUNS)[0],
                              bench.measure(argv, env, bench.RUNS)[0]))
        get_argv = [bench.LOCKBOX, "-t", table, "get", "bench/0000"]
        late_rows.append(("cold `get`", bench.measure(get_argv, late, bench.RUNS)[0],
                          bench.measure(get_argv, env, bench.RUNS)[0]))
    finally:
        for p in procs:
            p.terminate()
            p.wait()

    where = f"confined to CPU {cpu} (taskset)" if cpu is not None else "not confined to a CPU"
    print(f"emulator and delay proxies: {where}; round trip {RTT_MS:g} ms; TLS 1.3")
    print(f"process start (`lockbox --version`): {start_s * 1000:.1f} ms, "
          f"{start_rss / 1024:.1f} MB peak RSS")
    print()
    print("| command | N | lockbox median | credstash median | speed-up | limit (RTTs) | "
          "lockbox / limit | lockbox peak RSS | credstash peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    by_key = {}
    for kind, n, lb_t, lb_m, cs_t, cs_m in rows:
        limit, rtts = limits(start_s, n)
        by_key[(kind, n)] = (lb_t, lb_m, cs_t, limit)
        what = "`exec` vs `getall`" if kind == "exec" else "cold `get` vs `get`"
        print(f"| {what} | {n} | {lb_t * 1000:.1f} ms | {cs_t * 1000:.0f} ms | "
              f"{cs_t / lb_t:.1f}x | {limit * 1000:.1f} ms ({rtts}) | {lb_t / limit:.2f}x | "
              f"{lb_m / 1024:.1f} MB | {cs_m / 1024:.1f} MB |")
    print()
    print("KMS connections opened while the reads are in flight (default) or after them "
          "(`LOCKBOX_OPEN_CONNECTIONS_EARLY=0`), interleaved:")
    print()
    print("| command | after the reads | while the reads are in flight | saved |")
    print("|---|---:|---:|---:|")
    for what, late_t, early_t in late_rows:
        print(f"| {what} | {late_t * 1000:.1f} ms | {early_t * 1000:.1f} ms | "
              f"{(late_t - early_t) * 1000:.1f} ms |")
    print()
    print("CPU per `exec` (medians of 5 runs; clock ticks of 10 ms, so coarse):")
    print()
    print("| N | lockbox user+sys | emulator | delay proxies |")
    print("|---:|---:|---:|---:|")
    for n, client, server, proxies in cpu_rows:
        print(f"| {n} | {client:.0f} ms | {server:.0f} ms | {proxies:.0f} ms |")
    print()
    print("Targets:")
    if ("exec", 100) in by_key:
        lb_t, lb_m, cs_t, limit = by_key[("exec", 100)]
        verdict = lambda ok: "met" if ok else "NOT MET"  # noqa: E731
        print(f"- `exec` of 100 within 2x of its limit: {lb_t / limit:.2f}x "
              f"({verdict(lb_t <= 2 * limit)})")
        print(f"- `exec` of 100 >= 15x faster than credstash `getall`: {cs_t / lb_t:.1f}x "
              f"({verdict(cs_t / lb_t >= 15)})")
        print(f"- `exec` of 100 peak memory <= 20 MB: {lb_m / 1024:.1f} MB "
              f"({verdict(lb_m / 1024 <= 20)})")
    lb_t, _, _, limit = by_key[("get", 1)]
    print(f"- cold `get` within 1.5x of its limit: {lb_t / limit:.2f}x "
          f"({'met' if lb_t <= 1.5 * limit else 'NOT MET'})")


if __name__ == "__main__":
    main()
