"""A canary value never reaches a repr, an exception's text, a traceback, a log
record, or the process's stdout/stderr."""

import logging
import pickle
import traceback

import pytest

import lockbox_secrets as lb
import lockbox_secrets.credstash as dropin
import lockbox_secrets._native as native
from conftest import unique

CANARY = "canary-7f3a9c-do-not-print"


class Everything(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs():
    handler = Everything()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(old)


def texts_of(e):
    out = [str(e), repr(e), "".join(traceback.format_exception(type(e), e, e.__traceback__))]
    out += [repr(a) for a in getattr(e, "args", ())]
    out += [repr(v) for v in vars(e).values()] if hasattr(e, "__dict__") else []
    if isinstance(e, UnicodeDecodeError):
        out.append(repr(e.object))
    return out


def test_canary_never_leaks(sealed_table, credstash_table, all_logs, capfd):
    c = sealed_table
    seen = []

    def expect_error(call):
        with pytest.raises(Exception) as e:
            call()
        seen.extend(texts_of(e.value))

    c.put("leak/text", CANARY, context={"app": "x"}, comment="not secret")
    c.put("leak/bytes", CANARY.encode() + b"\xff")
    s = c.get("leak/text", context={"app": "x"})
    seen += [repr(s), str(s), "%s" % s, "%r" % [s], repr(c), str(vars(lb))]
    assert s.text() == CANARY
    # Every error class a value can be near.
    expect_error(lambda: c.get("leak/text"))  # context mismatch
    expect_error(lambda: c.get("leak/text", context={"app": "y"}))
    expect_error(lambda: c.put("leak/text", CANARY, version=1))  # version exists
    expect_error(lambda: c.put("leak/text", [CANARY]))  # wrong type
    expect_error(lambda: c.put("leak/text", CANARY, version=CANARY))
    expect_error(lambda: c.get("leak/bytes").text())  # not UTF-8
    expect_error(lambda: c.put("leak/x", CANARY, digest="SHA256"))  # sealed table
    expect_error(lambda: pickle.dumps(s))
    dead = lb.Client(table="t", endpoint_url="http://127.0.0.1:9", max_attempts=1)
    expect_error(lambda: dead.put("leak/text", CANARY))
    s.wipe()
    expect_error(s.text)
    # The credstash drop-in's paths.
    dropin.putSecret("leak", CANARY, version="1", table=credstash_table, context={"k": "v"})
    assert dropin.getSecret("leak", table=credstash_table, context={"k": "v"}) == CANARY
    expect_error(lambda: dropin.getSecret("leak", table=credstash_table))
    expect_error(lambda: dropin.getAllSecrets(table=credstash_table))
    expect_error(lambda: dropin.putSecret("leak", CANARY, version="1", table=credstash_table))
    expect_error(lambda: dropin.putSecret("leak", CANARY.encode(), table=credstash_table))
    expect_error(lambda: dropin.putSecretAutoversion("leak", CANARY, table=credstash_table,
                                                     context={"lockbox-x": "y"}))
    dropin.putSecretAutoversion("leak2", CANARY, table=credstash_table)
    dropin.deleteSecrets("leak2", table=credstash_table)
    out, err = capfd.readouterr()
    seen += [out, err] + all_logs
    assert seen and not [t for t in seen if CANARY in t]


@pytest.mark.skipif(not hasattr(native, "_test_panic"), reason="release build: no test hook")
def test_a_panic_is_an_internal_error_without_its_payload(capfd):
    with pytest.raises(lb.InternalError) as e:
        native._test_panic(CANARY)
    out, err = capfd.readouterr()
    assert "internal error" in str(e.value)
    assert "lockbox: internal error (a bug)" in err
    assert not [t for t in texts_of(e.value) + [out, err] if CANARY in t]
    # The interpreter goes on.
    assert lb.Client(table=unique("after-panic")).table.startswith("after-panic")


def test_canary_never_leaks_from_labels_rotation_and_fields(sealed_table, all_logs, capfd):
    c = sealed_table
    seen = []

    def expect_error(call):
        with pytest.raises(Exception) as e:
            call()
        seen.extend(texts_of(e.value))

    # A JSON value holding the canary, read whole and by field.
    c.put("leak/json", '{"user": "app", "password": "%s", "n": null, "s": "x"}' % CANARY)
    f = c.get("leak/json", field="/password")
    seen += [repr(f), str(f), repr(c.get_ref("lockbox://leak/json#/user"))]
    assert f.text() == CANARY
    expect_error(lambda: c.get("leak/json", field="/missing"))
    expect_error(lambda: c.get("leak/json", field="/n"))
    expect_error(lambda: c.get("leak/json", field="/password/x"))
    expect_error(lambda: c.get("leak/json", field="/s/0"))
    expect_error(lambda: c.get("leak/json", field="password"))
    expect_error(lambda: c.get_ref("leak/json#/password/deeper"))
    # A value passed where a label goes (not a label name) is not repeated.
    expect_error(lambda: c.get("leak/json", label=CANARY + "!"))
    expect_error(lambda: c.set_label("leak/json", CANARY + "!", 1))
    # Values that are not JSON, or not text.
    c.put("leak/plain", "{\"x\": %s" % CANARY)
    c.put("leak/binary", CANARY.encode() + b"\xff")
    expect_error(lambda: c.get("leak/plain", field="/x"))
    expect_error(lambda: c.get("leak/binary", field="/x"))
    # A staged rotation of the canary, its steps and its failures.
    c.put("leak/rot", "old")
    step = c.rotate_start("leak/rot", CANARY, comment="rotating")
    seen += [repr(step), repr(c.labels("leak/rot"))]
    pending = c.get("leak/rot", label="pending")
    seen += [repr(pending), str(pending)]
    assert pending.text() == CANARY
    expect_error(lambda: c.rotate_start("leak/rot", CANARY))  # another rotation: conflict
    expect_error(lambda: c.rotate_start("leak/rot", [CANARY]))  # wrong type
    expect_error(lambda: c.rotate_finish("leak/rot", token="other"))
    seen.append(repr(c.rotate_finish("leak/rot")))
    step = c.rotate_start("leak/rot", CANARY + "-2")
    seen.append(repr(c.rotate_abort("leak/rot", token=step["token"])))
    # Label moves and their conflicts.
    seen.append(repr(c.set_label("leak/rot", "stable", 1)))
    expect_error(lambda: c.set_label("leak/rot", "stable", 2, expected=2))
    expect_error(lambda: c.set_label("leak/rot", "stable", CANARY))  # a value as version
    expect_error(lambda: c.set_label("leak/rot", "stable", 2, expected=CANARY))
    expect_error(lambda: c.get("leak/rot", version=CANARY, label="stable"))
    expect_error(lambda: c.get("leak/rot", label="nope"))
    expect_error(lambda: c.remove_label("leak/rot", "current"))
    seen.append(repr(lb.Client(table="t", regions=["us-east-1", "eu-west-1"])))
    out, err = capfd.readouterr()
    seen += [out, err] + all_logs
    assert seen and not [t for t in seen if CANARY in t]
