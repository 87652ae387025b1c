"""Open the generated index.html in headless Chromium: every image decodes, no console errors, no network."""

from __future__ import annotations

import shutil
from pathlib import Path

from test_report_frame import build_study

from sweep.report.build import write_comparison, write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _open(index: Path, screenshot: Path) -> dict:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(index.as_uri(), wait_until="load")
            images = page.evaluate("""() => Array.from(document.images).map(i => ({
                alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}))""")
            headings = page.locator("h2").all_inner_texts()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"errors": errors, "requests": requests, "images": images, "headings": headings}


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    index = write_report(build_study(40, multi=True, name="browser"), tmp_path / "browser")
    shot = tmp_path / "screenshot.png"
    seen = _open(index, shot)
    assert seen["errors"] == []
    assert [u for u in seen["requests"] if not u.startswith(("file:", "data:"))] == []
    assert len(seen["images"]) >= 9
    for img in seen["images"]:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img
    assert seen["headings"][0] == "Summary" and any(h.startswith("Failed trials") for h in seen["headings"])
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000


def test_comparison_renders_in_chromium(tmp_path: Path) -> None:
    index = write_comparison([build_study(15, name="a"), build_study(15, seed=4, name="b")], tmp_path / "cmp")
    seen = _open(index, tmp_path / "cmp.png")
    assert seen["errors"] == [] and len(seen["images"]) == 2
    assert all(i["w"] > 0 for i in seen["images"])
