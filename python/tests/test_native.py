"""The native API: Client, Secret and the exceptions, against the emulator."""

import copy
import os
import pickle
import site
import sysconfig

import pytest

import lockbox_secrets as lb
from conftest import unique


def test_the_installed_wheel_is_what_is_tested():
    # Not the source tree: the module and its native part come from site-packages.
    purelib = os.path.realpath(sysconfig.get_paths()["purelib"])
    assert os.path.realpath(lb.__file__).startswith(purelib), lb.__file__
    native = lb._native.__file__
    assert os.path.realpath(native).startswith(purelib), native
    assert ".abi3." in os.path.basename(native), native
    assert site  # imported for its side effect of setting up the paths


def test_put_get_roundtrip_text_and_bytes(sealed_table):
    c = sealed_table
    assert c.put("app/db", "s3cret") == 1
    assert c.put("app/db", b"\x00\xffbinary") == 2
    s = c.get("app/db")
    assert (s.name, s.version) == ("app/db", 2)
    assert s.bytes() == b"\x00\xffbinary"
    with pytest.raises(UnicodeDecodeError):
        s.text()
    assert c.get("app/db", 1).text() == "s3cret"
    assert c.get("app/db", "0000000000000000001").text() == "s3cret"
    assert c.get("app/db", version="1").bytes() == b"s3cret"
    # Which region's table served it, and which region's KMS unwrapped its key.
    assert (s.region, s.kms_region) == ("us-east-1", "us-east-1")


def test_get_many_is_ordered_and_all_or_nothing(sealed_table):
    c = sealed_table
    for i in range(5):
        c.put("k%d" % i, "v%d" % i)
    c.put("k0", "v0-2")
    got = c.get_many(["k3", "k0@1", ("k0", 2), "k4"])
    assert [(s.name, s.version, s.text()) for s in got] == [
        ("k3", 1, "v3"), ("k0", 1, "v0"), ("k0", 2, "v0-2"), ("k4", 1, "v4")]
    with pytest.raises(lb.NotFoundError) as e:
        c.get_many(["k1", "missing", "k2"])
    assert e.value.name == "missing"


def test_list_history_delete(sealed_table):
    c = sealed_table
    c.put("a", "1", comment="first")
    c.put("a", "2")
    c.put("b", "3")
    listed = [(i["name"], i["version"], i["comment"]) for i in c.list()]
    assert listed == [("a", 1, "first"), ("a", 2, None), ("b", 1, None)]
    assert all(i["format"] == "sealed" for i in c.list())
    assert [h["version"] for h in c.history("a")] == [1, 2]
    assert c.delete("a", 1) == ["0000000000000000001"]
    assert c.get("a").version == 2
    assert c.delete("a") == ["0000000000000000002"]
    with pytest.raises(lb.NotFoundError):
        c.history("a")
    with pytest.raises(lb.NotFoundError):
        c.delete("a")


def test_explicit_version_is_never_overwritten(sealed_table):
    c = sealed_table
    c.put("x", "one", version=5)
    with pytest.raises(lb.AlreadyExistsError) as e:
        c.put("x", "two", version=5)
    assert e.value.code == "version_exists"
    assert e.value.hint.startswith("leave out -v")
    assert c.get("x").text() == "one"
    assert c.put("x", "three") == 6


def test_context_is_required_to_read(sealed_table):
    c = sealed_table
    c.put("ctx", "v", context={"app": "web"})
    assert c.get("ctx", context={"app": "web"}).text() == "v"
    with pytest.raises(lb.ContextMismatchError) as e:
        c.get("ctx")
    assert isinstance(e.value, lb.IntegrityError)
    assert e.value.kind == "integrity" and e.value.exit_code == 5
    assert "app" in e.value.message


def test_secret_value_is_redacted_and_wipeable(sealed_table):
    c = sealed_table
    c.put("w", "canary-wipe-123")
    s = c.get("w")
    assert "canary" not in repr(s) and "canary" not in str(s)
    assert repr(s) == 'Secret(name="w", version=1, value=<redacted>)'
    for attempt in (lambda: pickle.dumps(s), lambda: copy.copy(s), lambda: copy.deepcopy(s)):
        with pytest.raises(TypeError):
            attempt()
    with s as inside:
        assert inside.text() == "canary-wipe-123"
    assert s.wiped
    with pytest.raises(ValueError, match="wiped"):
        s.bytes()
    t = c.get("w")
    t.wipe()
    with pytest.raises(ValueError):
        t.text()


def test_setup_reports_and_refuses(lockbox):
    table = unique("setup")
    c = lockbox.Client(table=table)
    assert c.setup("credstash") == "created"
    assert c.setup("credstash") == "unchanged"
    with pytest.raises(lockbox.UsageError, match="records mode credstash"):
        c.setup("sealed")
    with pytest.raises(lockbox.UsageError):
        c.setup("bogus")


