"""IIS W3C logs: '#Fields' blocks that change mid-file, '-' as empty, UTC date and time (iis_w3c_log.py)."""

from test_exchange_csv_log import IIS_FIELDS, IIS_ROWS, TOKENS

from exchange_remediation.iis_w3c_log import IisRowParser, W3cFields, W3cLayout

HEAD = [
    "#Software: Microsoft Internet Information Services 10.0",
    "#Version: 1.0",
    "#Date: 2021-03-03 00:00:00",
    IIS_FIELDS,
]
# After an iisreset the new block adds cs-bytes and sc-bytes in the middle of the field list.
SECOND_FIELDS = (
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
    "cs(Referer) sc-status sc-substatus sc-win32-status sc-bytes cs-bytes time-taken"
)


def _directives(lines):
    return [(number, line.encode()) for number, line in enumerate(lines, 1) if line.startswith("#")]


def _parser(lines, default=None, page_on_disk=None):
    return IisRowParser(W3cLayout.from_directives(_directives(lines)), TOKENS, default, page_on_disk)


def test_row_under_the_default_exchange_fields():
    lines = [*HEAD, IIS_ROWS[4]]
    record, time = _parser(lines).record(5, IIS_ROWS[4])
    assert time == "2021-03-03T06:49:46Z"
    assert record.get("cs-uri-stem") == "/ecp/y.js"
    assert record.get("sc-status") == "241"
    assert record.get("cs(user-agent)") == "python-requests/2.25.1"
    # '-' is empty.
    assert record.get("cs-username") == ""
    assert record.get("cs(Referer)") == ""
    assert record.get("uri").startswith("/ecp/y.js?&CorrelationID=<empty>;&cafeReqId=0b9e4c2d")
    assert record.get("line") == IIS_ROWS[4]


def test_uri_without_query_and_page_on_disk():
    asked = []
    lines = [*HEAD, IIS_ROWS[14], IIS_ROWS[6]]
    parser = _parser(lines, page_on_disk=lambda stem: asked.append(stem) or stem.endswith(".aspx"))
    record, time = parser.record(5, IIS_ROWS[14])
    assert time == "2022-12-06T02:41:18Z"
    assert record.get("cs-uri-query") == ""
    assert record.get("uri") == "/powershell"
    assert record.get("page_on_disk") == "false"
    record, _time = parser.record(6, IIS_ROWS[6])
    assert record.get("page_on_disk") == "true"
    assert asked == ["/powershell", "/owa/auth/RedirSuiteServerProxy.aspx"]


def test_second_directive_block_with_changed_fields():
    changed = (
        "2021-03-03 19:30:05 10.0.10.11 POST /aspnet_client/system_web/x.aspx - 443 - 203.0.113.9 "
        "antSword/v2.1 - 200 0 0 512 1024 15"
    )
    lines = [
        *HEAD,
        IIS_ROWS[3],
        "#Software: Microsoft Internet Information Services 10.0",
        "#Version: 1.0",
        "#Date: 2021-03-03 19:30:04",
        SECOND_FIELDS,
        changed,
    ]
    parser = _parser(lines)
    before, _time = parser.record(5, IIS_ROWS[3])
    assert before.get("time-taken") == "121"
    assert before.get("sc-bytes") == ""
    after, time = parser.record(10, changed)
    assert time == "2021-03-03T19:30:05Z"
    assert after.get("sc-bytes") == "512"
    assert after.get("cs-bytes") == "1024"
    assert after.get("time-taken") == "15"
    assert parser.fields_at(9).line == 4
    assert parser.fields_at(10).line == 9
    assert parser.layout.at(10).line == 9
    assert parser.layout.date_at(10) == "2021-03-03"


def test_rows_before_any_fields_line():
    lines = [IIS_ROWS[0], *HEAD]
    assert _parser(lines).record(1, IIS_ROWS[0]) is None
    default = W3cFields.parse(IIS_FIELDS)
    record, time = _parser(lines, default=default).record(1, IIS_ROWS[0])
    assert record.get("cs-method") == "GET"
    assert time == "2021-03-01T08:14:02Z"


def test_time_from_the_date_directive_without_a_date_column():
    lines = ["#Date: 2021-03-05 00:00:00", "#Fields: time c-ip cs-uri-stem", "03:06:27 198.51.100.199 /owa/"]
    parser = _parser(lines)
    record, time = parser.record(3, lines[2])
    assert time == "2021-03-05T03:06:27Z"
    assert record.get("c-ip") == "198.51.100.199"
    assert parser.time_of(3, lines[2]) == "2021-03-05T03:06:27Z"


def test_short_and_long_rows():
    lines = [*HEAD, "2021-03-03 06:49:42 10.0.10.11 POST", "2021-03-03 06:49:42 a b c d e f g h i j k l m extra1"]
    parser = _parser(lines)
    short, _time = parser.record(5, lines[4])
    assert short.get("cs-method") == "POST"
    assert short.get("cs-uri-stem") == ""
    assert short.get("uri") == ""
    long, _time = parser.record(6, lines[5])
    assert long.get("extra") == ["extra1"]


def test_junk_time_is_none():
    lines = [*HEAD, "garbage\x00 line"]
    parser = _parser(lines)
    _record, time = parser.record(5, lines[4])
    assert time is None
    assert parser.time_of(5, lines[4]) is None
