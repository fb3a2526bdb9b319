"""The drop-in (lockbox_secrets.credstash) and the real credstash 1.17.1 library,
side by side on the same credstash-mode tables: equal results, equal exception
types (and messages where credstash's are fixed text), equal side effects. The
documented differences (where credstash's behaviour is a bug) are tested as such
at the end.
"""

import base64
import logging
import warnings

import botocore.exceptions
import credstash as real
import pytest

import lockbox_secrets
import lockbox_secrets.credstash as dropin
from conftest import unique

BOTH = [real, dropin]
IDS = ["credstash", "dropin"]


@pytest.fixture(params=["createDdbTable", "lockbox-setup-compat"])
def table(request):
    """A credstash-mode table: made by credstash's createDdbTable, or by lockbox's
    `setup --compat credstash` (the native setup("credstash"))."""
    name = unique("diff")
    if request.param == "createDdbTable":
        real.createDdbTable(table=name)
    else:
        assert lockbox_secrets.Client(table=name).setup("credstash") == "created"
    return name


def raw_items(emulator, table):
    items = emulator.aws("dynamodb", "Scan", {"TableName": table})["Items"]
    return sorted(items, key=lambda i: (i["name"]["S"], i["version"]["S"]))


def outcome(fn, *args, **kwargs):
    """("ok", value) or ("raise", exception type name, credstash-visible detail)."""
    try:
        return ("ok", fn(*args, **kwargs))
    except botocore.exceptions.ClientError as e:
        return ("raise", "ClientError", e.response["Error"]["Code"])
    except Exception as e:  # noqa: BLE001 - comparing what each library raises
        return ("raise", type(e).__name__, str(e))


@pytest.mark.parametrize("writer", BOTH, ids=IDS)
@pytest.mark.parametrize("digest", ["SHA256", "SHA512", "SHA", "MD5"])
def test_what_one_writes_both_read(table, writer, digest):
    name = unique("app.db")
    writer.putSecret(name, "v-one", version="1", table=table, digest=digest)
    writer.putSecret(name, "v-two ünïcode\n", version=2, table=table, digest=digest,
                     comment="second")
    writer.putSecret(name + ".ctx", "v-ctx", version="1", table=table,
                     context={"app": "web", "env": "prod"}, digest=digest)
    for reader in BOTH:
        assert reader.getSecret(name, table=table) == "v-two ünïcode\n"
        assert reader.getSecret(name, version="1", table=table) == "v-one"
        assert reader.getSecret(name, "0000000000000000002", table=table) == "v-two ünïcode\n"
        assert reader.getSecret(name + ".ctx", table=table,
                                context={"env": "prod", "app": "web"}) == "v-ctx"


def test_items_written_have_credstash_attributes(emulator, table):
    a, b = unique("a"), unique("b")
    real.putSecret(a, "value", version="1", table=table, comment="c")
    dropin.putSecret(b, "value", version="1", table=table, comment="c")
    ra, rb = [i for i in raw_items(emulator, table) if i["name"]["S"] in (a, b)]
    shape = lambda item: {k: next(iter(v)) for k, v in item.items()}  # noqa: E731
    # The same attributes. One type differs, as the SDK chooses: credstash 1.17 on
    # Python 3 stores the hmac's hex as bytes (B), lockbox as a string (S), which
    # every credstash version and port reads (credstash <= 1.13 reads only S).
    assert shape(ra) == dict(shape(rb), hmac="B")
    assert shape(rb)["hmac"] == "S"
    assert base64.b64decode(ra["hmac"]["B"]).decode() != rb["hmac"]["S"]
    assert len(base64.b64decode(ra["hmac"]["B"])) == len(rb["hmac"]["S"]) == 64
    assert ra["version"] == rb["version"] == {"S": "0000000000000000001"}
    assert ra["digest"] == rb["digest"] == {"S": "SHA256"}
    # Same cipher: the ciphertext of the same plaintext has the same length.
    assert len(base64.b64decode(ra["contents"]["S"])) == len(base64.b64decode(rb["contents"]["S"]))


def populate(table, names, context=None):
    for i, n in enumerate(names):
        real.putSecret(n, "value-%d" % i, version="1", table=table, context=context)
        real.putSecret(n, "value-%d-v2" % i, version="2", table=table, context=context)


@pytest.mark.parametrize("credential", [None, "", "app.*", "app*", "*.key", "*", "nomatch*",
                                        "app.db", "a.p*"])