def test_credstash_mode_table_writes_credstash_items(lockbox):
    c = lockbox.Client(table=unique("cmode"))
    c.setup("credstash")
    c.put("n", "v")
    c.put("n", "w", digest="SHA512")
    assert [i["format"] for i in c.list()] == ["credstash", "credstash"]
    with pytest.raises(ValueError):
        c.put("n", b"\xff\xfe not utf-8")


def test_sealed_table_refuses_a_credstash_digest(sealed_table):
    with pytest.raises(lb.UsageError, match="sealed table"):
        sealed_table.put("n", "v", digest="SHA256")


def test_missing_table_is_not_found(lockbox):
    c = lockbox.Client(table=unique("nope"))
    with pytest.raises(lockbox.NotFoundError) as e:
        c.get("x")
    assert e.value.code == "table_not_found"


@pytest.mark.parametrize("call, error", [
    (lambda c: c.put(5, "v"), TypeError),
    (lambda c: c.put(None, "v"), TypeError),
    (lambda c: c.put("n", 5), TypeError),
    (lambda c: c.put("n", ["v"]), TypeError),
    (lambda c: c.put("n", "v", version="abc"), ValueError),
    (lambda c: c.put("n", "v", version=0), ValueError),
    (lambda c: c.put("n", "v", version=-3), ValueError),
    (lambda c: c.put("n", "v", version=True), TypeError),
    (lambda c: c.put("n", "v", version=1.5), TypeError),
    (lambda c: c.put("n", "v", context="app=web"), TypeError),
    (lambda c: c.put("n", "v", context={"app": 1}), TypeError),
    (lambda c: c.put("n", "v", context={"lockbox-x": "y"}), ValueError),
    (lambda c: c.put("n", "v", comment=7), TypeError),
    (lambda c: c.put("n", "v", digest="SHA3"), ValueError),
    (lambda c: c.put("", "v"), ValueError),
    (lambda c: c.put("a*b", "v"), ValueError),
    (lambda c: c.put("bad\nname", "v"), ValueError),
    (lambda c: c.put("n", "v", bogus=1), TypeError),
    (lambda c: c.put("n"), TypeError),
    (lambda c: c.get_many("n"), TypeError),
    (lambda c: c.get_many([1]), TypeError),
    (lambda c: c.get_many([("n",)]), TypeError),
    (lambda c: c.get("n", "x"), ValueError),
])
def test_bad_input_raises_before_anything_is_written(sealed_table, call, error):
    with pytest.raises(error) as e:
        call(sealed_table)
    assert str(e.value)
    assert sealed_table.list() == []


@pytest.mark.parametrize("kwargs, error", [
    (dict(table=""), ValueError),
    (dict(table=5), TypeError),
    (dict(aws_access_key_id="AKID"), ValueError),
    (dict(table_mode="nope"), ValueError),
    (dict(timeout=-1), ValueError),
    (dict(timeout=float("nan")), ValueError),
    (dict(max_attempts=0), ValueError),
    (dict(concurrency=0), ValueError),
    (dict(require_sealed=True, accept_credstash_items=True), ValueError),
    (dict(unknown=1), TypeError),
])
def test_bad_client_settings(kwargs, error):
    with pytest.raises(error):
        lb.Client(**kwargs)


def test_client_cannot_be_pickled_and_its_repr_shows_no_credentials():
    c = lb.Client(table="t", aws_access_key_id="AKIDSHOWN", aws_secret_access_key="hidden-key")
    assert "hidden-key" not in repr(c) and "AKIDSHOWN" not in repr(c)
    with pytest.raises(TypeError):
        pickle.dumps(c)


def test_a_dead_endpoint_is_unavailable_and_transient():
    c = lb.Client(table="t", endpoint_url="http://127.0.0.1:9", max_attempts=1, timeout=5)
    with pytest.raises(lb.UnavailableError) as e:
        c.get("x")
    assert e.value.transient and e.value.exit_code == 6
    assert e.value.hint == "check --endpoint-url / --region and the network, then retry"


def test_throttling_is_a_throttled_error(emulator, sealed_table):
    sealed_table.put("t", "v")
    emulator.fault({"target": "kms:Decrypt", "error": "ThrottlingException"})
    try:
        with pytest.raises(lb.ThrottledError) as e:
            lb.Client(table=sealed_table.table, max_attempts=2).get("t")
        assert e.value.service == "kms" and e.value.transient
    finally:
        emulator.clear_faults()


def test_exceptions_pickle_with_their_attributes():
    e = lb.NotFoundError("secret x not found", hint="h", kind="not_found", code="c",
                         service=None, exit_code=3, name="x")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is lb.NotFoundError
    assert (back.message, back.hint, back.name, back.exit_code) == (
        "secret x not found", "h", "x", 3)
    assert str(back) == "secret x not found\n  hint: h"
