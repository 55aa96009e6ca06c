"""The HTML dashboard of a real demo report, read by a real browser (Debian's chromium, headless).

assess.yml runs over the bundled demo estate; its report.html and servers/<name>.html (written by
report_files; written here with render_server_page if that run did not) are opened in
/usr/bin/chromium through Playwright (the browser is Debian's, Playwright only drives it: no
browser download). What a reader would see is checked through the browser itself: the
screenshot is a real picture of the requested size, printing gives a page per server, the
totals say what status_counts says, the timeline's marks are drawn inside the chart,
ex16-legacy reads as compromised, and every link to a server page opens that server's page.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, PlaybookRun, run_playbook

from exchange_remediation.estate_status import STATUSES, status_counts
from exchange_remediation.report_html import render_html, render_server_page, safe_page_name

DEMO = REPO / "inventories" / "demo" / "hosts.yml"
CHROMIUM = Path("/usr/bin/chromium")
# The flags of nightly spec §5; Playwright adds --headless and --user-data-dir itself.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    run = run_playbook("assess.yml", DEMO, tmp_path_factory.mktemp("browser-reports"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    report = run.report()
    assert (run.report_dir / "report.html").is_file()
    pages = run.report_dir / "servers"
    if not pages.is_dir():  # a report_files without server pages: write them as it would
        pages.mkdir()
        (run.report_dir / "report.html").write_text(render_html(report), encoding="utf-8")
        for host in report["hosts"]:
            (pages / f"{safe_page_name(host)}.html").write_text(render_server_page(report, host), encoding="utf-8")
    return run


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not CHROMIUM.is_file():
        pytest.fail("chromium not found: run `make browser` (installs Debian's chromium; "
                    "`make integration` and `make test` do it first)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright not installed: run `make setup` (requirements.txt)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, viewport=VIEWPORT, offline=True)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any, demo_run: PlaybookRun) -> Any:
    tab = browser.new_page()
    tab.goto((demo_run.report_dir / "report.html").as_uri())
    yield tab
    tab.close()


def _png_pixels(data: bytes) -> tuple[int, int, list[list[bytes]]]:
    """Width, height and the RGB pixels, row by row, of an 8-bit RGB/RGBA PNG (unfiltered as
    PNG spec section 9 says; Pillow is not a dependency of the project)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * step
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = row[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                row[i] = (row[i] + left) & 255
            elif kind == 2:
                row[i] = (row[i] + up) & 255
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(row))
        previous = row
    return width, height, [[bytes(row[x:x + 3]) for x in range(0, stride, step)] for row in rows]


def test_screenshot_is_a_real_picture_of_the_requested_size(page: Any, tmp_path: Path) -> None:
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot))
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"])
    assert len(rows) == height and all(len(row) == width for row in rows)
    colours = {pixel for row in rows for pixel in row}
    assert len(colours) > 50, "the screenshot is (nearly) one colour"
    # The compromised tile is drawn in its colour (#7f0019), at the top of the page.
    assert bytes((0x7F, 0x00, 0x19)) in colours


def test_print_gives_a_page_per_server(page: Any, demo_run: PlaybookRun) -> None:
    pdf = page.pdf(print_background=True)
    assert pdf.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", pdf))
    hosts = len(demo_run.report()["hosts"])
    assert pages > 1
    # Each server section starts a printed page of its own (break-before: page), after the dashboard.
    assert pages >= hosts + 1, pages


def test_totals_and_status_counts_read_in_the_browser(page: Any, demo_run: PlaybookRun) -> None:
    report = demo_run.report()
    counts = status_counts(report)
    assert page.inner_text("#count-total") == str(len(report["hosts"]))
    shown = {status: int(page.inner_text(f"#count-{status}")) for status in STATUSES}
    assert shown == counts
    assert counts["compromised"] >= 1 and sum(counts.values()) == len(report["hosts"])
    # The chart says the same in its text.
    bars = page.eval_on_selector_all(
        "svg.status-chart g.bar", "gs => gs.map(g => [g.querySelector('.bar-label').textContent,"
        " Number(g.querySelector('.bar-count').textContent)])")
    assert bars == [[status.capitalize(), counts[status]] for status in STATUSES]


def test_timeline_marks_are_drawn_inside_the_chart(page: Any) -> None:
    boxes = page.evaluate("""() => {
        const svg = document.querySelector('svg.timeline');
        const frame = svg.getBoundingClientRect();
        const marks = [...svg.querySelectorAll('.hit')].map(m => m.getBoundingClientRect());
        return {frame: [frame.left, frame.top, frame.right, frame.bottom],
                marks: marks.map(b => [b.left, b.top, b.right, b.bottom, b.width, b.height])};
    }""")
    left, top, right, bottom = boxes["frame"]
    assert right - left > 800 and bottom - top > 100
    assert len(boxes["marks"]) > 10
    for x1, y1, x2, y2, width, height in boxes["marks"]:
        assert width > 0 and height > 0
        assert left <= x1 and x2 <= right and top <= y1 and y2 <= bottom
    # The 2021 ProxyLogon burst on ex16-legacy and the 2026 scans on ex16-patched both get a panel.
    heads = page.eval_on_selector_all("svg.timeline .panel-head", "ts => ts.map(t => t.textContent)")
    assert any("2021" in head for head in heads) and any("2026" in head for head in heads)
    shaded = page.eval_on_selector_all("svg.timeline .exploitation", "rs => rs.map(r => r.getBBox().width)")
    assert shaded and all(width > 0 for width in shaded)
    assert "ex16-legacy exploited from 2021-03-03" in page.inner_text("#timeline ul.exploit")


def test_ex16_legacy_reads_as_compromised(page: Any) -> None:
    row = page.locator("#servers tr", has=page.locator("a", has_text=re.compile(r"^ex16-legacy$")))
    assert row.locator(".badge.ds").inner_text() == "compromised"
    assert "ex16-legacy" in page.locator("dl.who dd").first.inner_text()
    assert page.locator("dl.who dt").first.inner_text().lower() == "compromised"


def test_every_server_page_link_opens_that_server(page: Any, browser: Any, demo_run: PlaybookRun) -> None:
    links = page.eval_on_selector_all("a[href^='servers/']",
                                      "as => as.map(a => [a.closest('tr').querySelector('a').textContent, a.href])")
    hosts = demo_run.report()["hosts"]
    assert sorted(host for host, _ in links) == sorted(hosts)
    tab = browser.new_page()
    try:
        for host, url in links:
            response = tab.goto(url)
            assert response is not None and response.ok, url
            assert tab.inner_text("h1").split()[0] == host
            assert tab.locator(f'section.host h2:has-text("{host}")').count() == 1
            back = tab.get_attribute("nav.back a", "href")
            assert back == "../report.html"
        tab.click("nav.back a")
        assert tab.inner_text("h1") == "Exchange assessment"
    finally:
        tab.close()
