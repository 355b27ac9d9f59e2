"""HTML e-mail bodies to readable text, with the stdlib ``html.parser``."""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

log = logging.getLogger(__name__)

_BLANK_LINES = re.compile(r"\n{3,}")
_PARAGRAPH_TAGS = frozenset(
    {"address", "article", "aside", "blockquote", "dl", "fieldset", "figure", "footer", "form", "header", "hr"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "main", "nav", "ol", "p", "pre", "section", "table", "ul"}
)
_LINE_TAGS = frozenset(["dd", "div", "dt", "figcaption", "li", "tr"])
_HIDDEN_TAGS = frozenset(["head", "noscript", "script", "style", "template", "title"])


class _TextExtractor(HTMLParser):
    """HTML to readable text: paragraphs become blank lines, rows and list items lines, and
    scripts and styles vanish. Breaks are kept as numbers until the end, so nested blocks
    (``</li><li>``, ``<ul><li>``) add one break, not several."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str | int] = []
        self.hidden = 0
        self.pre = 0

    def _break(self, lines: int) -> None:
        if self.parts and isinstance(self.parts[-1], int):
            self.parts[-1] = max(self.parts[-1], lines)
        else:
            self.parts.append(lines)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _PARAGRAPH_TAGS or tag in _LINE_TAGS:
            self._break(2 if tag in _PARAGRAPH_TAGS else 1)
        elif tag in ("td", "th"):
            self.parts.append(" ")
        self.pre += tag == "pre"
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _PARAGRAPH_TAGS or tag in _LINE_TAGS:
            self._break(2 if tag in _PARAGRAPH_TAGS else 1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data if self.pre else data.replace("\n", " ").replace("\r", " "))

    def text(self) -> str:
        rendered = "".join("\n" * part if isinstance(part, int) else part for part in self.parts)
        lines = (" ".join(line.split()) for line in rendered.split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """The readable text of an HTML e-mail body (stdlib ``html.parser``; never raises)."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # HTMLParser is lenient; this is for the unforeseen
        log.debug("html body could not be fully parsed", exc_info=True)
    return extractor.text()


__all__ = ["html_to_text"]
