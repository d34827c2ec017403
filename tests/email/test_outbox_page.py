"""The outbox under `restoreclick dev`: each email as sent (multipart, text then HTML),
and its HTML part shown as the customer would see it."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from fastapi.testclient import TestClient

from shared.core.config import get_settings
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from tests.fixtures.shopping import press_pay, start_checkout, upload_photos


def test_the_outbox_shows_both_parts_of_every_email_as_sent(shop: TestClient) -> None:
    checkout = start_checkout(shop, upload_photos(shop, 2)["upload_session_id"])
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303
    run_worker("restoration", get_settings(), deadline_in(120))
    run_worker("email", get_settings(), deadline_in(60))

    messages = shop.get("/dev/outbox?format=json").json()["messages"]
    assert {m["subject"].split(" (")[0].split(" ")[0] for m in messages} == {"Order", "Your"}
    page = shop.get("/dev/outbox")
    assert page.status_code == 200 and "frame-src 'self'" in page.headers["content-security-policy"]
    for message in messages:
        # The .eml is what a provider would send: multipart/alternative, plain text first.
        eml = (get_settings().outbox_dir / f"{message['email_id']}.eml").read_bytes()
        mime = BytesParser(policy=policy.default).parsebytes(eml)
        alternative = next(p for p in mime.walk() if p.get_content_type() == "multipart/alternative")
        parts = list(alternative.iter_parts())
        assert parts[0].get_content_type() == "text/plain" and len(parts) == 2
        # The HTML part, on its own or (with the inline preview) first in a multipart/related.
        html_part = parts[1] if parts[1].get_content_type() == "text/html" else next(parts[1].iter_parts())
        assert parts[1].get_content_type() in ("text/html", "multipart/related")
        assert html_part.get_content_type() == "text/html"
        # The page frames the HTML part, served as it was sent, with nothing it may load or run.
        assert f"src='/dev/outbox/{message['email_id']}.html'" in page.text
        framed = shop.get(f"/dev/outbox/{message['email_id']}.html")
        assert framed.status_code == 200 and framed.headers["content-type"].startswith("text/html")
        assert "<!doctype html>" in framed.text and "cid:" not in framed.text
        # As sent, apart from the inline preview put in place where the email has one.
        assert framed.text == message["html"] or (
            "cid:" in message["html"] and "data:image/jpeg;base64," in framed.text
        )
        assert framed.headers["content-security-policy"].startswith("default-src 'none'")
        for link in message["download_links"]:
            assert f'href="{link}"' in framed.text  # the button, with the text part's link
    assert any(m["download_links"] for m in messages)


def test_an_unknown_or_crafted_email_id_is_404(shop: TestClient) -> None:
    for email_id in ("nope", "00000000-0000-0000-0000-000000000000", ".hidden"):
        answer = shop.get(f"/dev/outbox/{email_id}.html")
        assert answer.status_code == 404, email_id
        assert answer.json()["error"]["code"] == "email_not_found"
    # A path climbing out matches no route at all: the app's own 404.
    climbing = shop.get("/dev/outbox/..%2F..%2Fsecrets.html")
    assert climbing.status_code == 404 and "error" in climbing.json()
