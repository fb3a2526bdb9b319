"""The exceptions of lockbox_secrets: one base class and one class per error class
of the lockbox SDK (its ``ErrorKind``), each carrying the message and the hint the
``lockbox`` CLI prints for the same error. Messages never hold a secret value.
"""

__all__ = [
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


class LockboxError(Exception):
    """Base class of every lockbox error.

    Attributes:
        message: what went wrong (the SDK's message, as the CLI prints it).
        hint: what to do next, or None.
        kind: the error class: ``not_found``, ``already_exists``, ``denied``,
            ``integrity``, ``unavailable``, ``throttled``, ``timeout``,
            ``conflict``, ``usage`` or ``other``.
        code: which error of its class (``secret_not_found``,
            ``table_not_found``, ``context_mismatch``, ...).
        service: ``kms``, ``dynamodb``, ``credentials`` or None.
        name: the secret the error concerns, or None.
        exit_code: the exit code the CLI gives this class.
        transient: whether retrying later may succeed (never for a lost label
            move, ``code`` ``label``: the label is no longer where the move
            expected it, and moving it again would undo another's move).
    """

    def __init__(self, message, hint=None, kind="other", code=None, service=None,
                 exit_code=1, name=None):
        super().__init__(message)
        self.name = name
        self.message = message
        self.hint = hint
        self.kind = kind
        self.code = code
        self.service = service
        self.exit_code = exit_code

    @property
    def transient(self):
        return (self.kind in ("throttled", "timeout", "unavailable", "conflict")
                and self.code != "label")

    def __str__(self):
        if self.hint:
            return "%s\n  hint: %s" % (self.message, self.hint)
        return self.message

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.hint, self.kind, self.code,
                           self.service, self.exit_code, self.name))


def _rebuild(cls, message, hint, kind, code, service, exit_code, name=None):
    return cls(message, hint=hint, kind=kind, code=code, service=service,
               exit_code=exit_code, name=name)


class NotFoundError(LockboxError, LookupError):
    """No such secret, version or table."""


class AlreadyExistsError(LockboxError):
    """The version to write exists already; nothing was overwritten."""


class AccessDeniedError(LockboxError):
    """The identity was refused, has no credentials, or the KMS key cannot be used."""


class IntegrityError(LockboxError):
    """An item failed authentication, does not belong where it was found, or is in a
    format this reader does not accept."""


class ContextMismatchError(IntegrityError):
    """The encryption context does not match the one the secret was stored with."""


class UnavailableError(LockboxError):
    """The service could not be reached or failed (5xx, connection errors)."""


class ThrottledError(LockboxError):
    """The service throttled the calls and the retry budget ran out."""


class TimedOutError(LockboxError):
    """A call ran past its deadline."""


class ConflictError(LockboxError):
    """Writers kept colliding on the next version (transient, exit code 6), or a
    label move or rotation step lost to another one (``code`` ``label``, exit code
    8, not transient: nothing was changed; look at the labels, then decide)."""


class UsageError(LockboxError, ValueError):
    """An argument or setting cannot be used (also a ValueError)."""


class InternalError(LockboxError):
    """A bug in lockbox; the operation was stopped and nothing was shown."""
