"""The page at /: its files are served from the package, and in headless Chromium choosing a
file shows the translated image, at a desktop's width and a phone's."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.chromium import find_chromium, open_tab
from tests.serve.conftest import photo


def test_the_page_and_its_files_are_served_and_need_no_network(served):
    page = httpx.get(f"{served.url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/static/app.js", "/static/style.css"]
    for asset in assets:
        reply = httpx.get(f"{served.url}{asset}")
        assert reply.status_code == 200, asset
        assert not re.search(r"https?://", reply.text), f"{asset} loads something from the network"
    assert 'name="viewport"' in page.text


@pytest.mark.skipif(find_chromium() is None,
                    reason="no Chromium: install Debian's 'chromium' package (.ci/run does) to "
                           "test the page in a browser")
@pytest.mark.parametrize("width", [1100, 390])
def test_choosing_a_file_shows_the_output(served, tmp_path, width):
    image = photo(tmp_path / "photo.png", 64, 80, seed=0)
    with open_tab(find_chromium(), width=width, height=900) as tab:
        tab.navigate(f"{served.url}/")
        tab.wait_until("document.querySelectorAll('#model option').length > 0")
        assert tab.evaluate("document.getElementById('model').value") == "tiny"
        tab.set_files("#file", [image])
        tab.wait_until("document.getElementById('output').naturalWidth > 0")
        assert tab.evaluate("document.getElementById('output').naturalWidth") == 80
        assert tab.evaluate("document.getElementById('input').naturalWidth") == 80
        assert tab.evaluate("document.getElementById('download').hidden") is False
        assert tab.evaluate("document.getElementById('download').download") == "photo_tiny.png"
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        assert tab.errors() == []
