"""credstash 1.17.1's library API, on lockbox: replace the import, nothing else.

    import lockbox_secrets.credstash as credstash

    credstash.getSecret("db.password", region="eu-west-1")
    os.environ.update(credstash.getAllSecrets(region="eu-west-1"))

The functions keep credstash's names, signatures, defaults, return values and
exceptions (``ItemNotFound``, ``KmsError``, ``IntegrityError``, and botocore's
``ClientError`` where credstash lets one through). They read both credstash's
format and lockbox's sealed format, and write the format the table's mode asks
for (credstash's in a table credstash created). ``getAllSecrets`` fetches every
secret concurrently and returns all of them or raises.

Where credstash's behaviour is a bug, this module differs, on purpose
(``python/README.md`` has the full list):

- ``putSecret`` without ``version`` writes the next version, not version
  ``0000000000000000000`` (which made every later default put fail).
- Nothing is printed: ``putSecretAutoversion``, ``deleteSecrets`` and
  ``createDdbTable`` log their messages to the ``lockbox_secrets.credstash``
  logger instead, and ``putSecretAutoversion`` raises ``KmsError`` instead of
  exiting the process.
- Bad arguments raise ``TypeError``/``ValueError`` before anything is written.
- A latest read never goes back below a version this process read before (newer
  versions deleted behind its back raise ``IntegrityError``).
- Injected boto3 ``dynamodb=``/``kms=`` objects cannot be used by the native core:
  their region and (non-AWS) endpoint are taken, and a ``RuntimeWarning`` says so.
"""

import re
import warnings

from lockbox_secrets import _errors
from lockbox_secrets._errors import LockboxError
from lockbox_secrets._native import Client

__all__ = [
    "getSecret",
    "getAllSecrets",
    "putSecret",
    "putSecretAutoversion",
    "listSecrets",
    "deleteSecrets",
    "getHighestVersion",
    "createDdbTable",
    "paddedInt",
    "expand_wildcard",
    "get_session_params",
    "reset_sessions",
    "ItemNotFound",
    "KmsError",
    "IntegrityError",
]

DEFAULT_DIGEST = "SHA256"
HASHING_ALGORITHMS = ("SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5")
DEFAULT_REGION = "us-east-1"
PAD_LEN = 19  # number of digits in sys.maxint
WILDCARD_CHAR = "*"
THREAD_POOL_MAX_SIZE = 64  # credstash's; lockbox fetches up to 128 at once

_SESSION_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                 "profile_name")


# --- Exceptions -------------------------------------------------------------


class KmsError(_errors.LockboxError):
    """credstash's KmsError: ``str()`` is ``"KMS ERROR: ..."``; also a LockboxError
    with lockbox's ``message`` and ``hint``."""

    def __init__(self, value="", **lockbox):
        self.value = "KMS ERROR: " + value if value != "" else "KMS ERROR"
        lockbox.setdefault("service", "kms")
        _errors.LockboxError.__init__(self, lockbox.pop("message", self.value), **lockbox)

    def __str__(self):
        return self.value

    def __reduce__(self):
        return (type(self), (self.value[len("KMS ERROR: "):],))


class IntegrityError(_errors.IntegrityError):
    """credstash's IntegrityError: ``str()`` is ``"INTEGRITY ERROR: ..."``; also a
    lockbox IntegrityError."""

    def __init__(self, value="", **lockbox):
        self.value = "INTEGRITY ERROR: " + value if value != "" else "INTEGRITY ERROR"
        lockbox.setdefault("kind", "integrity")
        _errors.IntegrityError.__init__(self, lockbox.pop("message", self.value), **lockbox)

    def __str__(self):
        return self.value

    def __reduce__(self):
        return (type(self), (self.value[len("INTEGRITY ERROR: "):],))


class ItemNotFound(_errors.NotFoundError):
    """credstash's ItemNotFound: ``str()`` is credstash's text; also a lockbox
    NotFoundError."""

    def __init__(self, *args, **lockbox):
        text = str(args[0]) if args else ""
        lockbox.setdefault("kind", "not_found")
        _errors.NotFoundError.__init__(self, lockbox.pop("message", text), **lockbox)
        self.args = args
        self._text = text

    def __str__(self):
        return self._text

    def __reduce__(self):
        return (type(self), self.args)


