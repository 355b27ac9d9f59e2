"""Starts every configured chat channel in this event loop, and the scheduler for them, and stops
them in reverse order; stopping lets the message being handled finish first."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bot.app import App


def _secret(value: object) -> str | None:
    return value.get_secret_value() if value is not None else None  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def open_channels(app: App) -> AsyncIterator[list[str]]:
    settings = app.settings
    started: list[tuple[str, object]] = []
    try:
        token = _secret(settings.telegram_token)
        if token:
            from bot.telegram import TelegramChannel

            telegram = TelegramChannel(
                app, token=token, api_url=settings.telegram_api_url, allowed_users=settings.telegram_allowlist
            )
            await telegram.start(
                webhook_url=settings.telegram_webhook_url,
                secret_token=_secret(settings.telegram_webhook_secret),
                listen=settings.telegram_webhook_host,
                port=settings.telegram_webhook_port,
            )
            started.append(("Telegram (webhook)" if settings.telegram_webhook_url else "Telegram (polling)", telegram))
            app.outbound.register("telegram", telegram.send)
        bot_token = _secret(settings.slack_bot_token)
        if bot_token:
            from bot.slack import SlackChannel

            app_token = _secret(settings.slack_app_token)
            slack = SlackChannel(
                app,
                bot_token=bot_token,
                signing_secret=_secret(settings.slack_signing_secret) or "",
                api_url=settings.slack_api_url,
                allowed=settings.slack_allowlist,
                app_token=app_token,
            )
            await slack.start(http_host=settings.slack_http_host, http_port=settings.slack_http_port)
            started.append(
                ("Slack (Socket Mode)" if app_token else f"Slack (HTTP on :{settings.slack_http_port})", slack)
            )
            app.outbound.register("slack", slack.send)
        await app.scheduler.start(app.outbound.channels)  # reminders and briefings for these channels
        yield [name for name, _ in started]
    finally:
        await app.scheduler.stop()
        for name in ("telegram", "slack"):
            app.outbound.unregister(name)
        for _, channel in reversed(started):
            await channel.stop()  # type: ignore[attr-defined]
