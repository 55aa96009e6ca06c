"""report_html.render_html: self-contained, escaped, and complete."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from report_samples import AUTODISCOVER_LINE, HOSTILE_DETAIL, WEBSHELL, sample_report

from exchange_remediation.report_html import render_html

VOID = {"meta", "br", "link", "img", "hr", "input"}


class _Collector(HTMLParser):
    """Records tags, attributes and decoded text, and checks that elements nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.mismatches: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(name, value or "") for name, value in attrs]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.mismatches.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    return collector


def test_untrusted_markup_is_escaped() -> None:
    page = render_html(sample_report())
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "EDGE01&lt;b&gt;|`x`" in page
    parsed = _parse(page)
    assert "script" not in parsed.tags and "b" not in parsed.tags
    # The browser shows the attacker's text literally, minus the control character.
    assert HOSTILE_DETAIL.replace("\x07", "") in "".join(parsed.text)


def test_document_structure_is_balanced() -> None:
    parsed = _parse(render_html(sample_report()))
    assert parsed.mismatches == []
    assert parsed.stack == []
    assert parsed.tags[:2] == ["html", "head"]


def test_no_external_assets_or_script() -> None:
    page = render_html(sample_report())
    parsed = _parse(page)
    assert not {"link", "script", "img", "iframe", "object", "embed"} & set(parsed.tags)
    for name, value in parsed.attrs:
        assert name not in ("src", "srcset"), name
        if name == "href":
            assert value.startswith("#"), value
    assert not re.search(r"url\(|@import", page)


def test_control_characters_removed() -> None:
    page = render_html(sample_report())
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", page)


def test_estate_summary_counts() -> None:
    page = render_html(sample_report())
    summary = page[page.index('id="summary"'):page.index('id="servers"')]
    numbers = re.findall(r'<td class="num[^"]*">(\d+)</td>', summary)
    # hosts, ok, error, vulnerable, compromised, compromise unknown, out of support
    assert numbers == ["4", "3", "1", "1", "1", "2", "1"]


def test_servers_table_and_sections_in_host_order() -> None:
    page = render_html(sample_report())
    servers = page[page.index('id="servers"'):page.index('class="host"')]
    rows = re.findall(r'<a href="#host-(\d)">([^<]+)</a>', servers)
    assert rows == [("1", "edge01"), ("2", "ex13-broken"), ("3", "ex16"), ("4", "ex19")]
    for index in range(1, 5):
        assert f'<section class="host" id="host-{index}">' in page
    assert "<td>15.1.2176.2</td>" in servers and "<td>CU19</td>" in servers
    assert "9 (+1 unknown)" in servers  # ex16: nine vulnerable CVEs, one unknown


def test_error_host_is_not_clean() -> None:
    page = render_html(sample_report())
    section = page[page.index('id="host-2"'):page.index('id="host-3"')]
    assert "Not assessed — not clean." in section
    assert "server.json is not valid JSON: Expecting &#x27;,&#x27; delimiter" in section
    assert 'class="badge c-unknown">unknown<' in section
    assert 'class="badge v-unknown">unknown<' in section


def test_compromised_host_shows_evidence_and_cve_colours() -> None:
    page = render_html(sample_report())
    section = page[page.index('id="host-3"'):page.index('id="host-4"')]
    assert 'class="badge c-yes">yes<' in section
    assert "ServerInfo~a]@ex16.contoso.local:444/autodiscover/autodiscover.xml?#" in section
    assert AUTODISCOVER_LINE in section  # nothing in it needs escaping, so it appears verbatim
    assert WEBSHELL in section
    assert 'Source: C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Logging\\HttpProxy' in section
    assert ", line 8" in section
    assert '<td>CVE-2021-26855</td><td class="st-vulnerable">vulnerable</td>' in section
    assert '<td>CVE-2021-26857</td><td class="st-mitigated">mitigated</td>' in section
    # Patched CVEs are listed in one line, not a row each (a large estate would be all rows).
    assert '<p class="st-patched">Patched (' in section
    assert "product_out_of_support" in section
    assert "Isolate and investigate" in section
    # Worst CVEs first: every vulnerable row comes before the patched summary.
    assert section.rindex("st-vulnerable") < section.index("st-patched")


def test_tolerates_minimal_and_malformed_reports() -> None:
    minimal = {"schema": 1, "generated_at": "2021-03-08T10:00:00Z", "hosts": {"ex01": {
        "status": "ok", "exchange": {}, "cves": {}, "indicators": [],
        "verdict": {"vulnerable": False, "compromised": "no"}}}}
    page = render_html(minimal)
    assert '<a href="#host-1">ex01</a>' in page
    assert "No CVE was evaluated." in page
    broken = {"hosts": {"ex02": {"status": "weird", "exchange": "x", "cves": {"CVE-2021-26855": "fixed"},
                                 "indicators": [None, {"line": True}], "verdict": {"compromised": "no"}}}}
    page = render_html(broken)
    # An unknown status is "not assessed", and then "no" is not believed.
    assert "Not assessed — not clean." in page and 'class="badge c-unknown"' in page
    assert '<td class="st-unknown">unknown</td>' in page
    assert "<h1>Exchange assessment</h1>" in render_html({"hosts": []})