_aws_classes = {}


def _aws_error(e, code, operation):
    """The exception credstash lets through from boto3 for a DynamoDB error: a
    botocore ``ClientError`` (when botocore is installed) with AWS's error code,
    that is also the lockbox exception ``e`` was."""
    try:
        from botocore.exceptions import ClientError as boto
    except ImportError:
        boto = None
    base = type(e)
    cls = _aws_classes.get((base, boto))
    if cls is None:
        bases = (boto, base) if boto is not None else (base,)

        def __init__(self, response, operation_name, lockbox):
            self.response = response
            self.operation_name = operation_name
            error = response["Error"]
            self._text = "An error occurred (%s) when calling the %s operation: %s" % (
                error["Code"], operation_name, error["Message"])
            base.__init__(self, lockbox.message, hint=lockbox.hint, kind=lockbox.kind,
                          code=lockbox.code, service=lockbox.service,
                          exit_code=lockbox.exit_code, name=lockbox.name)
            self.args = (self._text,)

        def __str__(self):
            return self._text

        def __reduce__(self):
            return (_errors._rebuild, (base, self.message, self.hint, self.kind, self.code,
                                       self.service, self.exit_code, self.name))

        cls = type("ClientError", bases, {"__init__": __init__, "__str__": __str__,
                                          "__reduce__": __reduce__,
                                          "__module__": __name__})
        _aws_classes[(base, boto)] = cls
    response = {"Error": {"Code": code, "Message": e.message},
                "ResponseMetadata": {"HTTPStatusCode": 400}}
    return cls(response, operation, e)


_AWS_CODES = {
    "table_not_found": "ResourceNotFoundException",
    "version_exists": "ConditionalCheckFailedException",
    "access_denied": "AccessDeniedException",
    "throttled": "ProvisionedThroughputExceededException",
}


def _translate(e, operation, name=None, version=None, kms_key=None):
    """A lockbox error as the exception credstash raises for it."""
    if e.code == "secret_not_found":
        if version is None:
            text = "Item {'name': '%s'} couldn't be found." % name
        else:
            text = "Item {'name': '%s', 'version': '%s'} couldn't be found." % (
                name, paddedInt(version))
        return ItemNotFound(text, message=e.message, hint=e.hint, code=e.code,
                            exit_code=e.exit_code, name=e.name)
    fields = dict(message=e.message, hint=e.hint, kind=e.kind, code=e.code,
                  exit_code=e.exit_code, name=e.name)
    if e.service == "kms":
        if operation == "PutItem":
            text = "Could not generate key using KMS key %s (Details: %s)" % (kms_key, e.message)
        elif e.code == "context_mismatch":
            text = ("Could not decrypt hmac key with KMS. The encryption context provided "
                    "may not match the one used when the credential was stored.")
        else:
            text = "Decryption error %s" % e.message
        return KmsError(text, **fields)
    if e.kind == "integrity":
        return IntegrityError(e.message, **fields)
    if e.service == "dynamodb" and e.code in _AWS_CODES:
        return _aws_error(e, _AWS_CODES[e.code], operation)
    if e.code == "version_exists":
        return _aws_error(e, _AWS_CODES[e.code], operation)
    return e


# --- Clients ------------------------------------------------------------------

_clients = {}
_MAX_CLIENTS = 64


def reset_sessions():
    """Forget the clients built so far (credstash's reset_sessions): the next call
    reads the AWS configuration again."""
    _clients.clear()


def _endpoint_of(obj):
    """The endpoint and region of an injected boto3 client or resource."""
    meta = getattr(obj, "meta", None)
    client = getattr(meta, "client", None)
    if client is not None:  # a resource
        meta = getattr(client, "meta", None)
    url = getattr(meta, "endpoint_url", None)
    region = getattr(meta, "region_name", None)
    if url and ".amazonaws.com" in url:
        url = None  # AWS's own endpoint: lockbox resolves the same one
    return url, region


