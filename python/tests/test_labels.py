"""Labels, staged rotation, JSON fields and regions through the native client:
the SDK's `Lockbox::{labels, set_label, remove_label, rotate_*}`, `resolve` and
`AwsOptions::{regions, write_region}`, against the emulator."""

import json
import threading
import urllib.request

import pytest

import lockbox_secrets as lb
from conftest import REGION, unique


def test_labels_set_move_and_remove(sealed_table):
    c = sealed_table
    assert c.put("app/db", "one") == 1
    assert c.put("app/db", "two") == 2
    assert c.labels("app/db") == {}
    # The first label pins `current` where un-pinned reads are now.
    assert c.set_label("app/db", "stable", 1) == {"current": 2, "stable": 1}
    assert c.labels("app/db") == {"current": 2, "stable": 1}
    assert c.get("app/db", label="stable").text() == "one"
    assert c.get("app/db", label="current").text() == "two"
    assert c.get_ref("app/db@stable").version == 1
    assert c.get_ref("lockbox://app/db@stable").text() == "one"
    # Moving a label.
    assert c.set_label("app/db", "stable", "2")["stable"] == 2
    # Moving `current` moves `previous` along, and un-pinned reads follow it.
    assert c.set_label("app/db", "current", 1) == {"current": 1, "previous": 2, "stable": 2}
    assert c.get("app/db").text() == "one"
    assert c.get("app/db").version == 1
    assert c.rollback_current("app/db")["current"] == 2
    assert c.get("app/db").text() == "two"
    # Removing one; removing it again changes nothing.
    assert "stable" not in c.remove_label("app/db", "stable")
    assert "stable" not in c.remove_label("app/db", "stable")
    with pytest.raises(lb.NotFoundError) as e:
        c.get("app/db", label="stable")
    assert e.value.name == "app/db"
    # `current` can be moved, not removed.
    with pytest.raises(lb.UsageError):
        c.remove_label("app/db", "current")
    # A version that does not exist cannot be labelled.
    with pytest.raises(lb.LockboxError):
        c.set_label("app/db", "stable", 9)
    assert "stable" not in c.labels("app/db")


def test_label_conditions_and_a_lost_move(sealed_table):
    c = sealed_table
    for v in ("a", "b", "c"):
        c.put("cond", v)
    c.set_label("cond", "stable", 1, if_absent=True)
    with pytest.raises(lb.ConflictError) as e:
        c.set_label("cond", "stable", 2, if_absent=True)
    assert (e.value.exit_code, e.value.code, e.value.kind) == (8, "label", "conflict")
    assert not e.value.transient
    assert e.value.hint and "labels()" in e.value.hint
    assert e.value.name == "cond"
    with pytest.raises(lb.ConflictError):
        c.set_label("cond", "stable", 3, expected=2)
    assert c.labels("cond")["stable"] == 1
    assert c.set_label("cond", "stable", 3, expected=1)["stable"] == 3
    with pytest.raises(lb.ConflictError):
        c.remove_label("cond", "stable", expected=1)
    assert "stable" not in c.remove_label("cond", "stable", expected=3)
    with pytest.raises(lb.UsageError):
        c.set_label("cond", "stable", 1, expected=1, if_absent=True)


