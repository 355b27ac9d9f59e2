"""An MCP server's saved settings: how to start it (a command, over stdio) or reach it (a URL, over
streamable HTTP, with headers that are secrets), and how its name appears to the model."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from pydantic import BaseModel, field_validator, model_validator

from connectors.errors import SetupError

PREFIX = "mcp:"  # the connector_configs name of server NAME is "mcp:NAME"
SECRET_FIELDS = frozenset({"headers"})  # stored sealed (memory.secrets): JSON of the headers
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class McpConfig(BaseModel):
    name: str
    command: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("a server name is 1-32 lower-case letters, digits, - or _, starting with a letter")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> McpConfig:
        if bool(self.command) == bool(self.url):
            raise ValueError("give either --command (a local server) or --url (a remote one), not both")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"--url {self.url!r} must start with http:// or https://")
        if self.headers and not self.url:
            raise ValueError("--header goes with --url (a local server gets no HTTP headers)")
        if self.command:
            try:
                if not shlex.split(self.command):
                    raise ValueError("--command is empty")
            except ValueError as err:
                raise ValueError(f"--command cannot be read as a command line: {err}") from err
        return self

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command or "")

    @property
    def where(self) -> str:
        """Where it runs, for listings: the command or the URL (never the headers)."""
        return self.command or self.url or ""

    def stored(self) -> dict[str, Any]:
        """The row for ``memory.connectors.save``; ``headers`` is a JSON string, sealed there."""
        return {"name": self.name, "command": self.command, "url": self.url, "headers": json.dumps(self.headers)}

    @classmethod
    def from_stored(cls, row: dict[str, Any]) -> McpConfig:
        headers = row.get("headers") or "{}"
        try:
            return cls.model_validate({**row, "headers": json.loads(headers) if isinstance(headers, str) else headers})
        except (ValueError, TypeError) as err:
            raise SetupError(f"the saved MCP server {row.get('name')!r} is not valid: {err}") from err


def parse_headers(pairs: list[str]) -> dict[str, str]:
    """``["Authorization=Bearer x"]`` → ``{"Authorization": "Bearer x"}``."""
    headers = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SetupError(f"--header {key.strip() or pair!r}… must look like Name=value")
        headers[key.strip()] = value.strip()
    return headers


def record_name(server: str) -> str:
    return PREFIX + server


def is_mcp(record_name_: str) -> bool:
    return record_name_.startswith(PREFIX)


__all__ = ["PREFIX", "SECRET_FIELDS", "McpConfig", "is_mcp", "parse_headers", "record_name"]