def _client(func, region, table, kms_region, kwargs, kms_key=None, dynamodb=None, kms=None,
            session=None):
    for key in kwargs:
        if key not in _SESSION_KEYS:
            raise TypeError("%s() got an unexpected keyword argument %r" % (func, key))
    if not isinstance(table, str):
        raise TypeError("table must be a str, not %s" % type(table).__name__)
    endpoint = None
    for what, obj in (("dynamodb", dynamodb), ("kms", kms)):
        if obj is None:
            continue
        url, obj_region = _endpoint_of(obj)
        if what == "dynamodb":
            region = region or obj_region
            endpoint = url
        else:
            kms_region = kms_region or (obj_region if obj_region != region else None)
            endpoint = endpoint or url
        warnings.warn(
            "lockbox_secrets.credstash.%s: the injected boto3 %s object is not used (lockbox "
            "makes its own AWS calls); only its region%s taken" % (
                func, what, " and endpoint were" if url else " was"),
            RuntimeWarning, stacklevel=3)
    # One client per configuration, readers and writers alike (the default key is
    # credstash's), so a delete through this module is seen by its reads.
    kms_key = kms_key or "alias/credstash"
    creds = {k: kwargs.get(k) for k in _SESSION_KEYS}
    if session is not None:
        region = region or getattr(session, "region_name", None)
        creds["profile_name"] = creds["profile_name"] or getattr(session, "profile_name", None)
        if creds["profile_name"] == "default":
            creds["profile_name"] = None
        get_credentials = getattr(session, "get_credentials", None)
        if creds["aws_access_key_id"] is None and get_credentials is not None:
            found = get_credentials()
            if found is not None:
                frozen = found.get_frozen_credentials()
                creds["aws_access_key_id"] = frozen.access_key
                creds["aws_secret_access_key"] = frozen.secret_key
                creds["aws_session_token"] = frozen.token
    key = (table, region, kms_region, endpoint, kms_key, creds["aws_access_key_id"],
           creds["aws_secret_access_key"], creds["aws_session_token"], creds["profile_name"])
    client = _clients.get(key)
    if client is None:
        if len(_clients) >= _MAX_CLIENTS:
            _clients.clear()
        client = Client(
            table=table, kms_key=kms_key, region=region, kms_region=kms_region,
            endpoint_url=endpoint, profile=creds["profile_name"],
            aws_access_key_id=creds["aws_access_key_id"],
            aws_secret_access_key=creds["aws_secret_access_key"],
            aws_session_token=creds["aws_session_token"])
        client = _clients.setdefault(key, client)
    return client


def _read_version(version):
    """credstash's reading of ``version``: "" (or None) for the latest; a shorter
    string than 19 characters is a number (``int()``, so ``ValueError`` otherwise);
    19 characters or more, the stored sort key."""
    if version is None or version == "":
        return None
    if isinstance(version, bool):
        raise TypeError("version must be a str, not bool")
    if isinstance(version, int):
        return version
    if not isinstance(version, str):
        raise TypeError("version must be a str, not %s" % type(version).__name__)
    if len(version) < PAD_LEN:
        return int(version)
    return version


def _write_version(version):
    """``version`` for putSecret: "" for the next version; otherwise a whole number
    (``ValueError`` for anything else: credstash would store it as text)."""
    if version is None or version == "":
        return None
    if isinstance(version, bool):
        raise TypeError("version must be a str or an int, not bool")
    if isinstance(version, int):
        return version
    if not isinstance(version, str):
        raise TypeError("version must be a str or an int, not %s" % type(version).__name__)
    text = version.strip()
    if not text.isdigit() or not text.isascii():
        # The text is not echoed: it may be a value passed in the version's place.
        raise ValueError("version is not a whole number; lockbox stores versions as "
                         "numbers (leave it out for the next version)")
    return int(text)


def _context(context):
    return context if context else None