def test_concurrent_moves_of_one_label_one_wins(sealed_table):
    """Threads moving one label from where they all found it: each move either wins
    or raises ConflictError (exit code 8), and the label ends where a winner put it."""
    c = sealed_table
    for v in range(1, 7):
        c.put("race", "v%d" % v)
    c.set_label("race", "stable", 1)
    start = threading.Barrier(5)
    won, lost, other = [], [], []

    def move(version):
        start.wait()
        try:
            c.set_label("race", "stable", version, expected=1)
            won.append(version)
        except lb.ConflictError as e:
            lost.append(e.exit_code)
        except Exception as e:  # pragma: no cover - reported below
            other.append(repr(e))

    threads = [threading.Thread(target=move, args=(v,)) for v in range(2, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not other
    assert len(won) == 1 and lost == [8] * 4
    assert c.labels("race")["stable"] == won[0]


def test_staged_rotation(sealed_table):
    c = sealed_table
    c.put("rot/db", "old-pass", context={"app": "x"})
    step = c.rotate_start("rot/db", "new-pass", context={"app": "x"}, comment="rotation")
    assert step["state"] == "pending" and step["changed"] is True
    assert step["name"] == "rot/db" and step["version"] == 2 and step["token"]
    assert step["labels"] == {"current": 1, "pending": 2}
    # Un-pinned reads keep `current` until the rotation finishes.
    assert c.get("rot/db", context={"app": "x"}).text() == "old-pass"
    assert c.get("rot/db", context={"app": "x"}, label="pending").text() == "new-pass"
    # Starting again with its token is a no-op; another rotation is a conflict.
    again = c.rotate_start("rot/db", "new-pass", context={"app": "x"}, token=step["token"])
    assert again["changed"] is False and again["version"] == 2
    with pytest.raises(lb.ConflictError) as e:
        c.rotate_start("rot/db", "other", context={"app": "x"})
    assert e.value.exit_code == 8
    # Finishing: pending becomes current, the old current previous.
    done = c.rotate_finish("rot/db", token=step["token"])
    assert (done["state"], done["version"], done["changed"]) == ("finished", 2, True)
    assert done["labels"] == {"current": 2, "previous": 1}
    assert c.get("rot/db", context={"app": "x"}).text() == "new-pass"
    assert c.rotate_finish("rot/db")["changed"] is False
    # Aborting another: pending is dropped (its version deleted), current stays.
    step = c.rotate_start("rot/db", "bad-pass", context={"app": "x"})
    assert step["version"] == 3
    aborted = c.rotate_abort("rot/db")
    assert (aborted["state"], aborted["version"], aborted["changed"]) == ("aborted", 3, True)
    assert "pending" not in aborted["labels"]
    assert c.get("rot/db", context={"app": "x"}).version == 2
    with pytest.raises(lb.NotFoundError):
        c.get("rot/db", 3, context={"app": "x"})
    assert c.rotate_abort("rot/db")["changed"] is False
    # A token of another rotation is refused.
    with pytest.raises(lb.ConflictError):
        c.rotate_finish("rot/db", token="not-this-one")


def test_json_fields(sealed_table):
    c = sealed_table
    doc = {"user": "app", "password": "pa55", "port": 5432, "tags": ["a", "b"],
           "a/b": "slash", "nothing": None}
    c.put("svc/db", json.dumps(doc))
    s = c.get("svc/db", field="/password")
    assert s.text() == "pa55" and s.field == "/password" and s.version == 1
    assert repr(s) == 'Secret(name="svc/db", version=1, field="/password", value=<redacted>)'
    assert c.get("svc/db", field="/port").text() == "5432"
    assert c.get("svc/db", field="/tags/1").text() == "b"
    assert c.get("svc/db", field="/tags").text() == '["a","b"]'
    assert c.get("svc/db", field="/a~1b").text() == "slash"
    assert c.get_ref("svc/db#/user").text() == "app"
    assert c.get_ref("lockbox://svc/db@1#/password").text() == "pa55"
    assert c.get("svc/db").field is None
    # A missing member, a null, or a value that is not JSON: NotFoundError naming
    # the secret and the pointer, never the value.
    for call in (lambda: c.get("svc/db", field="/missing"),
                 lambda: c.get("svc/db", field="/nothing"),
                 lambda: c.get("svc/db", field="/port/x"),
                 lambda: c.get_ref("svc/db#/tags/7")):
        with pytest.raises(lb.NotFoundError) as e:
            call()
        assert (e.value.code, e.value.name, e.value.exit_code) == ("field", "svc/db", 3)
        assert "pa55" not in str(e.value)
    c.put("svc/plain", "not json pa55")
    with pytest.raises(lb.NotFoundError) as e:
        c.get("svc/plain", field="/x")
    assert e.value.code == "field" and "not JSON" in e.value.message
    assert "pa55" not in str(e.value)
    # Labels and fields together.
    c.put("svc/db", json.dumps(dict(doc, password="n3w")))
    c.set_label("svc/db", "stable", 1)
    assert c.get("svc/db", label="stable", field="/password").text() == "pa55"
    assert c.get("svc/db", field="/password").text() == "n3w"


def test_bad_arguments_fail_before_any_call(sealed_table):
    c = sealed_table
    with pytest.raises(lb.UsageError):
        c.get("x", 1, label="stable")
    with pytest.raises(lb.UsageError):
        c.get("x", field="password")  # a pointer starts with `/`
    with pytest.raises(lb.UsageError):
        c.get("x", field="")
    with pytest.raises(lb.UsageError):
        c.get("x", label="Current")  # labels are case-sensitive
    with pytest.raises(lb.UsageError):
        c.get("x", label="latest")
    with pytest.raises(TypeError):
        c.get("x", label=1)
    with pytest.raises(TypeError):
        c.get("x", field=["/a"])
    with pytest.raises(TypeError):
        c.get_ref(b"x")
    with pytest.raises(lb.UsageError):
        c.get_ref("x#")
    with pytest.raises(lb.UsageError):
        c.get_ref("x@0")
    with pytest.raises(TypeError):
        c.set_label("x", "stable", None)
    with pytest.raises(lb.UsageError):
        c.set_label("x", "not a label", 1)
    with pytest.raises(TypeError):
        c.rotate_start("x", ["v"])
    with pytest.raises(TypeError):
        c.rotate_finish("x", token=5)
    with pytest.raises(TypeError):
        c.labels(5)


def test_regions_arguments_are_checked():
    lb.Client(table="t", regions=["us-east-1", "eu-west-1"], write_region="eu-west-1")
    r = repr(lb.Client(table="t", regions=("us-east-1", "eu-west-1")))
    assert r == 'Client(table="t", regions=["us-east-1", "eu-west-1"], write_region="us-east-1")'
    with pytest.raises(TypeError):
        lb.Client(regions="us-east-1")
    with pytest.raises(TypeError):
        lb.Client(regions=["us-east-1", 5])
    with pytest.raises(TypeError):
        lb.Client(regions=5)
    for bad in ([], ["us-east-1", "us-east-1"], ["US-EAST-1"], ["nowhere"]):
        with pytest.raises(lb.UsageError):
            lb.Client(regions=bad)
    with pytest.raises(lb.UsageError):
        lb.Client(write_region="us-east-1")
    with pytest.raises(lb.UsageError):
        lb.Client(regions=["us-east-1", "eu-west-1"], write_region="ap-south-1")


def _mock(emulator, path, body=None, method="POST"):
    req = urllib.request.Request(emulator.url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"{}")


@pytest.fixture
def two_regions(emulator):
    """A multi-Region key with a replica in eu-west-1, copies applied at once, and
    no fault left behind."""
    before = _mock(emulator, "/_mock/replication", method="GET")
    _mock(emulator, "/_mock/replication", {"lag_ms": 0})
    key = emulator.aws("kms", "CreateKey", {"MultiRegion": True})["KeyMetadata"]
    emulator.aws("kms", "ReplicateKey", {"KeyId": key["KeyId"], "ReplicaRegion": "eu-west-1"})
    try:
        yield key["Arn"]
    finally:
        emulator.clear_faults()
        _mock(emulator, "/_mock/replication", {"lag_ms": before.get("lag_ms", 1000)})


def test_two_regions_read_failover_and_write_region(emulator, two_regions):
    table = unique("global")
    regions = [REGION, "eu-west-1"]
    c = lb.Client(table=table, kms_key=two_regions, regions=regions)
    assert c.setup("sealed") == "created"
    assert c.put("g/secret", "from-home") == 1
    # A client reading in eu-west-1 first sees the replica's copy.
    eu = lb.Client(table=table, kms_key=two_regions, regions=regions[::-1],
                   write_region=REGION)
    assert eu.get("g/secret").text() == "from-home"
    # The home region down: reads fail over, writes fail closed...
    emulator.fault({"target": "*", "region": REGION, "error": "ServiceUnavailable"})
    reader = lb.Client(table=table, kms_key=two_regions, regions=regions, max_attempts=1)
    assert reader.get("g/secret").text() == "from-home"
    with pytest.raises(lb.UnavailableError):
        reader.put("g/secret", "lost")
    # ...until writes are failed over by hand.
    failover = lb.Client(table=table, kms_key=two_regions, regions=regions,
                         write_region="eu-west-1", max_attempts=1)
    assert failover.put("g/secret", "from-eu") == 2
    assert failover.get("g/secret").text() == "from-eu"
    emulator.clear_faults()
    assert c.get("g/secret", 2).text() == "from-eu"


def test_labels_in_a_table_shared_with_credstash():
    """`current` and `previous` are derived from the versions; the user's labels and
    the pending value live in the companion table `setup(labels=True)` makes, so
    credstash clients never read a pending value."""
    import credstash

    table = unique("cslabels")
    c = lb.Client(table=table)
    assert c.setup("credstash") == "created"
    c.put("csdb", "one")
    c.put("csdb", "two")
    assert c.labels("csdb") == {"current": 2, "previous": 1}
    with pytest.raises(lb.LockboxError):
        c.set_label("csdb", "stable", 1)  # no companion table yet
    assert c.setup("credstash", labels=True) == "unchanged"
    assert c.set_label("csdb", "stable", 1) == {"current": 2, "previous": 1, "stable": 1}
    with pytest.raises(lb.UsageError):
        c.set_label("csdb", "current", 1)  # always the highest version here
    step = c.rotate_start("csdb", "three")
    assert step["state"] == "pending"
    assert step["labels"] == {"current": 2, "previous": 1, "pending": 3, "stable": 1}
    assert c.get("csdb").text() == "two"
    assert credstash.getSecret("csdb", table=table) == "two"
    assert c.get("csdb", label="pending").text() == "three"
    done = c.rotate_finish("csdb")
    assert (done["state"], done["version"]) == ("finished", 3)
    assert done["labels"] == {"current": 3, "previous": 2, "stable": 1}
    assert c.get("csdb").text() == "three"
    assert credstash.getSecret("csdb", table=table) == "three"
    assert c.labels("csdb")["current"] == 3


def test_get_many_takes_references(sealed_table):
    c = sealed_table
    c.put("many/db", json.dumps({"user": "app", "password": "one"}))
    c.put("many/db", json.dumps({"user": "app", "password": "two"}))
    c.put("many/plain", "p")
    c.set_label("many/db", "stable", 1)
    got = c.get_many(["lockbox://many/db#/user", "lockbox://many/db#/password",
                      "lockbox://many/db@stable#/password", "many/plain", ("many/db", 1),
                      "many/plain@1"])
    assert [s.text() for s in got[:3]] == ["app", "two", "one"]
    assert [s.field for s in got] == ["/user", "/password", "/password", None, None, None]
    assert [s.version for s in got] == [2, 2, 1, 1, 1, 1]
    assert json.loads(got[4].text())["password"] == "one"
    # Without the scheme a string is a name (or NAME@VERSION), never a label.
    with pytest.raises(lb.NotFoundError) as e:
        c.get_many(["many/db@stable"])
    assert e.value.name == "many/db@stable"
    # All or nothing: one missing field fails the call.
    with pytest.raises(lb.NotFoundError) as e:
        c.get_many(["many/plain", "lockbox://many/db#/missing"])
    assert e.value.code == "field"
    with pytest.raises(lb.UsageError):
        c.get_many(["lockbox://many/db#"])
