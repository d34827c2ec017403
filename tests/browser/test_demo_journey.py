"""The demo page walked in headless Chromium against a real `restoreclick dev`.

One customer, start to finish, through the page only: add photos (file picker, drag and
drop), see a refused file's error, remove a photo, cancel the checkout and come back,
change the photos again, pay, watch the restoration finish with no one calling a worker,
open the emailed link from the outbox, compare each restored photo with its original
(slider; with scripts off, the toggle; at 375 px, no sideways scroll) without spending a
use, download the ZIP and one photo.

A screenshot of every step goes to test-artifacts/browser/. Chromium is Debian's package
(CI installs it); without it this test fails rather than skips.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import ConsoleMessage, FilePayload, Page, expect, sync_playwright

from infra.embedded_postgres import free_port
from tests.fixtures import images
from tests.fixtures.dev_server import ROOT, start_dev, stop, wait_for_health

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Restoring runs on the dev scheduler, on two shared cores: be patient, but not forever.
RESTORATION_TIMEOUT_MS = 180_000


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium (Playwright's own browser download is not used anywhere)."""
    candidates = [os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("Chromium is not installed: `apt-get install chromium` (or set CHROMIUM_PATH)")


@pytest.fixture
def dev_server(data_dir: Path) -> Iterator[str]:
    """A real `restoreclick dev` (embedded database, scheduler and all) on free ports."""
    port, db_port = free_port(), free_port()
    process = start_dev(data_dir, port, db_port)
    try:
        wait_for_health(port, process)  # says why when the server does not come up
    except BaseException:
        stop(process)
        raise
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        output = stop(process)
    assert process.returncode == 0, output  # Ctrl-C stopped it cleanly, database included


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def test_a_customer_restores_photos_through_the_demo_page(chromium: str, dev_server: str, artifacts: Path) -> None:
    base = dev_server
    photos = {
        "beach-1958.jpg": images.jpeg(size=(320, 240), seed=1),
        "attic-portrait.png": images.png(size=(400, 300), seed=2),
        "wedding-1962.jpg": images.jpeg(size=(300, 400), seed=3),
    }
    steps = iter(range(1, 100))

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=artifacts / f"{next(steps):02d}-{name}.png", full_page=True)

    with shop_page(chromium) as (page, problems):
        try:
            # 1. The shop page, empty: nothing to pay for yet.
            page.goto(base + "/")
            expect(page.locator("body")).to_have_attribute("data-ready", "true")
            pay = page.get_by_role("button", name="Pay and restore")
            expect(pay).to_be_disabled()
            expect(page.get_by_text("up to 25 MB")).to_be_visible()
            shot(page, "empty-shop")

            # 2. Two photos through the file picker, one dropped on the drop zone.
            picked: list[FilePayload] = [
                {"name": name, "mimeType": "image/jpeg" if name.endswith(".jpg") else "image/png", "buffer": data}
                for name, data in list(photos.items())[:2]
            ]
            page.get_by_label("Choose photos").set_input_files(picked)
            drop(page, "wedding-1962.jpg", "image/jpeg", photos["wedding-1962.jpg"])
            photo_cards = page.locator("#photo-list li.is-ready")
            expect(photo_cards).to_have_count(3)
            for name in photos:
                expect(page.get_by_role("img", name=f"Preview of {name}")).to_be_visible()
            expect(page.locator("#summary")).to_contain_text("3 photos")
            expect(page.locator("#summary")).to_contain_text("29.97")
            expect(pay).to_be_enabled()
            shot(page, "three-photos-added")

            # 3. A file that is not a photo: the server's error message is shown, nothing added.
            drop(page, "notes.jpg", "image/jpeg", b"these are my notes, not a photo")
            expect(page.get_by_role("alert")).to_contain_text("notes.jpg")
            expect(photo_cards).to_have_count(3)
            shot(page, "refused-file-error")

            # 4. Remove one.
            page.get_by_role("button", name="Remove beach-1958.jpg").click()
            expect(photo_cards).to_have_count(2)
            expect(page.get_by_role("img", name="Preview of beach-1958.jpg")).to_have_count(0)
            expect(page.locator("#summary")).to_contain_text("2 photos")
            shot(page, "one-photo-removed")

            # 5. An email, then pay: off to the (local) checkout page.
            page.get_by_label("Email address").fill("ada@example.com")
            page.get_by_label("Your name").fill("Ada Lovelace")
            shot(page, "email-entered")
            pay.click()
            page.wait_for_url("**/dev/checkout/**")
            expect(page.locator("#amount")).to_contain_text("19.98")
            shot(page, "local-checkout")

            # 6. Cancel and come back: the same two photos are there, the email remembered.
            page.locator("#cancel").click()
            expect(page).to_have_url(base + "/")  # the page drops the query once it has read it
            expect(page.locator("body")).to_have_attribute("data-ready", "true")
            expect(page.get_by_role("status").first).to_contain_text("Checkout cancelled")
            expect(page.locator("#photo-list li.is-ready")).to_have_count(2)
            expect(page.locator("#photo-list")).to_contain_text("attic-portrait.png")
            expect(page.locator("#photo-list")).to_contain_text("wedding-1962.jpg")
            expect(page.get_by_label("Email address")).to_have_value("ada@example.com")
            shot(page, "checkout-cancelled")

            # 6b. Cancelling ended that checkout: the photos can change again. One more
            # photo in, then out again.
            drop(page, "beach-1958.jpg", "image/jpeg", photos["beach-1958.jpg"])
            expect(photo_cards).to_have_count(3)
            expect(page.locator("#summary")).to_contain_text("29.97")
            page.get_by_role("button", name="Remove beach-1958.jpg").click()
            expect(photo_cards).to_have_count(2)
            expect(page.locator("#summary")).to_contain_text("19.98")
            expect(page.get_by_role("alert")).to_be_hidden()
            shot(page, "photos-changed-after-cancel")

            # 7. Pay for real this time, on a new payment page.
            page.get_by_role("button", name="Pay and restore").click()
            page.wait_for_url("**/dev/checkout/**")
            expect(page.locator("#amount")).to_contain_text("19.98")
            page.locator("#pay").click()
            page.wait_for_url(re.compile(r"/\?checkout_session_id=[^&]+$"))
            status_view = page.locator("#status-view")
            expect(status_view).to_be_visible()
            expect(page.locator("#order-line")).to_contain_text("Order ")
            shot(page, "paid-status-view")

            # 8. The dev scheduler restores both photos; the page follows along by itself.
            expect(status_view).to_have_attribute("data-status", "completed", timeout=RESTORATION_TIMEOUT_MS)
            expect(page.get_by_role("heading", name="Your photos are ready")).to_be_visible()
            expect(page.locator("#status-text")).to_contain_text("all 2 photos are restored")
            expect(page.locator("#status-photos .pill-restored")).to_have_count(2)
            restored_previews = page.locator("#status-photos img.status-preview-after")
            expect(restored_previews).to_have_count(2)  # each photo's preview, as it finished
            for n in range(2):
                page.wait_for_function("el => el.complete", arg=restored_previews.nth(n).element_handle())
                assert restored_previews.nth(n).evaluate("el => el.naturalWidth") > 0
            outbox_link = page.get_by_role("link", name="Open the email outbox")
            expect(outbox_link).to_be_visible()
            shot(page, "restoration-completed")

            # 9. The email with the download link, in the outbox.
            outbox_link.click()
            page.wait_for_url("**/dev/outbox")
            emailed_link = page.locator('a[href*="/api/download/"]').first
            deadline = time.monotonic() + 120
            while emailed_link.count() == 0 and time.monotonic() < deadline:
                page.wait_for_timeout(1000)
                page.reload()
            expect(emailed_link).to_be_visible()
            expect(page.locator("body")).to_contain_text("to ada@example.com")
            shot(page, "outbox")

            # 10. The download page from the emailed link: the ZIP holds the two restored photos.
            emailed_link.click()
            page.wait_for_url("**/api/download/rc_dl_*")
            expect(page.get_by_role("heading", name="Order")).to_be_visible()
            shot(page, "download-page")

            # 10b. Each photo restored beside its original: every preview decoded, the slider
            # moves the line between them, and looking (reloads included) spent no use.
            expect(page.locator("body")).to_contain_text("works 10 more time(s)")
            check_previews(page, count=4)
            sliders = page.locator("input.slider")
            expect(sliders).to_have_count(2)
            sliders.first.fill("15")
            at_15 = page.locator(".photo").first.locator("img.before").evaluate("el => getComputedStyle(el).clipPath")
            sliders.first.fill("85")
            at_85 = page.locator(".photo").first.locator("img.before").evaluate("el => getComputedStyle(el).clipPath")
            # The original shows on the slider's left: 15% of it, then 85%.
            assert (at_15, at_85) == ("inset(0px 85% 0px 0px)", "inset(0px 15% 0px 0px)"), (at_15, at_85)
            shot(page, "download-page-compare")
            page.reload()
            check_previews(page, count=4)
            expect(page.locator("body")).to_contain_text("works 10 more time(s)")
            download_url = page.url
            with_scripts_off(page, download_url, artifacts / f"{next(steps):02d}-download-page-no-javascript.png")
            on_a_phone(page, download_url, artifacts / f"{next(steps):02d}-download-page-375px.png")
            page.reload()
            expect(page.locator("body")).to_contain_text("works 10 more time(s)")
            with page.expect_download() as zip_download:
                page.locator("#download-zip").click()
            archive = zip_download.value
            zip_path = artifacts / archive.suggested_filename
            archive.save_as(zip_path)
            assert archive.suggested_filename.endswith(".zip"), archive.suggested_filename
            with zipfile.ZipFile(zip_path) as bundle:
                names = sorted(bundle.namelist())
                in_zip = {name: bundle.read(name) for name in names}
                assert len(names) == 2, names
                assert any(n.startswith("attic-portrait") for n in names), names
                assert any(n.startswith("wedding-1962") for n in names), names
                for name in names:
                    with Image.open(io.BytesIO(in_zip[name])) as restored:
                        restored.load()  # decodes every pixel, not only the header
                        assert restored.size[0] > 0 and restored.size[1] > 0

            # 11. And one photo on its own.
            with page.expect_download() as photo_download:
                page.get_by_role("button", name="Download", exact=True).first.click()
            single = photo_download.value
            single_path = artifacts / single.suggested_filename
            single.save_as(single_path)
            assert single.suggested_filename.startswith(("attic-portrait", "wedding-1962")), single.suggested_filename
            with Image.open(single_path) as restored:
                restored.load()
            assert single_path.read_bytes() in in_zip.values(), "the photo alone is the one in the ZIP"
            page.reload()  # the page counts the uses left
            expect(page.locator("body")).to_contain_text("works 8 more time(s)")
            shot(page, "downloaded")

            assert problems == [], problems
        except BaseException:
            with contextlib.suppress(Exception):
                shot(page, "failure")
            raise