def test_get_all_secrets_equal(table, credential):
    names = ["app.db", "app.key", "appXdb", "other.key", "zeta"]
    populate(table, names)
    got = [outcome(m.getAllSecrets, table=table, credential=credential) for m in BOTH]
    assert got[0] == got[1]
    assert got[0][0] == "ok"


def test_get_all_secrets_pinned_version_and_context(table):
    populate(table, ["p.one", "p.two", "p.three"], context={"team": "a"})
    for version in ("1", "2", "0000000000000000001"):
        got = [outcome(m.getAllSecrets, version, table=table, context={"team": "a"})
               for m in BOTH]
        assert got[0] == got[1] and got[0][0] == "ok"
    # A version some secret lacks: the whole call fails, both ways.
    dropin.putSecret("p.four", "x", version="3", table=table, context={"team": "a"})
    got = [outcome(m.getAllSecrets, "3", table=table, context={"team": "a"}) for m in BOTH]
    assert got[0][:2] == got[1][:2] == ("raise", "ItemNotFound")


def test_get_all_secrets_fails_whole_on_one_bad_context(table):
    populate(table, ["q.one", "q.two"])
    real.putSecret("q.three", "x", version="1", table=table, context={"k": "v"})
    got = [outcome(m.getAllSecrets, table=table) for m in BOTH]
    assert got[0] == got[1]
    assert got[0][:2] == ("raise", "KmsError")


def test_empty_table_gives_empty_dicts_and_lists(table):
    for m in BOTH:
        assert m.getAllSecrets(table=table) == {}
        assert m.listSecrets(table=table) == []


def test_list_secrets_and_highest_version_equal(table):
    name = unique("h")
    assert real.getHighestVersion(name, table=table) == dropin.getHighestVersion(
        name, table=table) == 0
    real.putSecret(name, "a", version="1", table=table, comment="one")
    real.putSecret(name, "b", version="9", table=table)
    dropin.putSecret(name, "c", version="10", table=table)
    assert real.getHighestVersion(name, table=table) == dropin.getHighestVersion(
        name, table=table) == "0000000000000000010"
    key = lambda i: (i["name"], i["version"])  # noqa: E731
    assert sorted(real.listSecrets(table=table), key=key) == sorted(
        dropin.listSecrets(table=table), key=key)


@pytest.mark.parametrize("deleter", BOTH, ids=IDS)
def test_delete_secrets_same_side_effects(emulator, deleter):
    tables = []
    for m in BOTH:
        t = unique("del")
        m.createDdbTable(table=t)
        tables.append(t)
    for t in tables:
        real.putSecret("gone", "1", version="1", table=t)
        real.putSecret("gone", "2", version="2", table=t)
        real.putSecret("kept", "3", version="1", table=t)
    for t, m in zip(tables, BOTH):
        m.deleteSecrets("gone", table=t)
        m.deleteSecrets("never-there", table=t)
    after = [[(i["name"]["S"], i["version"]["S"]) for i in raw_items(emulator, t)]
             for t in tables]
    assert after[0] == after[1] == [("kept", "0000000000000000001")]


def test_create_table_side_effects(emulator):
    tables = []
    for m in BOTH:
        t = unique("mk")
        m.createDdbTable(table=t, tags=[("team", "payments")])
        m.createDdbTable(table=t)  # exists: left alone
        tables.append(t)
    for t in tables:
        desc = emulator.aws("dynamodb", "DescribeTable", {"TableName": t})["Table"]
        keys = sorted((k["AttributeName"], k["KeyType"]) for k in desc["KeySchema"])
        assert keys == [("name", "HASH"), ("version", "RANGE")]
        tags = emulator.aws("dynamodb", "ListTagsOfResource",
                            {"ResourceArn": desc["TableArn"]})["Tags"]
        tags = {x["Key"]: x["Value"] for x in tags}
        assert tags["Name"] == "credstash" and tags["team"] == "payments"
    # Both tables are usable by both libraries.
    for t in tables:
        real.putSecret("x", "y", version="1", table=t)
        assert dropin.getSecret("x", table=t) == "y"


def test_not_found_errors_equal(table):
    name = unique("missing")
    got = [outcome(m.getSecret, name, table=table) for m in BOTH]
    assert got[0] == got[1] == ("raise", "ItemNotFound",
                                "Item {'name': '%s'} couldn't be found." % name)
    real.putSecret(name, "v", version="1", table=table)
    got = [outcome(m.getSecret, name, version="7", table=table) for m in BOTH]
    assert got[0] == got[1]
    assert got[0][1] == "ItemNotFound" and "0000000000000000007" in got[0][2]


