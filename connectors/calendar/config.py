"""The calendar connector's settings (``CalendarConfig``) and their validation."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connectors.calendar.ics import zone_named


class CalendarConfig(BaseModel):
    """What ``soloos connect calendar`` asks for. ``calendar`` is a display name (or the last part
    of the calendar's address); without it the account's first calendar is used. ``timezone`` reads
    events stored without one (floating times)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr
    calendar: str | None = None
    timezone: str = "UTC"

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) address such as https://cal.example.com/dav/")
        return url.strip()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        zone_named(name)
        return name


__all__ = ["CalendarConfig"]