def test_a_customer_pays_by_bank_debit_and_the_photos_wait_for_it_to_clear(
    chromium: str, dev_server: str, artifacts: Path
) -> None:
    """The delayed path: the payment page completes unpaid, the shop says the payment is
    pending and keeps the photos as paid for, then the debit clears and they are restored."""
    base = dev_server
    with shop_page(chromium) as (page, problems):
        page.goto(base + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        page.get_by_label("Choose photos").set_input_files(
            [{"name": "harbour-1931.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg(seed=7)}]
        )
        expect(page.locator("#photo-list li.is-ready")).to_have_count(1)
        page.get_by_label("Email address").fill("grace@example.com")
        page.get_by_role("button", name="Pay and restore").click()
        page.wait_for_url("**/dev/checkout/**")
        checkout_page = page.url
        page.get_by_role("button", name="Pay by bank debit").click()
        page.wait_for_url(re.compile(r"/\?checkout_session_id=[^&]+$"))
        status_view = page.locator("#status-view")
        expect(status_view).to_have_attribute("data-status", "payment_pending")
        expect(page.locator("#status-text")).to_contain_text("being processed by your bank")
        page.screenshot(path=artifacts / "debit-01-payment-pending.png", full_page=True)

        page.goto(checkout_page)
        expect(page.locator("body")).to_contain_text("Your bank debit is clearing")
        page.screenshot(path=artifacts / "debit-02-clearing.png", full_page=True)
        page.get_by_role("button", name="The debit clears").click()
        expect(page.locator("body")).to_contain_text("This checkout is complete")
        # Back on the success page, as the customer's tab still shows it.
        page.goto(base + "/?checkout_session_id=" + checkout_page.rstrip("/").rsplit("/", 1)[-1])
        expect(status_view).to_have_attribute("data-status", "completed", timeout=RESTORATION_TIMEOUT_MS)
        expect(page.locator("#status-photos .pill-restored")).to_have_count(1)
        page.screenshot(path=artifacts / "debit-03-restored.png", full_page=True)
        assert problems == [], problems


@contextlib.contextmanager
def shop_page(chromium: str) -> Iterator[tuple[Page, list[str]]]:
    """A page in a fresh headless Chromium, and the list of problems it reports: uncaught
    script errors and anything the page's CSP refused, which would break the page quietly
    for a customer and here fail the test."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.on("console", lambda message: problems.extend(policy_refusals(message)))
        try:
            yield page, problems
        finally:
            context.close()
            browser.close()


def check_previews(page: Page, count: int) -> None:
    """Every preview on the page decoded (a broken or refused image has no natural width)."""
    previews = page.locator("ul.photos img")
    expect(previews).to_have_count(count)
    for n in range(count):
        img = previews.nth(n)
        img.scroll_into_view_if_needed()
        page.wait_for_function("el => el.complete", arg=img.element_handle())
        assert img.evaluate("el => el.naturalWidth") > 0, img.get_attribute("alt")


def with_scripts_off(page: Page, url: str, screenshot: Path) -> None:
    """The same page in a browser with JavaScript off: the toggle shows the original."""
    context = page.context.browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 900})  # type: ignore[union-attr]
    try:
        plain = context.new_page()
        plain.goto(url)
        check_previews(plain, count=4)
        first = plain.locator(".photo").first
        before = first.locator("img.before")
        expect(first.locator("input.slider")).to_be_hidden()
        expect(before).to_have_css("visibility", "hidden")
        first.get_by_text("Show the original").click()
        expect(before).to_have_css("visibility", "visible")
        expect(first.get_by_text("Show the restored photo")).to_be_visible()
        plain.screenshot(path=screenshot, full_page=True)
        first.get_by_text("Show the restored photo").click()
        expect(before).to_have_css("visibility", "hidden")
    finally:
        context.close()


def on_a_phone(page: Page, url: str, screenshot: Path) -> None:
    """At 375 px wide the page never scrolls sideways."""
    context = page.context.browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)  # type: ignore[union-attr]
    try:
        phone = context.new_page()
        phone.goto(url)
        check_previews(phone, count=4)
        widths = phone.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth]"
        )
        assert widths[0] <= widths[1] == 375, widths
        phone.screenshot(path=screenshot, full_page=True)
    finally:
        context.close()


def policy_refusals(message: ConsoleMessage) -> list[str]:
    """The console's report of anything the page's Content-Security-Policy refused."""
    if message.type == "error" and "Content Security Policy" in message.text:
        return [f"console: {message.text}"]
    return []


def drop(page: Page, name: str, mime: str, data: bytes) -> None:
    """Drag a file onto the drop zone as a browser does: dragenter, dragover, drop."""
    transfer = page.evaluate_handle(
        """([name, mime, encoded]) => {
            const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            return transfer;
        }""",
        [name, mime, base64.b64encode(data).decode()],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event("#dropzone", event, {"dataTransfer": transfer})
    transfer.dispose()


@pytest.fixture
def short_lived_upload_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signed upload URLs that end within seconds, as a self-hosted Supabase's may (60 s).

    8 s is under the 10 s the page counts as "about to end", so it always renews, and long
    enough that the renewed URL still lives when the PUT reaches storage on a loaded
    machine (at 3 s it sometimes did not, and the photo failed)."""
    monkeypatch.setenv("DIRECT_UPLOAD_URL_SECONDS", "8")


def test_the_demo_page_asks_for_a_fresh_upload_url_when_one_has_expired(
    chromium: str, short_lived_upload_urls: None, dev_server: str
) -> None:
    # Noise compresses badly: several MB of JPEG, too large for a request, so it goes direct.
    noise = Image.frombytes("RGB", (2600, 2000), os.urandom(2600 * 2000 * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=95)
    large = out.getvalue()
    assert len(large) > 4 * 1024 * 1024
    renewals: list[str] = []
    refused: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context().new_page()
        page.set_default_timeout(30_000)

        def storage_refuses_first_put(route):  # type: ignore[no-untyped-def]
            if route.request.method == "PUT" and not refused:
                # What storage answers a URL past its lifetime (local: 403 link_expired).
                refused.append(route.request.url)
                route.fulfill(
                    status=403, content_type="application/json",
                    body='{"error": {"code": "link_expired", "message": "this link has expired"}}',
                )  # fmt: skip
                return
            route.continue_()

        page.route("**/local-storage/**", storage_refuses_first_put)
        page.on("request", lambda r: renewals.append(r.url) if r.url.endswith("/url") else None)
        try:
            page.goto(dev_server + "/")
            expect(page.locator("body")).to_have_attribute("data-ready", "true")
            page.get_by_label("Choose photos").set_input_files(
                [{"name": "big-scan.jpg", "mimeType": "image/jpeg", "buffer": large}]
            )
            expect(page.locator("#photo-list li.is-ready")).to_have_count(1)
        finally:
            browser.close()
    # Renewed once because the URL was about to end (8 s), once more after the refusal.
    assert len(refused) == 1 and len(renewals) == 2
