"""Every email, both parts: the same link in each, the customer's names escaped in the
HTML, and a plain-text part that says everything on its own."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from shared.email.templates import MESSAGES, render

# A filename as a customer may type it: markup, quotes, an ampersand, non-ASCII.
HOSTILE = '<img src=x onerror="alert(1)"> Oma & Opa\'s "Hochzeit" 1962.jpg'
URL = "https://shop.example/api/download/rc_dl_Ab-_09?campaign=a&b=<c>"
CONTEXT = {"ttl_days": 30, "download_url": URL, "expires_at": datetime(2027, 1, 2, tzinfo=UTC), "max_uses": 10}
PAYLOADS: dict[str, dict[str, Any]] = {
    "order_confirmation": {
        "order_number": "20261201-000007",
        "photo_count": 3,
        "amount_total": 2997,
        "currency": "usd",
    },
    "restoration_complete": {"order_number": "20261201-000007", "restored": 3, "zip_parts": 2},
    "restoration_partial": {"order_number": "20261201-000007", "restored": 2, "failed": 1, "failed_photos": [HOSTILE]},
    "restoration_failed": {"order_number": "20261201-000007", "failed_photos": [HOSTILE, "b.jpg"]},
    "download_links_resent": {"order_number": "20261201-000007"},
    "payment_failed": {},
    "payment_refunded": {"photo_count": 2, "amount_total": 1998, "currency": "eur", "why": f"{HOSTILE} is gone"},
}
WITH_LINK = {"restoration_complete", "restoration_partial", "download_links_resent"}
WITH_HOSTILE_NAME = {"restoration_partial", "restoration_failed", "payment_refunded"}


class Page(HTMLParser):
    """What a reader of the HTML part sees: its text, and where its links go."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag in ("style", "title"):
            self._skip += 1
        if tag == "a":
            self.links.append(dict(attrs)["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.text.append(data.strip())


def parse(markup: str) -> Page:
    page = Page()
    page.feed(markup)
    return page


def test_every_template_has_a_payload_here() -> None:
    assert {p.stem for p in MESSAGES.glob("*.txt")} == set(PAYLOADS)


@pytest.mark.parametrize("template", sorted(PAYLOADS))
def test_both_parts_of_every_message(template: str) -> None:
    email = render(template, PAYLOADS[template], CONTEXT)
    page = parse(email.html)

    assert email.subject and "\n" not in email.subject and "$" not in email.subject
    # The link: the same in both parts, and the button is the HTML part's only link.
    text_links = re.findall(r"https://\S+", email.text)
    if template in WITH_LINK:
        assert text_links == [URL]
        assert page.links == [URL]  # the parser has undone the escaping of &, < and >
        assert f'href="{html.escape(URL)}"' in email.html
        # How long the link lasts and how many downloads it allows, in both parts.
        for part in (email.text, " ".join(page.text)):
            assert "works for 30 days, until 02 January 2027, and for 10 downloads" in part
    else:
        assert text_links == [] and page.links == []
    # Names escaped: shown as typed, never markup.
    if template in WITH_HOSTILE_NAME:
        assert HOSTILE in email.text
        assert HOSTILE in " ".join(page.text)
        assert "<img" not in email.html and "img" not in page.tags
    # The plain-text part reads on its own: no markup, no placeholder left, and every
    # sentence the HTML part shows (the button's label included) is in it.
    assert "<" not in email.text.replace(HOSTILE, "").replace(URL, "")
    assert "$" not in email.text and "$" not in " ".join(page.text)
    for sentence in page.text:
        assert sentence in email.text, sentence


def test_the_html_is_built_for_phones_and_dark_mode() -> None:
    email = render("restoration_complete", PAYLOADS["restoration_complete"], CONTEXT)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in email.html
    assert '<meta name="color-scheme" content="light dark">' in email.html
    assert "@media (prefers-color-scheme: dark)" in email.html
    assert "max-width:560px" in email.html  # one column, as wide as the phone below that


def test_optional_paragraphs_are_left_out_when_they_have_nothing_to_say() -> None:
    one_zip = render("restoration_complete", {"order_number": "n", "restored": 1}, CONTEXT)
    assert "ZIPs" not in one_zip.text
    split = render("restoration_complete", {"order_number": "n", "restored": 1, "zip_parts": 3}, CONTEXT)
    assert "as 3 ZIPs" in split.text
    none_named = render("restoration_failed", {"order_number": "n"}, CONTEXT)
    assert "Not restored" not in none_named.text and "Not restored" not in none_named.html
    free = render("payment_refunded", {"photo_count": 1, "amount_total": 0}, CONTEXT)
    assert "You were not charged." in free.text


def test_an_unknown_template_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown email template"):
        render("newsletter", {}, CONTEXT)
    with pytest.raises(ValueError, match="unknown email template"):
        render("../messages/payment_failed", {}, CONTEXT)