def _log(message, *args):
    import logging
    logging.getLogger(__name__).info(message, *args)


# --- credstash 1.17.1's functions ------------------------------------------------


def paddedInt(i):
    """Return a string that contains `i`, left-padded with 0's up to PAD_LEN digits."""
    i_str = str(i)
    pad = PAD_LEN - len(i_str)
    return (pad * "0") + i_str


def expand_wildcard(string, secrets):
    """credstash's wildcard: ``*`` matches anything, and the rest is a regular
    expression, unescaped (so ``.`` matches any character)."""
    prog = re.compile("^" + string.replace(WILDCARD_CHAR, ".*") + "$")
    return [secret for secret in secrets if prog.search(secret) is not None]


def getHighestVersion(name, region=None, table="credential-store", **kwargs):
    """Return the highest version of `name` in the table (the stored string), or
    ``0`` if there is none."""
    client = _client("getHighestVersion", region, table, None, kwargs)
    try:
        versions = client.history(name)
    except LockboxError as e:
        if e.code == "secret_not_found":
            return 0
        raise _translate(e, "Query", name) from None
    # DynamoDB's order: the sort keys as strings.
    return max(v["sort_key"] for v in versions)


def listSecrets(region=None, table="credential-store", session=None, **kwargs):
    """Every stored version of every secret: ``[{"name", "version", "comment"?}]``
    (``version`` is the stored string)."""
    client = _client("listSecrets", region, table, None, kwargs, session=session)
    try:
        items = client.list()
    except LockboxError as e:
        raise _translate(e, "Scan") from None
    out = []
    for item in items:
        entry = {"name": item["name"], "version": item["sort_key"]}
        if item["comment"] is not None:
            entry["comment"] = item["comment"]
        out.append(entry)
    return out


def putSecret(name, secret, version="", kms_key="alias/credstash",
              region=None, table="credential-store", context=None,
              digest=DEFAULT_DIGEST, comment="", kms=None, dynamodb=None,
              kms_region=None, **kwargs):
    """Put a secret called `name` into the secret store, protected by `kms_key`.

    Without `version`, the next version is written (credstash 1.17.1 wrote version
    0000000000000000000, and every later put without a version then failed). A
    version that exists raises botocore's ``ClientError``
    (``ConditionalCheckFailedException``), as credstash. Returns a PutItem-shaped
    response; ``LockboxVersion`` is the version written."""
    if not isinstance(secret, str):
        raise TypeError("secret must be a str, not %s" % type(secret).__name__)
    if digest not in HASHING_ALGORITHMS:
        raise ValueError("Could not find %s in cryptography.hazmat.primitives.hashes "
                         "(use one of %s)" % (digest, ", ".join(HASHING_ALGORITHMS)))
    if not isinstance(kms_key, str):
        raise TypeError("kms_key must be a str, not %s" % type(kms_key).__name__)
    write = _write_version(version)
    client = _client("putSecret", region, table, kms_region, kwargs, kms_key=kms_key,
                     dynamodb=dynamodb, kms=kms)
    try:
        written = client.put(name, secret, version=write, context=_context(context),
                             comment=comment or None,
                             digest=None if digest == DEFAULT_DIGEST else digest)
    except LockboxError as e:
        raise _translate(e, "PutItem", name, kms_key=kms_key) from None
    return {"ResponseMetadata": {"HTTPStatusCode": 200, "RetryAttempts": 0},
            "LockboxVersion": written}


def putSecretAutoversion(name, secret, kms_key="alias/credstash",
                         region=None, table="credential-store", context=None,
                         digest=DEFAULT_DIGEST, comment="", kms_region=None, **kwargs):
    """Put `secret` as the next version of `name`. Concurrent writers each get their
    own version (credstash's read-then-write could collide). Logs instead of
    printing, and raises ``KmsError`` instead of exiting the process."""
    putSecret(name, secret, version="", kms_key=kms_key, region=region, table=table,
              context=context, digest=digest, comment=comment, kms_region=kms_region,
              **kwargs)
    _log("Secret '%s' has been stored in table %s", name, table)


