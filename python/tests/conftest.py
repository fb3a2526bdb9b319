"""Fixtures: one lockbox-mock emulator per test session, started as a process on a
free loopback port and stopped at the end; AWS settings pointing every client
(lockbox_secrets, credstash 1.17.1, boto3, the lockbox CLI) at it; fresh tables.

The binaries come from LOCKBOX_MOCK_BIN and LOCKBOX_CLI_BIN (scripts/test-python
sets them), else from the workspace's target/debug.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOCK_BIN = os.environ.get("LOCKBOX_MOCK_BIN", os.path.join(ROOT, "target/debug/lockbox-mock"))
CLI_BIN = os.environ.get("LOCKBOX_CLI_BIN", os.path.join(ROOT, "target/debug/lockbox"))

REGION = "us-east-1"
ACCESS_KEY = "AKIDLOCKBOXPYTEST"
SECRET_KEY = "py-test-secret"


class Emulator:
    """A running lockbox-mock."""

    def __init__(self, process, url):
        self.process = process
        self.url = url

    def aws(self, service, operation, body):
        """One unsigned AWS JSON call (the emulator's open mode accepts them)."""
        target = {"kms": "TrentService", "dynamodb": "DynamoDB_20120810"}[service]
        version = {"kms": "1.1", "dynamodb": "1.0"}[service]
        req = urllib.request.Request(
            self.url + "/", method="POST", data=json.dumps(body).encode(),
            headers={"X-Amz-Target": "%s.%s" % (target, operation),
                     "Content-Type": "application/x-amz-json-%s" % version})
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read() or b"{}")

    def fault(self, rule):
        req = urllib.request.Request(self.url + "/_mock/faults", method="POST",
                                     data=json.dumps(rule).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()

    def clear_faults(self):
        req = urllib.request.Request(self.url + "/_mock/faults", method="DELETE")
        urllib.request.urlopen(req).read()


@pytest.fixture(scope="session")
def emulator():
    if not os.path.exists(MOCK_BIN):
        pytest.fail("lockbox-mock not found at %s: build it (cargo build -p lockbox-mock) or "
                    "set LOCKBOX_MOCK_BIN" % MOCK_BIN)
    env = dict(os.environ, RUST_LOG="error")
    process = subprocess.Popen([MOCK_BIN, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        emu = Emulator(process, url)
        key = emu.aws("kms", "CreateKey", {})["KeyMetadata"]["KeyId"]
        emu.aws("kms", "CreateAlias", {"AliasName": "alias/credstash", "TargetKeyId": key})
        yield emu
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session", autouse=True)
def aws_env(emulator):
    """Every AWS client in this process (and its children) talks to the emulator
    with test credentials, whatever the machine's AWS configuration says."""
    home = tempfile.mkdtemp(prefix="lockbox-pytest-")
    for name in list(os.environ):
        if name.startswith(("AWS_", "LOCKBOX_", "CREDSTASH_")) and name not in (
                "LOCKBOX_MOCK_BIN", "LOCKBOX_CLI_BIN"):
            del os.environ[name]
    for f in ("config", "credentials"):
        open(os.path.join(home, f), "w").close()
    os.environ.update({
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_KMS": emulator.url,
        "AWS_ENDPOINT_URL_DYNAMODB": emulator.url,
        "AWS_CONFIG_FILE": os.path.join(home, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    yield home


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


@pytest.fixture
def lockbox():
    import lockbox_secrets
    return lockbox_secrets


@pytest.fixture
def sealed_table():
    """A fresh table set up by lockbox in the sealed mode, and a client of it."""
    import lockbox_secrets
    table = unique("sealed")
    client = lockbox_secrets.Client(table=table)
    assert client.setup("sealed") == "created"
    return client


@pytest.fixture
def credstash_table():
    """A fresh table created by credstash 1.17.1's createDdbTable (no lockbox mode
    recorded), and its name."""
    import credstash
    table = unique("cstable")
    credstash.createDdbTable(table=table)
    return table


def run_cli(*args, input=None):
    """The lockbox CLI against the emulator (its settings come from the environment)."""
    if not os.path.exists(CLI_BIN):
        pytest.fail("lockbox CLI not found at %s: set LOCKBOX_CLI_BIN" % CLI_BIN)
    return subprocess.run([CLI_BIN, *args], input=input, capture_output=True, timeout=60)


def python_exe():
    return sys.executable
