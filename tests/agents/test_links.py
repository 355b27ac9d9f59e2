"""Links in a tainted reply are defanged: no URL that could carry data survives, whatever the text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.links import defang_links, domains_of

KNOWN = frozenset({"acme.test", "bank.example"})

# Independent of agents.links: what a chat client would turn into a link. A scheme that fetches,
# or a host-like "label.tld" anywhere (Telegram and Slack link bare domains too).
SCHEME = re.compile(r"(?i)(?:https?|ftp)://")
HOSTLIKE = re.compile(r"(?i)[^\W_]\.(?:[^\W\d_]{2,}|xn--[a-z0-9-]+)(?![\w-])")

_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_tld = st.sampled_from(["com", "example", "test", "io", "co.uk", "рф", "xn--p1ai", "info"])
_host = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_label, min_size=1, max_size=3), _tld)
_ipv4 = st.builds(lambda p: ".".join(str(n) for n in p), st.lists(st.integers(0, 255), min_size=4, max_size=4))
_path = st.from_regex(r"(?:/[A-Za-z0-9._~%-]{0,12}){0,3}", fullmatch=True)
_query = st.one_of(st.just(""), st.from_regex(r"\?[A-Za-z0-9=&%._-]{0,20}", fullmatch=True))
_fragment = st.one_of(st.just(""), st.from_regex(r"#[A-Za-z0-9._-]{0,10}", fullmatch=True))
_scheme = st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "", "www."])
_userinfo = st.sampled_from(["", "", "acme.test@", "user:pw@"])
_url = st.builds(
    lambda scheme, user, host, port, path, query, fragment: f"{scheme}{user}{host}{port}{path}{query}{fragment}",
    _scheme,
    _userinfo,
    st.one_of(_host, _ipv4, st.sampled_from(sorted(KNOWN))),
    st.sampled_from(["", ":8080"]),
    _path,
    _query,
    _fragment,
)
_filler = st.text(alphabet=st.sampled_from(list("abcdefghij XYZ0123456789 ,;:!?()[]*`'\"\n-_/@#%&éдж.")), max_size=30)
_reply = st.lists(st.one_of(_filler, _url), max_size=8).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(_reply)
def test_no_url_survives_in_a_tainted_reply(text: str) -> None:
    shown = defang_links(text)
    assert not SCHEME.search(shown), shown
    assert not HOSTLIKE.search(shown), shown


@settings(max_examples=400, deadline=None)
@given(_reply)
def test_only_plain_links_to_known_domains_survive(text: str) -> None:
    shown = defang_links(text, KNOWN)
    for match in re.finditer(
        r"(?i)(?:https?://)?[^\s@]*[^\W_]\.(?:[^\W\d_]{2,}|xn--[a-z0-9-]+)(?![\w-])[^\s@]*", shown
    ):
        link = match.group(0)
        host = re.sub(r"(?i)^https?://", "", link).split("/")[0].split(":")[0].removeprefix("www.").lower()
        assert any(host == d or host.endswith("." + d) for d in KNOWN), (link, shown)
        assert "?" not in link and "#" not in link, (link, shown)


@settings(max_examples=200, deadline=None)
@given(_reply)
def test_defanging_twice_changes_nothing_more(text: str) -> None:
    once = defang_links(text, KNOWN)
    assert defang_links(once, KNOWN) == once


@given(_filler)
def test_text_without_links_is_untouched(text: str) -> None:
    ipv4 = re.search(r"\d{1,3}(?:\.\d{1,3}){3}", text)  # an IP address is a host: defanged on purpose
    if not HOSTLIKE.search(text) and "://" not in text and not ipv4:
        assert defang_links(text) == text


def test_the_reported_leak_is_defanged_and_a_known_link_is_kept() -> None:
    reply = "Summary: see https://collect.example/r?d=INV-1%20Acme%3A%201200.00 — and https://acme.test/invoices."
    shown = defang_links(reply, domains_of(["jane@acme.test", "Acme Ltd"]))
    assert "hxxps://collect[.]example/r?d=INV-1%20Acme%3A%201200[.]00" in shown
    assert "https://acme.test/invoices." in shown
    assert "https://acme.test@evil" not in defang_links("https://acme.test@evil.com/x", KNOWN)
    assert defang_links("https://acme.test/pay?who=me", KNOWN) == "hxxps://acme[.]test/pay?who=me"