def test_context_mismatch_is_kms_error_with_credstash_text(table):
    name = unique("c")
    real.putSecret(name, "v", version="1", table=table, context={"a": "b"})
    for context in (None, {"a": "c"}):
        got = [outcome(m.getSecret, name, table=table, context=context) for m in BOTH]
        assert got[0] == got[1]
        assert got[0][1] == "KmsError"
        assert got[0][2].startswith("KMS ERROR: Could not decrypt hmac key with KMS.")


def test_missing_table_is_client_error_resource_not_found():
    t = unique("absent")
    for fn, args in ((lambda m: m.getSecret, ("x",)), (lambda m: m.getAllSecrets, ()),
                     (lambda m: m.listSecrets, ())):
        got = [outcome(fn(m), *args, table=t) for m in BOTH]
        assert got[0] == got[1] == ("raise", "ClientError", "ResourceNotFoundException")


def test_existing_version_is_conditional_check_failed(emulator, table):
    name = unique("dup")
    real.putSecret(name, "first", version="1", table=table)
    before = raw_items(emulator, table)
    got = [outcome(m.putSecret, name, "second", version="1", table=table) for m in BOTH]
    assert got[0] == got[1] == ("raise", "ClientError", "ConditionalCheckFailedException")
    assert raw_items(emulator, table) == before
    # The drop-in's is also a lockbox AlreadyExistsError, with the CLI's hint.
    with pytest.raises(lockbox_secrets.AlreadyExistsError) as e:
        dropin.putSecret(name, "second", version="1", table=table)
    assert isinstance(e.value, botocore.exceptions.ClientError)
    assert e.value.hint and e.value.response["Error"]["Code"] == (
        "ConditionalCheckFailedException")


def test_tampered_item_is_integrity_error(emulator, table):
    name = unique("t")
    real.putSecret(name, "original", version="1", table=table)
    item = [i for i in raw_items(emulator, table) if i["name"]["S"] == name][0]
    contents = bytearray(base64.b64decode(item["contents"]["S"]))
    contents[0] ^= 1
    item["contents"] = {"S": base64.b64encode(bytes(contents)).decode()}
    emulator.aws("dynamodb", "PutItem", {"TableName": table, "Item": item})
    got = [outcome(m.getSecret, name, table=table) for m in BOTH]
    assert got[0][:2] == got[1][:2] == ("raise", "IntegrityError")
    assert got[1][2].startswith("INTEGRITY ERROR: ")


@pytest.mark.parametrize("call", [
    lambda m, t: m.getSecret("x", version="abc", table=t),
    lambda m, t: m.getSecret("x", table=t, bogus_kwarg=1),
    lambda m, t: m.getAllSecrets(table=t, bogus_kwarg=1),
    lambda m, t: m.putSecret("x", "y", version="1", table=t, digest="SHA3"),
    lambda m, t: m.getSecret(),
    lambda m, t: m.putSecret("x"),
])
def test_bad_arguments_raise_the_same_type(table, call):
    got = [outcome(call, m, table) for m in BOTH]
    assert got[0][:2] == got[1][:2], got
    assert got[0][1] in ("ValueError", "TypeError", "UsageError")
    assert real.listSecrets(table=table) == []


def test_padded_int_and_session_params_equal():
    for i in (0, 1, 42, "7", "", 10 ** 18, "v5"):
        assert real.paddedInt(i) == dropin.paddedInt(i)
    for args in ((None, None), ("dev", None), ("dev", "arn:aws:iam::1:role/x")):
        assert real.get_session_params(*args) == dropin.get_session_params(*args)
    names = ["a.b", "aXb", "a.bc", "x"]
    for pattern in ("a.b", "a.*", "*b", "a*"):
        assert real.expand_wildcard(pattern, names) == dropin.expand_wildcard(pattern, names)


def test_session_keyword_arguments(table):
    name = unique("s")
    creds = dict(aws_access_key_id="AKIDOTHER", aws_secret_access_key="other-secret")
    for m in BOTH:
        m.putSecret(name + m.__name__, "v", version="1", table=table, **creds)
    for m in BOTH:
        assert m.getSecret(name + "credstash", table=table, **creds) == "v"
        assert m.getAllSecrets(table=table, region="us-east-1", **creds)[
            name + "lockbox_secrets.credstash"] == "v"


