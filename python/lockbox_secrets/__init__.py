"""lockbox for Python: versioned secrets, envelope-encrypted with AWS KMS and stored
in DynamoDB, compatible with credstash.

    import lockbox_secrets as lockbox

    client = lockbox.Client(table="credential-store", region="eu-west-1")
    password = client.get("prod/db/password").text()
    values = client.get_many(["prod/db/password", "prod/api/key@3"])
    stable = client.get("prod/db", label="stable", field="/password").text()
    client.labels("prod/db")          # {"current": 7, "previous": 6, "stable": 6}

For code written against the credstash library, ``lockbox_secrets.credstash`` has
credstash 1.17.1's functions and exceptions:

    import lockbox_secrets.credstash as credstash

Values come back as ``Secret`` objects that never show their value in ``repr``,
exceptions or logs; ``.bytes()`` and ``.text()`` hand it out.
"""

from lockbox_secrets._errors import (  # noqa: F401
    AccessDeniedError,
    AlreadyExistsError,
    ConflictError,
    ContextMismatchError,
    IntegrityError,
    InternalError,
    LockboxError,
    NotFoundError,
    ThrottledError,
    TimedOutError,
    UnavailableError,
    UsageError,
)
from lockbox_secrets._native import Client, Secret  # noqa: F401

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Secret",
    "LockboxError",
    "NotFoundError",
    "AlreadyExistsError",
    "AccessDeniedError",
    "IntegrityError",
    "ContextMismatchError",
    "UnavailableError",
    "ThrottledError",
    "TimedOutError",
    "ConflictError",
    "UsageError",
    "InternalError",
]
