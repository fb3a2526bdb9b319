"""Type stubs of the native module (python/src/)."""

from types import TracebackType
from typing import Iterable, Mapping, Optional, Sequence, Tuple, Type, Union

_Version = Union[int, str]
_Ref = Union[str, Tuple[str, _Version]]

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
    ) -> Secret: ...
    def get_many(
        self, refs: Iterable[_Ref], *, context: Optional[Mapping[str, str]] = None
    ) -> list[Secret]: ...
    def put(
        self,
        name: str,
        value: Union[bytes, bytearray, str],
        *,
        version: Optional[_Version] = None,
        context: Optional[Mapping[str, str]] = None,
        comment: Optional[str] = None,
        digest: Optional[str] = None,
    ) -> int: ...
    def list(self) -> list[dict]: ...
    def history(self, name: str) -> list[dict]: ...
    def delete(self, name: str, version: Optional[_Version] = None) -> list[str]: ...
    def setup(self, mode: str = "sealed", *, tags: Optional[Mapping[str, str]] = None) -> str: ...
    def invalidate(self) -> None: ...
