"""Connector secrets encrypted at rest, with a key kept outside the database.

A secret is stored as ``{"$secret": "<Fernet token>"}`` (``cryptography``'s Fernet: AES-128-CBC and
HMAC-SHA256, with the time it was made); anything else in a configuration is stored as it is. The key
comes from, in this order:

1. ``SOLOOS_SECRET_KEY`` (the composition root passes it): one key, or several separated by commas,
   the first encrypting and all decrypting (``MultiFernet``), which is how a rotation is rolled out;
2. the OS keyring (``keyring``), service ``soloos``, one entry per ``SOLOOS_HOME``, where there is a
   usable one (a headless server usually has none);
3. the key file ``SOLOOS_HOME/secret.key`` (mode 0600; created on first use).

An explicit ``SOLOOS_SECRET_KEY`` wins, so an operator who moves the database to another machine
sets it and is done. A key that opens none of the stored secrets raises ``SecretKeyMismatch``
naming the fix. The key is read on first use, never at import. ``rotate`` re-encrypts with a new key:
the key store first holds the new and the old key, then the secrets are re-encrypted in one
transaction, then the store holds the new key only, so a crash at any point leaves every secret
readable (see docs/runbooks/secret-key.md).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from memory.config import Secret
from memory.errors import StoreError

log = logging.getLogger(__name__)

SEALED = "$secret"
KEY_FILE = "secret.key"
KEYRING_SERVICE = "soloos"
ENV_NAME = "SOLOOS_SECRET_KEY"


class SecretKeyError(StoreError):
    """The secret key is missing, malformed, or not the one the stored secrets were encrypted with."""


class SecretKeyMismatch(SecretKeyError):
    def __init__(self, where: str) -> None:
        super().__init__(
            f"connector secrets were encrypted with another key (the key in use comes from {where}): set "
            f"{ENV_NAME} to the key in use, or run `soloos connect …` again to re-enter the passwords"
        )


@dataclass(frozen=True)
class KeySource:
    """Where the keys live: ``where`` names it for messages; ``store`` is None when it is read-only."""

    where: str
    keys: tuple[str, ...]
    store: Callable[[tuple[str, ...]], None] | None


def new_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    """Seals and opens secret values; the keys are loaded on first use by ``load``."""

    def __init__(self, load: Callable[[], KeySource]) -> None:
        self._load = load
        self._source: KeySource | None = None
        self._lock = threading.Lock()

    @property
    def source(self) -> KeySource:
        with self._lock:
            if self._source is None:
                self._source = self._load()
            return self._source

    def _fernet(self, keys: tuple[str, ...] | None = None) -> MultiFernet:
        source = self.source
        try:
            return MultiFernet([Fernet(key.encode()) for key in keys or source.keys])
        except ValueError as err:
            raise SecretKeyError(
                f"the secret key from {source.where} is not a valid key (32 url-safe base64-encoded bytes; "
                "`soloos secrets new-key` makes one)"
            ) from err

    def seal(self, value: str) -> dict[str, str]:
        return {SEALED: self._fernet().encrypt(value.encode()).decode()}

    def open(self, value: Any) -> Any:
        """The plain value of a sealed one; anything else (a plain setting, a legacy plaintext secret)
        as it is."""
        if not is_sealed(value):
            return value
        try:
            return self._fernet().decrypt(value[SEALED].encode()).decode()
        except InvalidToken as err:
            raise SecretKeyMismatch(self.source.where) from err

    def reseal(self, value: dict[str, str], keys: tuple[str, ...]) -> dict[str, str]:
        """``value`` encrypted with the first of ``keys`` (which must include the current key)."""
        try:
            return {SEALED: self._fernet(keys).rotate(value[SEALED].encode()).decode()}
        except InvalidToken as err:
            raise SecretKeyMismatch(self.source.where) from err

    def replace_keys(self, keys: tuple[str, ...], *, persist: bool = True) -> None:
        """Use ``keys`` from now on; ``persist`` also writes them to the key store."""
        source = self.source
        if persist:
            if source.store is None:
                raise SecretKeyError(f"the secret key comes from {source.where}, which SoloOS cannot change")
            source.store(keys)
        with self._lock:
            self._source = KeySource(source.where, keys, source.store)


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED} and isinstance(value[SEALED], str)


def secret_box(home: Path, configured: Secret | None, *, use_keyring: bool = True) -> SecretBox:
    """The box of an installation: keys from ``configured``, else the OS keyring, else the key file."""
    return SecretBox(lambda: _key_source(home, configured, use_keyring))


def _key_source(home: Path, configured: Secret | None, use_keyring: bool) -> KeySource:
    if configured is not None and configured.get_secret_value().strip():
        keys = tuple(k.strip() for k in configured.get_secret_value().split(",") if k.strip())
        return KeySource(ENV_NAME, keys, None)
    if use_keyring and (found := _keyring_source(home)) is not None:
        return found
    return _file_source(home / KEY_FILE)


def _keyring_source(home: Path) -> KeySource | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if getattr(backend, "priority", 0) < 1:  # the "fail" and "null" backends: no keyring here
        return None
    account = f"secret-key:{home.resolve()}"

    def store(keys: tuple[str, ...]) -> None:
        keyring.set_password(KEYRING_SERVICE, account, ",".join(keys))

    try:
        value = keyring.get_password(KEYRING_SERVICE, account)
        if value is None:
            value = new_key()
            store((value,))
            log.info("created a secret key in the OS keyring (%s)", type(backend).__name__)
    except KeyringError as err:
        log.warning("the OS keyring is not usable (%s); using the key file", err)
        return None
    return KeySource("the OS keyring", tuple(value.split(",")), store)


def _file_source(path: Path) -> KeySource:
    def store(keys: tuple[str, ...]) -> None:
        _write_key_file(path, keys)

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        store((new_key(),))
        log.info("created the secret key file %s (mode 0600)", path)
    else:
        if stat.S_IMODE(mode) & 0o077:
            log.warning("%s was readable by others; its mode is now 0600", path)
            path.chmod(0o600)
    keys = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if not keys:
        raise SecretKeyError(f"{path} is empty: restore it from a backup, or set {ENV_NAME}")
    return KeySource(str(path), keys, store)


def _write_key_file(path: Path, keys: tuple[str, ...]) -> None:
    """Replace the key file atomically; it is never readable by anyone but its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".new")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(keys) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


__all__ = [
    "ENV_NAME",
    "KEY_FILE",
    "KeySource",
    "SecretBox",
    "SecretKeyError",
    "SecretKeyMismatch",
    "is_sealed",
    "new_key",
    "secret_box",
]
