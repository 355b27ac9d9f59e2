"""Fixtures the agent tests share: a real mail server (mail-devel) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.mail_server import MailServer, running_mail_server


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    with running_mail_server() as server:
        yield server