def test_injected_boto3_objects_are_accepted_with_a_warning(table):
    import boto3
    name = unique("inj")
    real.putSecret(name, "v", version="1", table=table)
    session = boto3.Session(region_name="us-east-1")
    ddb, kms = session.resource("dynamodb"), session.client("kms")
    assert real.getSecret(name, table=table, dynamodb=ddb, kms=kms) == "v"
    with pytest.warns(RuntimeWarning, match="injected boto3 (dynamodb|kms) object is not used"):
        assert dropin.getSecret(name, table=table, dynamodb=ddb, kms=kms) == "v"
    assert dropin.getAllSecrets(table=table, session=session)[name] == "v"
    assert dropin.listSecrets(table=table, session=session) == real.listSecrets(
        table=table, session=session)


# --- Documented differences ---------------------------------------------------


def test_difference_put_without_version_writes_the_next_version(emulator, table):
    name = unique("d")
    real.putSecret(name, "credstash", table=table)  # version "0000000000000000000"
    with pytest.raises(botocore.exceptions.ClientError):
        real.putSecret(name, "again", table=table)  # and every later default put fails
    response = dropin.putSecret(name, "lockbox", table=table)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["LockboxVersion"] == 1
    assert dropin.putSecret(name, "lockbox-2", table=table)["LockboxVersion"] == 2
    assert [(i["version"]["S"]) for i in raw_items(emulator, table)
            if i["name"]["S"] == name] == [
        "0000000000000000000", "0000000000000000001", "0000000000000000002"]
    # Version 0, as credstash's default writes it, stays readable.
    for m in BOTH:
        assert m.getSecret(name, version="0", table=table) == "credstash"
        assert m.getSecret(name, table=table) == "lockbox-2"


def test_difference_nothing_is_printed(table, capsys, caplog):
    name = unique("p")
    with caplog.at_level(logging.INFO, logger="lockbox_secrets.credstash"):
        dropin.putSecretAutoversion(name, "v", table=table)
        dropin.putSecretAutoversion(name, "w", table=table)
        dropin.deleteSecrets(name, table=table)
        dropin.createDdbTable(table=table)
    assert capsys.readouterr().out == ""
    messages = [r.getMessage() for r in caplog.records]
    assert "Secret '%s' has been stored in table %s" % (name, table) in messages
    assert "Deleting %s -- version 0000000000000000002" % name in messages
    assert "Credential Store table already exists" in messages
    real.putSecretAutoversion(name, "v", table=table)
    assert "has been stored" in capsys.readouterr().out


def test_difference_latest_never_goes_back(table):
    name = unique("rb")
    real.putSecret(name, "1", version="1", table=table)
    real.putSecret(name, "2", version="2", table=table)
    assert dropin.getSecret(name, table=table) == "2"
    real.deleteSecrets(name, table=table)  # behind the drop-in's back
    real.putSecret(name, "1-again", version="1", table=table)
    assert real.getSecret(name, table=table) == "1-again"
    with pytest.raises(dropin.IntegrityError):
        dropin.getSecret(name, table=table)
    # Deleting through the drop-in itself is not a rollback.
    dropin.deleteSecrets(name, table=table)
    real.putSecret(name, "fresh", version="1", table=table)
    assert dropin.getSecret(name, table=table) == "fresh"


def test_difference_sealed_tables_are_read_by_the_dropin_only():
    c = lockbox_secrets.Client(table=unique("sealed"))
    c.setup("sealed")
    dropin.putSecret("s", "v", version="1", table=c.table)
    assert dropin.getSecret("s", table=c.table) == "v"
    assert dropin.getAllSecrets(table=c.table) == {"s": "v"}
    with pytest.raises(Exception):
        real.getSecret("s", table=c.table)
    # A credstash digest cannot be written into a sealed table.
    with pytest.raises(ValueError):
        dropin.putSecret("s", "v", version="2", table=c.table, digest="SHA512")


def test_difference_non_str_values_are_type_errors(table):
    with pytest.raises(AttributeError):
        real.putSecret("b", b"bytes", version="1", table=table)
    with pytest.raises(TypeError):
        dropin.putSecret("b", b"bytes", version="1", table=table)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError):
            dropin.putSecret("b", "v", version="v5", table=table)
