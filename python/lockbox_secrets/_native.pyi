"""Type stubs of the native module (python/src/)."""

from types import TracebackType
from typing import (
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypedDict,
    Union,
)

_Version = Union[int, str]
_Ref = Union[str, Tuple[str, _Version]]
_Value = Union[bytes, bytearray, str]

# Stub-only names (plain dicts at run time).
_Labels = Dict[str, int]
"""A secret's labels: each label and the version it names."""

class _RotationStep(TypedDict):
    """Where a staged rotation stands after a step (a dict at run time)."""

    name: str
    token: str
    state: Literal["pending", "finished", "aborted"]
    version: Optional[int]
    labels: _Labels
    changed: bool

class Secret:
    """A fetched secret; the value never shows in repr/str and cannot be pickled."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def comment(self) -> Optional[str]: ...
    @property
    def format(self) -> str: ...
    @property
    def field(self) -> Optional[str]: ...
    @property
    def region(self) -> Optional[str]: ...
    @property
    def kms_region(self) -> Optional[str]: ...
    @property
    def wiped(self) -> bool: ...
    def bytes(self) -> bytes: ...
    def text(self) -> str: ...
    def wipe(self) -> None: ...
    def __enter__(self) -> "Secret": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class Client:
    """A client of one secrets table, with one KMS key for writing."""

    def __init__(
        self,
        *,
        table: Optional[str] = None,
        kms_key: Optional[str] = None,
        region: Optional[str] = None,
        regions: Optional[Sequence[str]] = None,
        write_region: Optional[str] = None,
        kms_region: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        profile: Optional[str] = None,
        assume_role: Optional[str] = None,
        aws_access_key_id: Optional[str] = None,
        aws_secret_access_key: Optional[str] = None,
        aws_session_token: Optional[str] = None,
        table_mode: Optional[str] = None,
        require_sealed: bool = False,
        accept_credstash_items: bool = False,
        accept_sealed_v1: bool = False,
        trusted_keys: Optional[Sequence[str]] = None,
        concurrency: Optional[int] = None,
        cache_ttl: Optional[float] = None,
        timeout: Optional[float] = None,
        attempt_timeout: Optional[float] = None,
        max_attempts: Optional[int] = None,
    ) -> None: ...
    @property
    def table(self) -> str: ...
    def get(
        self,
        name: str,
        version: Optional[_Version] = None,
        *,
        context: Optional[Mapping[str, str]] = None,
        label: Optional[str] = None,
        field: Optional[str] = None,
    ) -> Secret: ...
    def get_ref(
        self, reference: str, *, context: Optional[Mapping[str, str]] = None
    ) -> Secret: ...
    def get_many(
        self, refs: Iterable[_Ref], *, context: Optional[Mapping[str, str]] = None
    ) -> List[Secret]: ...
    def put(
        self,
        name: str,
        value: _Value,
        *,
        version: Optional[_Version] = None,
        context: Optional[Mapping[str, str]] = None,
        comment: Optional[str] = None,
        digest: Optional[str] = None,
    ) -> int: ...
    def list(self) -> List[dict]: ...
    def history(self, name: str) -> List[dict]: ...
    def delete(self, name: str, version: Optional[_Version] = None) -> List[str]: ...
    def setup(
        self,
        mode: str = "sealed",
        *,
        tags: Optional[Mapping[str, str]] = None,
        labels: bool = False,
    ) -> str: ...
    def labels(self, name: str) -> _Labels: ...
    def set_label(
        self,
        name: str,
        label: str,
        version: _Version,
        *,
        expected: Optional[_Version] = None,
        if_absent: bool = False,
    ) -> _Labels: ...
    def remove_label(
        self, name: str, label: str, *, expected: Optional[_Version] = None
    ) -> _Labels: ...
    def rollback_current(self, name: str) -> _Labels: ...
    def rotate_start(
        self,
        name: str,
        value: _Value,
        *,
        context: Optional[Mapping[str, str]] = None,
        comment: Optional[str] = None,
        token: Optional[str] = None,
    ) -> _RotationStep: ...
    def rotate_finish(self, name: str, *, token: Optional[str] = None) -> _RotationStep: ...
    def rotate_abort(self, name: str, *, token: Optional[str] = None) -> _RotationStep: ...
    def invalidate(self) -> None: ...
