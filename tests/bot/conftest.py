"""The chat services' stand-ins every channel test talks to: a local Telegram Bot API server and a
local Slack Web API server (real HTTP on 127.0.0.1, driven by the real client libraries)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.slack_server import FakeSlack
from tests.support.telegram_server import FakeTelegram


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()
