"""One mailbox's settings (``EmailConfig``) and their validation."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.email.parsing import clean_address

Security = Literal["ssl", "starttls", "none"]
_DEFAULT_PORTS: dict[Security, tuple[int, int]] = {"ssl": (993, 465), "starttls": (143, 587), "none": (143, 25)}


def _is_local(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmailConfig(BaseModel):
    """One mailbox: where to read (IMAP), how to send (SMTP), and who the mail is from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    imap_host: str = Field(min_length=1, max_length=253)
    imap_port: int = Field(ge=1, le=65535)
    smtp_host: str = Field(min_length=1, max_length=253)
    smtp_port: int = Field(ge=1, le=65535)
    username: str = Field(min_length=1, max_length=320)
    password: SecretStr
    address: str  # the From address; also names the account the messages are stored under
    display_name: str = Field(default="", max_length=200)
    security: Security = "ssl"
    smtp_security: Security | None = None  # when SMTP differs from IMAP, e.g. IMAP ssl + SMTP starttls
    mailbox: str = Field(default="INBOX", min_length=1, max_length=200)
    tls_ca_file: Path | None = None  # to trust a server with a private certificate authority
    timeout: float = Field(default=30.0, gt=0, le=300)
    initial_days: int = Field(default=30, ge=1, le=3650)  # how far back the first read looks
    max_per_read: int = Field(default=200, ge=1, le=5000)  # messages per batch (one transaction)

    @model_validator(mode="before")
    @classmethod
    def _default_ports(cls, data: Any) -> Any:
        if isinstance(data, dict):
            security = data.get("security") or "ssl"
            smtp_security = data.get("smtp_security") or security
            if security in _DEFAULT_PORTS and data.get("imap_port") is None:
                data = {**data, "imap_port": _DEFAULT_PORTS[security][0]}
            if smtp_security in _DEFAULT_PORTS and data.get("smtp_port") is None:
                data = {**data, "smtp_port": _DEFAULT_PORTS[smtp_security][1]}
        return data

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        address = clean_address(value)
        if address is None:
            raise ValueError(f"{value!r} is not an e-mail address")
        return address

    @field_validator("mailbox")
    @classmethod
    def _mailbox(cls, value: str) -> str:
        if not value.isascii() or not value.isprintable():
            raise ValueError("the mailbox name must be printable ASCII (e.g. INBOX)")
        return value

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str) -> str:
        return " ".join(value.split())

    @model_validator(mode="after")
    def _no_plaintext_over_the_network(self) -> EmailConfig:
        for host, security, what in (
            (self.imap_host, self.security, "IMAP"),
            (self.smtp_host, self.outgoing_security, "SMTP"),
        ):
            if security == "none" and not _is_local(host):
                raise ValueError(
                    f"security 'none' would send your {what} password to {host} unencrypted; use 'ssl' or "
                    "'starttls' (only a server on this machine may use 'none')"
                )
        return self

    @property
    def outgoing_security(self) -> Security:
        return self.smtp_security or self.security

    @property
    def account(self) -> str:
        return self.address.lower()

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.tls_ca_file) if self.tls_ca_file else None)


__all__ = ["EmailConfig", "Security"]
