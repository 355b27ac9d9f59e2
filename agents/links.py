"""Links in a tainted reply are shown defanged, so a reply cannot carry data out in a link.

A turn whose model read outside content (an e-mail, a web page) may have been told to put the
operator's data into a link (``https://collect.example/r?d=INV-1%20Acme%3A%201200.00``): one tap, or
one link preview, and the data is gone. In such a reply every link that could carry data — one with
a query string or fragment, or one to a domain the operator does not deal with — is shown as
``hxxps://collect[.]example/r?d=…``: readable, copyable, and not a link in Telegram, Slack or a
terminal. Links to the operator's known domains without a query or fragment stay as they are.

``defang_links`` is pure; the dispatcher applies it to every tainted reply, for every channel.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# A host: dot-separated labels of letters/digits (any script) and inner hyphens, ending in a
# top-level domain of 2+ letters (or punycode), or an IPv4 address.
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_HOST = rf"(?:(?:{_LABEL}\.)+(?:[^\W\d_]{{2,63}}|xn--[a-z0-9-]{{1,59}})|\d{{1,3}}(?:\.\d{{1,3}}){{3}})"
_REST = r"""[^\s<>"'`]*"""
LINK = re.compile(
    rf"""(?:[a-z][a-z0-9+.-]*://{_REST}"""  # anything with a scheme
    rf"""|(?<![\w.-]){_HOST}(?![\w-])(?::\d{{1,5}})?(?:[/?#]{_REST})?)""",  # a bare host (www.…, evil.com/x)
    re.IGNORECASE,
)
_PLAIN_DOT = re.compile(r"(?<!\[)\.(?!\])")
_TRAILING = ".,;:!)]}'\""  # sentence punctuation after a link is not part of it


def _host(link: str) -> str:
    rest = link.split("://", 1)[1] if "://" in link else link
    netloc = re.split(r"[/?#\\]", rest, maxsplit=1)[0]
    return netloc.lower()


def _keeps(link: str, known: Collection[str]) -> bool:
    """A link to a known domain, carrying no query or fragment, and nothing that hides its host."""
    if any(c in link for c in "?#\\@"):
        return False
    scheme = link.split("://", 1)[0].lower() if "://" in link else ""
    if scheme not in ("", "http", "https"):
        return False
    host = _host(link).split(":", 1)[0].removeprefix("www.")
    return any(host == d or host.endswith("." + d) for d in known)


def defang(link: str) -> str:
    """``https://evil.com/x?d=1`` → ``hxxps://evil[.]com/x?d=1``: every dot bracketed, so no part
    of it (not even a host hidden in its path) is a link any more."""
    defanged = re.sub(r"^http", "hxxp", link, flags=re.IGNORECASE)
    defanged = defanged.replace("://", "[://]", 1) if not defanged.lower().startswith("hxxp") else defanged
    return _PLAIN_DOT.sub("[.]", defanged)


def defang_links(text: str, known_domains: Collection[str] = ()) -> str:
    """``text`` with every link that could carry data defanged (see the module docstring)."""
    known = {d.lower().strip(".") for d in known_domains if d.strip(".")}

    def shown(match: re.Match[str]) -> str:
        link = match.group(0).rstrip(_TRAILING)
        tail = match.group(0)[len(link) :]
        return (link if _keeps(link, known) else defang(link)) + tail

    return LINK.sub(shown, text)


def domains_of(addresses: Collection[str]) -> frozenset[str]:
    """The domains of e-mail addresses (``jane@acme.test`` → ``acme.test``); other entries are skipped."""
    return frozenset(a.rsplit("@", 1)[1].lower() for a in addresses if "@" in a and a.rsplit("@", 1)[1])


__all__ = ["LINK", "defang", "defang_links", "domains_of"]
