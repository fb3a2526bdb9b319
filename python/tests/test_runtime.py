"""Threads, the GIL, and fork: the runtime under the blocking API."""

import multiprocessing
import os
import threading
import time
import warnings

import pytest

import lockbox_secrets as lb
import lockbox_secrets.credstash as dropin
from conftest import unique


def test_many_threads_share_one_client(sealed_table):
    c = sealed_table
    for i in range(8):
        c.put("t%d" % i, "v%d" % i)
    errors, results = [], {}

    def work(n):
        try:
            for round_ in range(5):
                name = "t%d" % ((n + round_) % 8)
                assert c.get(name).text() == "v%d" % ((n + round_) % 8)
                got = c.get_many(["t0", "t7"])
                assert [s.text() for s in got] == ["v0", "v7"]
            results[n] = c.put("written-by-threads", "from %d" % n)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Concurrent writers each got their own version.
    assert sorted(results.values()) == list(range(1, 17))


def test_dropin_from_threads(credstash_table):
    for i in range(20):
        dropin.putSecret("d%02d" % i, "v%d" % i, version="1", table=credstash_table)
    outcomes = []

    def work():
        outcomes.append(dropin.getAllSecrets(table=credstash_table))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 8
    assert all(o == {"d%02d" % i: "v%d" % i for i in range(20)} for o in outcomes)


def test_the_gil_is_released_while_waiting(emulator, sealed_table):
    sealed_table.put("slow", "v")
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    emulator.fault({"target": "dynamodb:Query", "latency_ms": 400, "count": 1})
    counter = threading.Thread(target=count)
    try:
        counter.start()
        time.sleep(0.05)
        before = len(ticks)
        assert sealed_table.get("slow").text() == "v"
        during = len(ticks) - before
    finally:
        stop.set()
        counter.join()
        emulator.clear_faults()
    # Had the call kept the GIL for its 400 ms, the counter could not have run.
    assert during > 0


def _fork_and_run(body):
    """Run `body()` in a forked child; return what it wrote, or fail if it hung."""
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # the child
        status = 1
        try:
            os.close(r)
            os.write(w, body().encode())
            status = 0
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            os.write(w, ("child failed: %r" % (e,)).encode())
        finally:
            os._exit(status)
    os.close(w)
    deadline = time.monotonic() + 120
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.01)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, out
    return out


def test_a_forked_child_keeps_working(sealed_table, credstash_table):
    c = sealed_table
    c.put("f", "parent")
    dropin.putSecret("cf", "parent", version="1", table=credstash_table)
    # First use in the parent: the runtime, its threads and connections exist.
    assert c.get("f").text() == "parent"
    assert dropin.getSecret("cf", table=credstash_table) == "parent"

    def child():
        seen = c.get("f").text()
        c.put("f", "child")
        both = [s.text() for s in c.get_many(["f@1", "f@2"])]
        got = dropin.getAllSecrets(table=credstash_table)
        return "%s|%s|%s" % (seen, ",".join(both), got["cf"])

    assert _fork_and_run(child) == "parent|parent,child|parent"
    # The parent's runtime and connections are untouched by the child.
    assert c.get("f").text() == "child"
    assert c.get("f", 1).text() == "parent"


def test_a_child_forked_before_first_use(lockbox):
    table = unique("fresh")

    def child():
        c = lockbox.Client(table=table)
        c.setup("sealed")
        c.put("x", "from-child")
        return c.get("x").text()

    assert _fork_and_run(child) == "from-child"
    assert lockbox.Client(table=table).get("x").text() == "from-child"


def _pool_read(table):
    return dropin.getSecret("pool", table=table)


def test_a_fork_pool_after_use(credstash_table):
    """Pre-fork servers (gunicorn, celery): the parent reads, then forks workers."""
    dropin.putSecret("pool", "shared", version="1", table=credstash_table)
    assert dropin.getSecret("pool", table=credstash_table) == "shared"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with multiprocessing.get_context("fork").Pool(3) as pool:
            assert pool.map(_pool_read, [credstash_table] * 6) == ["shared"] * 6


def test_secrets_and_exceptions_cross_threads(sealed_table):
    sealed_table.put("x", "v")
    holder = {}

    def fetch():
        holder["secret"] = sealed_table.get("x")
        try:
            sealed_table.get("absent")
        except lb.NotFoundError as e:
            holder["error"] = e

    t = threading.Thread(target=fetch)
    t.start()
    t.join()
    assert holder["secret"].text() == "v"
    assert holder["error"].code == "secret_not_found"
