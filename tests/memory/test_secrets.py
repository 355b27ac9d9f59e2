"""Where the key of connector secrets comes from, and what happens when it is the wrong one."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from pydantic import SecretStr

from memory.secrets import KEY_FILE, SecretKeyError, SecretKeyMismatch, new_key, secret_box


class MemoryKeyring(KeyringBackend):
    """An OS keyring in memory; never picked by keyring's own discovery (not viable)."""

    priority = 1  # type: ignore[assignment]
    viable = False  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


@pytest.fixture
def os_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """A headless server: keyring's "fail" backend, as on this machine."""
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(before)


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_the_key_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    box = secret_box(tmp_path, None)
    sealed = box.seal("hunter2")
    assert "hunter2" not in str(sealed)
    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert secret_box(tmp_path, None).open(sealed) == "hunter2"  # the next start reads the same key


@pytest.mark.usefixtures("no_keyring")
def test_a_key_file_readable_by_others_is_made_private(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text(new_key() + "\n")
    (tmp_path / KEY_FILE).chmod(0o644)
    secret_box(tmp_path, None).seal("x")
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_the_os_keyring_is_used_where_there_is_one(tmp_path: Path, os_keyring: MemoryKeyring) -> None:
    box = secret_box(tmp_path, None)
    sealed = box.seal("hunter2")
    assert box.source.where == "the OS keyring" and not (tmp_path / KEY_FILE).exists()
    assert len(os_keyring.entries) == 1
    assert secret_box(tmp_path, None).open(sealed) == "hunter2"


@pytest.mark.usefixtures("no_keyring")
def test_the_configured_key_wins_and_a_wrong_one_names_the_fix(tmp_path: Path) -> None:
    key = new_key()
    sealed = secret_box(tmp_path, SecretStr(key)).seal("hunter2")
    assert not (tmp_path / KEY_FILE).exists()
    assert secret_box(tmp_path / "elsewhere", SecretStr(key)).open(sealed) == "hunter2"

    with pytest.raises(SecretKeyMismatch) as caught:
        secret_box(tmp_path, None).open(sealed)  # the key file's key is another one
    assert str(caught.value) == (
        f"connector secrets were encrypted with another key (the key in use comes from {tmp_path / KEY_FILE}): "
        "set SOLOOS_SECRET_KEY to the key in use, or run `soloos connect …` again to re-enter the passwords"
    )
    # during a rotation both keys are given, the new one first
    assert secret_box(tmp_path, SecretStr(f"{new_key()},{key}")).open(sealed) == "hunter2"
    with pytest.raises(SecretKeyError, match="is not a valid key"):
        secret_box(tmp_path, SecretStr("not-a-key")).seal("x")


def test_plain_values_pass_through_untouched(tmp_path: Path) -> None:
    box = secret_box(tmp_path, None)
    assert box.open("imap.example.com") == "imap.example.com" and box.open({"a": 1}) == {"a": 1}
    assert not (tmp_path / KEY_FILE).exists()  # the key is loaded on first use only