def getAllSecrets(version="", region=None, table="credential-store",
                  context=None, credential=None, session=None,
                  kms_region=None, **kwargs):
    """Fetch and decrypt all secrets (those matching the wildcard `credential`, when
    it holds a ``*``), concurrently; every one, or an exception."""
    client = _client("getAllSecrets", region, table, kms_region, kwargs, session=session)
    read = _read_version(version)
    if not (credential and WILDCARD_CHAR in credential):
        # Every secret: one scan of the table and one unwrap each.
        try:
            return client._get_text_all(read, context=_context(context))
        except LockboxError as e:
            if e.name is None and e.service == "dynamodb":
                raise _translate(e, "Scan") from None
            raise _translate(e, "Query" if read is None else "GetItem", e.name, read) from None
    try:
        items = client.list()
    except LockboxError as e:
        raise _translate(e, "Scan") from None
    names = set(expand_wildcard(credential, [x["name"] for x in items]))
    if len(names) == 0:
        return dict()
    try:
        return client._get_text_many(sorted(names), read, context=_context(context))
    except LockboxError as e:
        raise _translate(e, "Query" if read is None else "GetItem", e.name, read) from None


def getSecret(name, version="", region=None, table="credential-store", context=None,
              dynamodb=None, kms=None, kms_region=None, **kwargs):
    """Fetch and decrypt the secret called `name` (its latest version, or
    `version`)."""
    read = _read_version(version)
    client = _client("getSecret", region, table, kms_region, kwargs, dynamodb=dynamodb,
                     kms=kms)
    try:
        with client.get(name, read, context=_context(context)) as found:
            return found.text()
    except LockboxError as e:
        raise _translate(e, "Query" if read is None else "GetItem", name, read) from None


def deleteSecrets(name, region=None, table="credential-store", **kwargs):
    """Delete every version of `name` (nothing to delete is not an error). Logs
    ``Deleting NAME -- version V`` per version instead of printing it."""
    client = _client("deleteSecrets", region, table, None, kwargs)
    try:
        deleted = client.delete(name)
    except LockboxError as e:
        if e.code == "secret_not_found":
            return
        raise _translate(e, "DeleteItem", name) from None
    for version in deleted:
        _log("Deleting %s -- version %s", name, version)


def createDdbTable(region=None, table="credential-store", tags=None, **kwargs):
    """Create the secret store table, for credstash clients (items in credstash's
    format), tagged ``Name=credstash`` and `tags` (``(key, value)`` pairs or a
    dict). A table that exists is left alone."""
    pairs = {"Name": "credstash"}
    if tags:
        items = tags.items() if isinstance(tags, dict) else tags
        for pair in items:
            key, value = pair
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("tags are (str, str) pairs")
            pairs[key] = value
    client = _client("createDdbTable", region, table, None, kwargs)
    try:
        if client._table_exists():
            _log("Credential Store table already exists")
            return
        _log("Creating table...")
        client.setup("credstash", tags=pairs)
    except LockboxError as e:
        raise _translate(e, "CreateTable") from None
    _log("Table has been created. Go read the README about how to create your KMS key")


def get_session_params(profile, arn):
    """The session keyword arguments for `profile`, or for the role `arn` (assumed
    now, through boto3, as credstash does: that needs boto3 installed)."""
    params = {}
    if profile is None and arn:
        try:
            import boto3
        except ImportError:
            raise ImportError(
                "get_session_params(None, arn) assumes the role with boto3, which is not "
                "installed: pip install boto3, or use lockbox_secrets.Client(assume_role=arn)"
            ) from None
        sts = boto3.client("sts")
        found = sts.assume_role(RoleArn=arn, RoleSessionName="AssumeRoleCredstashSession1")
        credentials = found["Credentials"]
        params = dict(aws_access_key_id=credentials["AccessKeyId"],
                      aws_secret_access_key=credentials["SecretAccessKey"],
                      aws_session_token=credentials["SessionToken"])
    elif profile:
        params = dict(profile_name=profile)
    return params
