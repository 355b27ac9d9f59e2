"""Fixtures of the connector tests: a real CalDAV server (Radicale) and a fresh calendar on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from caldav.collection import Calendar

from tests.support.caldav_server import CalDAVServer, radicale


@pytest.fixture(scope="session")
def server() -> Iterator[CalDAVServer]:
    with radicale() as running:
        yield running


@pytest.fixture
def calendar(server: CalDAVServer) -> Calendar:
    """A new, empty calendar on the server for this test."""
    name = f"Work {uuid.uuid4().hex[:8]}"
    principal = server.client().get_principal()
    made = principal.make_calendar(name=name, cal_id=uuid.uuid4().hex)
    assert isinstance(made, Calendar)
    return made
