"""The demo page at `/`: the dev app serves it and its files, under a policy that lets it run.

The browser walk through it is tests/browser/test_demo_journey.py; these checks are fast.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from infra.demo_routes import DEMO_DIR
from shared.core.config import Settings


class PageParts(HTMLParser):
    """What a Content-Security-Policy without 'unsafe-inline' cares about in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.icons: list[str] = []
        self.inline: list[str] = []  # inline scripts, <style> blocks, style="" and on*="" attributes
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "script":
            if attributes.get("src"):
                self.scripts.append(str(attributes["src"]))
            else:
                self.inline.append("<script>")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(str(attributes["href"]))
        if tag == "link" and attributes.get("rel") == "icon":
            self.icons.append(str(attributes["href"]))
        self.inline += [f"{tag} {name}=" for name in attributes if name == "style" or name.startswith("on")]


def page_parts(html: str) -> PageParts:
    parts = PageParts()
    parts.feed(html)
    return parts


def test_the_dev_app_serves_the_demo_page_and_every_file_it_loads(shop: TestClient) -> None:
    page = shop.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    parts = page_parts(page.text)
    assert parts.scripts == ["/demo/demo.js"]
    assert parts.stylesheets == ["/demo/demo.css"]
    expected_types = {
        "/demo/demo.js": "text/javascript",
        "/demo/demo.css": "text/css",
        "/demo/favicon.svg": "image/svg+xml",
    }
    for url in [*parts.scripts, *parts.stylesheets, *parts.icons]:
        asset = shop.get(url)
        assert asset.status_code == 200, url
        # nosniff is on every response: a wrong type would make the browser refuse the file.
        assert asset.headers["content-type"].startswith(expected_types[url]), url
        assert asset.headers["x-content-type-options"] == "nosniff"


def test_the_page_policy_allows_what_the_page_does_and_nothing_inline(shop: TestClient) -> None:
    page = shop.get("/")
    policy = dict(directive.strip().split(" ", 1) for directive in page.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"  # the API, and local storage for direct uploads
    assert "blob:" in policy["img-src"]  # thumbnails of the photos picked, before upload
    assert policy["frame-ancestors"] == "'none'"
    assert page_parts(page.text).inline == [], "inline code would be blocked by the policy"
    # The rest of the shop keeps the API's policy: the page's is not loosened globally.
    assert shop.get("/api/health").headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_every_element_the_script_looks_up_is_in_the_page(shop: TestClient) -> None:
    script = shop.get("/demo/demo.js").text
    wanted = set(re.findall(r'\$\("([\w-]+)"\)', script))
    assert wanted, "the script looks elements up by id"
    assert wanted <= page_parts(shop.get("/").text).ids, wanted - page_parts(shop.get("/").text).ids


def test_the_page_shows_the_servers_price_and_limits(shop: TestClient, settings: Settings) -> None:
    answer = shop.get("/demo/settings.json")
    assert answer.status_code == 200
    assert answer.json() == {
        "price_per_photo": settings.price_per_photo,
        "currency": settings.currency,
        "upload_max_bytes": settings.upload_max_bytes,
        "upload_request_max_bytes": min(settings.upload_request_max_bytes, settings.upload_max_bytes),
        "upload_max_files": settings.upload_max_files,
    }


def test_only_the_demo_files_are_served(shop: TestClient) -> None:
    assert (DEMO_DIR / "index.html").is_file()
    for path in ["/demo/index.html", "/demo/nothing.js", "/demo/..%2Fdemo_routes.py", "/demo/%2E%2E%2Fdev_server.py"]:
        response = shop.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_no_lambda_function_serves_the_demo_page(settings: Settings) -> None:
    from infra.dev_server import function_routers

    paths = {getattr(route, "path", "") for router in function_routers() for route in router.routes}
    assert "/" not in paths
    assert not any(path.startswith("/demo") for path in paths)
