"""The exceptions: one class per SDK error class, each with the message and the
exit code the lockbox CLI gives the same error (checked against the CLI itself),
and a hint of its own (the CLI's hints repeat the flags in use and suggest close
names, which a program's exception cannot)."""

import pytest

import lockbox_secrets as lb
import lockbox_secrets.credstash as dropin
from conftest import run_cli


def cli_error(table, *args, input=None):
    """The `caused by:` message and the `hint:` of a failing CLI command."""
    out = run_cli("-t", table, *args, input=input)
    assert out.returncode != 0, out
    err = out.stderr.decode()
    caused = [l.split("caused by: ", 1)[1] for l in err.splitlines() if "caused by: " in l]
    hints = [l.split("hint: ", 1)[1] for l in err.splitlines() if l.startswith("  hint: ")]
    return out.returncode, caused[-1] if caused else None, hints[0] if hints else None


def test_messages_hints_and_exit_codes_match_the_cli(sealed_table):
    c, t = sealed_table, sealed_table.table
    c.put("db", "v1", context={"app": "web"})
    not_found = "check the name and version with `lockbox list`"
    cases = [
        (lambda: c.get("missing"), ("get", "missing"), None, lb.NotFoundError, not_found),
        (lambda: c.get("db", 7, context={"app": "web"}), ("get", "-v", "7", "db", "app=web"),
         None, lb.NotFoundError, not_found),
        (lambda: c.get("db"), ("get", "db"), None, lb.ContextMismatchError,
         "pass the same KEY=VALUE context pairs the secret was stored with"),
        (lambda: c.put("db", "x", version=1), ("put", "-v", "1", "db", "-"), b"x",
         lb.AlreadyExistsError,
         "leave out -v to write the next version; existing versions are never overwritten"),
        (lambda: c.get("db", context={"lockbox-x": "1"}), ("get", "db", "lockbox-x=1"), None,
         lb.UsageError, None),
    ]
    for call, argv, stdin, cls, hint in cases:
        with pytest.raises(lb.LockboxError) as e:
            call()
        code, message, cli_hint = cli_error(t, *argv, input=stdin)
        assert type(e.value) is cls, argv
        assert (e.value.message, e.value.hint) == (message, hint), argv
        # Where the CLI has no hint, neither has the exception.
        assert (cli_hint is None) == (hint is None), (argv, cli_hint)
        if cls is not lb.AlreadyExistsError:  # the CLI exits 1 for it, as for "other"
            assert e.value.exit_code == code, argv


def test_label_and_field_errors_match_the_cli(sealed_table):
    c, t = sealed_table, sealed_table.table
    for v in ("1", "2", '{"user": "app"}'):
        c.put("lbl", v)
    c.set_label("lbl", "stable", 1)
    cases = [
        # A lost label move: exit code 8, not transient, with the CLI's advice.
        (lambda: c.set_label("lbl", "stable", 3, expected=2),
         ("label", "lbl", "stable=3", "--from", "2"), lb.ConflictError, 8),
        (lambda: c.get("lbl", label="gone"), ("get", "lbl", "--label", "gone"),
         lb.NotFoundError, 3),
        (lambda: c.get("lbl", field="/password"), ("get", "lbl", "--field", "/password"),
         lb.NotFoundError, 3),
        (lambda: c.get("lbl", label="stable", field="/x"),
         ("get", "lockbox://lbl@stable#/x"), lb.NotFoundError, 3),
    ]
    for call, argv, cls, exit_code in cases:
        with pytest.raises(lb.LockboxError) as e:
            call()
        code, message, cli_hint = cli_error(t, *argv)
        assert type(e.value) is cls, argv
        assert e.value.message == message, argv
        assert (e.value.exit_code, code) == (exit_code, exit_code), argv
        assert (cli_hint is None) == (e.value.hint is None), (argv, cli_hint)
        assert e.value.name == "lbl", argv


def test_hierarchy():
    assert issubclass(lb.ContextMismatchError, lb.IntegrityError)
    assert issubclass(lb.UsageError, ValueError)
    assert issubclass(lb.NotFoundError, LookupError)
    for cls in (lb.NotFoundError, lb.AlreadyExistsError, lb.AccessDeniedError,
                lb.IntegrityError, lb.UnavailableError, lb.ThrottledError, lb.TimedOutError,
                lb.ConflictError, lb.UsageError, lb.InternalError):
        assert issubclass(cls, lb.LockboxError)
    # The drop-in's credstash exceptions are lockbox exceptions too.
    assert issubclass(dropin.ItemNotFound, lb.NotFoundError)
    assert issubclass(dropin.KmsError, lb.LockboxError)
    assert issubclass(dropin.IntegrityError, lb.IntegrityError)
    # And keep credstash's constructors and texts.
    assert str(dropin.KmsError()) == "KMS ERROR"
    assert str(dropin.KmsError("x")) == "KMS ERROR: x"
    assert dropin.KmsError("x").value == "KMS ERROR: x"
    assert str(dropin.IntegrityError("y")) == "INTEGRITY ERROR: y"
    assert str(dropin.ItemNotFound("z")) == "z"
