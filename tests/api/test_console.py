"""The console's page: served with a strict CSP, no inline script or style, a fixed set of
assets, and absent (404) where the console is switched off."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.console import CONSOLE_HEADERS
from tests.support import make_settings, running

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


async def test_the_page_has_a_strict_csp_and_nothing_inline(http: httpx.AsyncClient) -> None:
    page = await http.get("/console/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    tags = Tags()
    tags.feed(page.text)
    scripts = [attributes for tag, attributes in tags.tags if tag == "script"]
    assert [s["src"] for s in scripts] == [
        "/static/vendor/chartjs/chart.umd.min.js",
        "/console/console.js",
    ]
    assert tags.script_text == []
    assert not [tag for tag, _ in tags.tags if tag == "style"]
    assert not [
        (tag, name)
        for tag, attributes in tags.tags
        for name in attributes
        if name == "style" or name.startswith("on")
    ]
    # Everything the page loads comes from the gateway itself.
    loaded = [a.get("src") or a.get("href") for t, a in tags.tags if t in ("script", "link")]
    assert all(url and url.startswith("/") and not url.startswith("//") for url in loaded)
    for url in loaded:
        assert url is not None
        assert (await http.get(url)).status_code == 200, url


async def test_only_the_consoles_own_assets_are_served(http: httpx.AsyncClient) -> None:
    script = await http.get("/console/console.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["content-security-policy"] == CONSOLE_HEADERS["Content-Security-Policy"]
    assert (await http.get("/console/console.css")).headers["content-type"].startswith("text/css")
    for path in ("/console/index.html.bak", "/console/..%2Fgraphiql.html", "/console/x.js"):
        assert (await http.get(path)).status_code == 404, path
    moved = await http.get("/console")
    assert (moved.status_code, moved.headers["location"]) == (308, "/console/")


@pytest.mark.parametrize("path", ["/console/", "/console/console.js", "/console"])
async def test_the_console_can_be_switched_off(
    path: str, registry_url: str, tmp_path: Path
) -> None:
    settings = make_settings(registry_url, tmp_path, console=False)
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get(path)).status_code == 404
