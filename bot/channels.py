"""Starts every configured chat channel in this event loop and stops them in reverse order;
stopping lets the message being handled finish first."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bot.app import App


@contextlib.asynccontextmanager
async def open_channels(app: App) -> AsyncIterator[list[str]]:
    settings = app.settings
    started: list[tuple[str, object]] = []
    try:
        if settings.telegram_token is not None:
            from bot.telegram import TelegramChannel

            telegram = TelegramChannel(
                app,
                token=settings.telegram_token.get_secret_value(),
                api_url=settings.telegram_api_url,
                allowed_users=settings.telegram_allowlist,
            )
            await telegram.start()
            started.append(("Telegram", telegram))
        if settings.slack_bot_token is not None:
            from bot.slack import SlackChannel

            secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
            app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
            slack = SlackChannel(
                app,
                bot_token=settings.slack_bot_token.get_secret_value(),
                signing_secret=secret,
                api_url=settings.slack_api_url,
                allowed=settings.slack_allowlist,
                app_token=app_token,
            )
            await slack.start(
                http_host="0.0.0.0" if app_token is None else "127.0.0.1",
                http_port=settings.slack_http_port,
            )
            started.append(
                ("Slack (Socket Mode)" if app_token else f"Slack (HTTP on :{settings.slack_http_port})", slack)
            )
        yield [name for name, _ in started]
    finally:
        for _, channel in reversed(started):
            await channel.stop()  # type: ignore[attr-defined]
