"""Tests for tools/generate_estate.py: determinism, exact log headers, synthetic estates, and that the
committed demo estate is exactly what the generator produces (nobody hand-edits evidence)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from datetime import date
from pathlib import Path

import Evtx.Evtx as python_evtx
import pytest
import yaml

from exchange_remediation.event_log import read_channel

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tools") not in sys.path:
    sys.path.insert(0, str(REPO / "tools"))

import generate_estate  # noqa: E402

DEMO = REPO / "inventories" / "demo"
CATALOG = REPO / "data" / "exchange-builds.csv"

# Header blocks copied from the shared reference log-formats.md (not from the generator, so a change in
# the generator cannot silently change what the test expects).
HTTPPROXY_HEADER = (
    "DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,Protocol,UrlHost,"
    "UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,AnchorMailbox,"
    "UserAgent,ClientIpAddress,ServerHostName,HttpStatus,BackEndStatus,ErrorCode,Method,ProxyAction,TargetServer,"
    "TargetServerVersion,RoutingType,RoutingHint,BackEndCookie,ServerLocatorHost,ServerLocatorLatency,"
    "RequestBytes,ResponseBytes,TargetOutstandingRequests,AuthModulePerfContext,HttpPipelineLatency,"
    "CalculateTargetBackEndLatency,GlsLatencyBreakup,TotalGlsLatency,AccountForestLatencyBreakup,"
    "TotalAccountForestLatency,ResourceForestLatencyBreakup,TotalResourceForestLatency,ADLatency,"
    "SharedCacheLatencyBreakup,TotalSharedCacheLatency,ActivityContextLifeTime,ModuleToHandlerSwitchingLatency,"
    "ClientReqStreamLatency,BackendReqInitLatency,BackendReqStreamLatency,BackendProcessingLatency,"
    "BackendRespInitLatency,BackendRespStreamLatency,ClientRespStreamLatency,KerberosAuthHeaderLatency,"
    "HandlerCompletionLatency,RequestHandlerLatency,HandlerToModuleSwitchingLatency,ProxyTime,CoreLatency,"
    "RoutingLatency,HttpProxyOverhead,TotalRequestTime,RouteRefresherLatency,UrlQuery,BackEndGenericInfo,"
    "GenericInfo,GenericErrors,EdgeTraceId,DatabaseGuid,UserADObjectGuid,PartitionEndpointLookupLatency,"
    "RoutingStatus"
)
RPS_CMDLET_HEADER = (
    "DateTime,StartTime,RequestId,ClientRequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,"
    "ServerHostName,ProcessId,ProcessName,ThreadId,CultureInfo,Organization,AuthenticatedUser,ExecutingUserSid,"
    "EffectiveOrganization,UserServicePlan,IsAdmin,ClientApplication,Cmdlet,Parameters,CmdletUniqueId,"
    "UserBudgetOnStart,ContributeToFailFast,RunspaceSettingsCreationHint,ADViewEntireForest,ADRecipientViewRoot,"
    "ADConfigurationDomainControllers,ADPreferredGlobalCatalogs,ADPreferredDomainControllers,"
    "ADUserConfigurationDomainController,ADUserPreferredGlobalCatalog,ADuserPreferredDomainControllers,"
    "ThrottlingInfo,DelayInfo,ThrottlingDelay,IsOutputObjectRedacted,CmdletProxyStage,CmdletProxyRemoteServer,"
    "CmdletProxyRemoteServerVersion,CmdletProxyMethod,ProxiedObjectCount,CmdletProxyLatency,OutputObjectCount,"
    "ParameterBinding,BeginProcessing,ProcessRecord,EndProcessing,StopProcessing,BizLogic,PowerShellLatency,"
    "UserInteractionLatency,ProvisioningLayerLatency,ActivityContextLifeTime,TotalTime,ErrorType,ExecutionResult,"
    "CacheHitCount,CacheMissCount,GenericLatency,GenericInfo,GenericErrors,ObjectGuid,"
    "ExternalDirectoryOrganizationId,ExternalDirectoryObjectId,NonPiiParameters"
)
RPS_HTTP_HEADER = (
    "DateTime,StartTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,UrlHost,"
    "UrlStem,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,ManagedOrganization,"
    "ClientIpAddress,ServerHostName,FrontEndServer,HttpStatus,SubStatus,ErrorCode,Action,CommandId,CommandName,"
    "SessionId,ShellId,FailFast,ContributeToFailFast,RequestBytes,ClientInfo,CPU,Memory,ActivityContextLifeTime,"
    "TotalTime,UrlQuery,GenericLatency,GenericInfo,GenericErrors"
)
ECP_HEADER = "TimeStamp,ServerName,EventId,EventData"
IIS_FIELDS = (
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
    "cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
)

VERSION_RE = r"#Version: \d{2}\.\d{2}\.\d{4}\.\d{3}"
DATE_RE = r"#Date: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def layout_b(log_type: str, header: str) -> list[str]:
    """Regexes for the first six lines of a Layout B Exchange log (bare header, then directives)."""
    return [
        re.escape(header),
        re.escape("#Software: Microsoft Exchange Server"),
        VERSION_RE,
        re.escape(f"#Log-type: {log_type}"),
        DATE_RE,
        re.escape(f"#Fields: {header}"),
    ]


# (path pattern, expected first lines as regexes, field count of data rows, CSV or W3C)
LOG_TYPES: list[tuple[str, list[str], int | None, str]] = [
    (
        r"/Logging/HttpProxy/[A-Za-z]+/HttpProxy_\d{10}-\d+\.LOG$",
        layout_b("HttpProxy Logs", HTTPPROXY_HEADER),
        74,
        "csv",
    ),
    (
        r"/Logging/CmdletInfra/Powershell-Proxy/Cmdlet/Rps_Cmdlet_\d{10}-\d+\.LOG$",
        layout_b("Rps Cmdlet Logs", RPS_CMDLET_HEADER),
        67,
        "csv",
    ),
    (
        r"/Logging/CmdletInfra/Powershell-Proxy/Http/Rps_Http_\d{10}-\d+\.LOG$",
        layout_b("Rps Http Logs", RPS_HTTP_HEADER),
        38,
        "csv",
    ),
    (
        r"/Logging/ECP/Server/ECPServer\d{8}-\d+\.LOG$",
        [
            re.escape("#Software: Microsoft Exchange Server"),
            re.escape("#Version: 15.0.0.0"),
            re.escape("#Log-type: ECP Server Log"),
            DATE_RE,
            re.escape(f"#Fields: {ECP_HEADER}"),
        ],
        4,
        "csv",
    ),
    # The OAB generator's field list is unpublished: only the common directive block is fixed.
    (
        r"/Logging/OABGeneratorLog/[^/]+\.LOG$",
        [
            re.escape("#Software: Microsoft Exchange Server"),
            VERSION_RE,
            r"#Log-type: .+",
            DATE_RE,
            r"#Fields: .+",
        ],
        None,
        "csv",
    ),
    (
        r"/inetpub/logs/LogFiles/W3SVC\d+/u_ex\d{6}\.log$",
        [
            r"#Software: Microsoft Internet Information Services (7\.5|8\.5|10\.0)",
            re.escape("#Version: 1.0"),
            r"#Date: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
            re.escape(IIS_FIELDS),
        ],
        15,
        "w3c",
    ),
]


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and (path.name == "hosts.yml" or "evidence" in path.relative_to(root).parts)
    }


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("demo_a"), tmp_path_factory.mktemp("demo_b")
    assert generate_estate.main(["demo", "--out", str(first)]) == 0
    assert generate_estate.main(["demo", "--out", str(second)]) == 0
    return first, second


@pytest.fixture(scope="module")
def synthetic_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("syn_a"), tmp_path_factory.mktemp("syn_b")
    for out in (first, second):
        assert generate_estate.main(["synthetic", "--hosts", "23", "--out", str(out), "--seed", "5"]) == 0
    return first, second


def test_demo_generation_is_byte_identical(demo_runs: tuple[Path, Path]) -> None:
    first, second = tree(demo_runs[0]), tree(demo_runs[1])
    assert len(first) > 100
    assert sorted(first) == sorted(second)
    changed = [name for name in first if first[name] != second[name]]
    assert changed == []


def test_synthetic_generation_is_byte_identical_per_seed(
    synthetic_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    assert tree(synthetic_runs[0]) == tree(synthetic_runs[1])
    generate_estate.main(["synthetic", "--hosts", "23", "--out", str(tmp_path), "--seed", "6"])
    assert tree(tmp_path) != tree(synthetic_runs[0])


def test_committed_demo_equals_fresh_generation(demo_runs: tuple[Path, Path]) -> None:
    fresh = tree(demo_runs[0])
    committed = tree(DEMO)
    hint = "regenerate with: python tools/generate_estate.py demo"
    assert sorted(committed) == sorted(fresh), hint
    assert [name for name in fresh if committed[name] != fresh[name]] == [], hint


def classify(relative: str) -> tuple[str, list[str], int | None, str] | None:
    for pattern, lines, count, kind in LOG_TYPES:
        if re.search(pattern, relative):
            return pattern, lines, count, kind
    return None


def log_files(root: Path) -> list[Path]:
    return [
        p
        for p in sorted((root / "evidence").rglob("*"))
        if p.is_file() and ("/Logging/" in p.as_posix() or "/LogFiles/" in p.as_posix())
    ]


@pytest.mark.parametrize("which", ["demo", "synthetic"])
def test_every_log_starts_with_its_exact_header_block(
    which: str, demo_runs: tuple[Path, Path], synthetic_runs: tuple[Path, Path]
) -> None:
    root = demo_runs[0] if which == "demo" else synthetic_runs[0]
    files = log_files(root)
    assert files
    seen_types = set()
    for path in files:
        relative = path.relative_to(root).as_posix()
        found = classify("/" + relative)
        assert found is not None, f"unclassified log file {relative}: add its header to LOG_TYPES"
        pattern, expected, count, kind = found
        seen_types.add(pattern)
        raw = path.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        assert b"\xef\xbb\xbf" not in raw, relative
        text = raw.decode("utf-8")
        # Windows writes these logs with CRLF line ends: no bare LF anywhere.
        assert text.endswith("\r\n") and text.count("\n") == text.count("\r\n"), relative
        lines = text.split("\r\n")[:-1]
        for index, regex in enumerate(expected):
            assert re.fullmatch(regex, lines[index]), f"{relative} line {index + 1}: {lines[index]!r}"
        for number, line in enumerate(lines[len(expected) :], start=len(expected) + 1):
            if line.startswith("#"):
                continue
            fields = next(csv.reader([line])) if kind == "csv" else line.split(" ")
            if count is not None:
                assert len(fields) == count, f"{relative} line {number}: {len(fields)} fields"
    if which == "demo":
        assert len(seen_types) == len(LOG_TYPES), "the demo estate should contain every log type"


def test_log_rows_are_ordered_and_not_after_collection(demo_runs: tuple[Path, Path]) -> None:
    root = demo_runs[0]
    for bundle in sorted((root / "evidence").iterdir()):
        if bundle.name == "ex-damaged":
            continue
        collected = json.loads((bundle / "server.json").read_text())["collected_at"]
        for path in log_files(bundle.parent.parent):
            if bundle.name not in path.parts:
                continue
            stamps = []
            for line in path.read_text(encoding="utf-8-sig").splitlines():
                if re.match(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d", line):
                    stamps.append(line[:19].replace(" ", "T"))
            assert stamps == sorted(stamps), path
            assert not stamps or stamps[-1] <= collected[:19], path


def catalog_builds() -> set[str]:
    with CATALOG.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {r["update_build"] or r["cu_build"] for r in rows} | {r["cu_build"] for r in rows}


def normalise(version: str) -> str:
    return ".".join(str(int(part)) for part in version.split("."))


def test_synthetic_estate_has_n_hosts_with_valid_server_json(synthetic_runs: tuple[Path, Path]) -> None:
    root = synthetic_runs[0]
    inventory = yaml.safe_load((root / "hosts.yml").read_text())
    exchange = inventory["all"]["children"]["exchange"]
    assert exchange["vars"]["ansible_connection"] == "local"
    hosts: dict[str, str] = {}
    for group, body in exchange["children"].items():
        members = body["hosts"]
        if group.startswith("dag"):
            assert 2 <= len(members) <= 4, group
        for name, variables in members.items():
            hosts[name] = group
            assert variables["exchange_evidence_dir"] == "{{ inventory_dir }}/evidence/" + name
    assert len(hosts) == 23
    assert sorted(p.name for p in (root / "evidence").iterdir()) == sorted(hosts)
    known = catalog_builds()
    for name, group in hosts.items():
        doc = json.loads((root / "evidence" / name / "server.json").read_text(encoding="utf-8"))
        assert doc["schema"] == 1
        assert doc["hostname"] == name.upper()
        assert doc["fqdn"].endswith(".contoso.local")
        assert normalise(doc["exchange"]["exsetup_version"]) in known, name
        if group.startswith("dag"):
            assert doc["exchange"]["dag"].lower() == group
        if group == "edge":
            assert doc["exchange"]["roles"] == ["EdgeTransport"]


# What inventories/demo/README.md promises about each demo server.
DEMO_BUILDS = {
    "ex19-dag1": ("15.02.1544.014", "DAG01"),
    "ex19-dag2": ("15.2.1544.44", "DAG01"),
    "ex19-dag3": ("15.02.1748.049", "DAG01"),
    "ex16-legacy": ("15.01.2176.002", None),
    "ex16-patched": ("15.1.2507.72", None),
    "ex16-mitigated": ("15.01.2106.002", None),
    "ex13": ("15.00.1497.048", None),
    "exse01": ("15.2.2562.46", None),
    "edge01": ("15.02.1748.043", None),
    "ex10": ("14.03.0513.000", None),
    "ex19-unknown": ("15.2.1544.99", None),
}


def test_demo_servers_are_what_the_readme_says(demo_runs: tuple[Path, Path]) -> None:
    root = demo_runs[0] / "evidence"
    assert sorted(p.name for p in root.iterdir()) == sorted([*DEMO_BUILDS, "ex-damaged"])
    known = catalog_builds()
    for name, (version, dag) in DEMO_BUILDS.items():
        doc = json.loads((root / name / "server.json").read_text(encoding="utf-8"))
        assert doc["hostname"] == name.upper()
        assert doc["exchange"]["exsetup_version"] == version
        assert doc["exchange"]["dag"] == dag
        in_catalog = normalise(version) in known
        assert in_catalog == (name not in ("ex10", "ex19-unknown")), name
        for package in doc["exchange"]["installed_updates"]:
            assert re.search(r"\(KB\d{7}\)$", package["package"]), package
            assert package["installed"] < doc["collected_at"][:10]
    mitigated = json.loads((root / "ex16-mitigated" / "server.json").read_text())
    assert mitigated["iis"]["rewrite_rules"] == [
        "X-AnonResource-Backend Abort - inbound",
        "X-BEResource Abort - inbound",
    ]
    legacy = json.loads((root / "ex16-legacy" / "server.json").read_text())
    assert legacy["collected_at"].startswith("2021-03-09")
    assert legacy["endpoint_protection"] == {
        "product": "Microsoft Defender Antivirus",
        "real_time": False,
        "signature_age_days": 40,
    }
    edge = json.loads((root / "edge01" / "server.json").read_text())
    assert edge["exchange"]["roles"] == ["EdgeTransport"]
    with pytest.raises(json.JSONDecodeError):
        json.loads((root / "ex-damaged" / "server.json").read_text())
    # The damaged bundle still carries logs: only its server.json is broken.
    assert any("ex-damaged" in p.parts for p in log_files(demo_runs[0]))


def test_demo_event_logs(demo_runs: tuple[Path, Path]) -> None:
    root = demo_runs[0] / "evidence"
    names = {p.name for p in root.glob("*/eventlogs/*.jsonl")}
    assert "MSExchange Management.jsonl" in names
    assert "Microsoft-Windows-Windows Defender%4Operational.jsonl" in names
    # Exactly one exported .evtx in the estate (ex16-legacy, see the next test).
    assert [p.relative_to(root).as_posix() for p in root.glob("*/eventlogs/*.evtx")] == [
        "ex16-legacy/eventlogs/MSExchange Management.evtx"
    ]
    for path in root.glob("*/eventlogs/*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            assert set(event) == {
                "TimeCreated",
                "Id",
                "ProviderName",
                "LevelDisplayName",
                "Message",
                "Properties",
            }
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", event["TimeCreated"])
            assert isinstance(event["Properties"], list)


def test_ex16_legacy_management_log_is_a_real_evtx(demo_runs: tuple[Path, Path]) -> None:
    """The MSExchange Management channel of ex16-legacy exists only as an exported .evtx: the PS-EXPORT
    oab-script event is found only by reading it. It holds the events the .jsonl form would hold."""
    bundle = demo_runs[0] / "evidence" / "ex16-legacy"
    path = bundle / "eventlogs" / "MSExchange Management.evtx"
    assert not (bundle / "eventlogs" / "MSExchange Management.jsonl").exists()
    with python_evtx.Evtx(str(path)) as log:
        assert log.get_file_header().verify()
        assert all(chunk.verify() for chunk in log.chunks())
    result = read_channel(str(bundle), "MSExchange Management")
    assert result is not None and result.warnings == []
    assert result.files == ["eventlogs/MSExchange Management.evtx"]
    # Regenerate the same events the generator's .jsonl writer would have written.
    catalog = generate_estate.Catalog.load(CATALOG)
    specs = generate_estate.demo_specs()
    spec = next(s for s in specs if s.name == "ex16-legacy")
    org = generate_estate.build_org(generate_estate.DEMO_SEED)
    ctx = generate_estate.make_context(spec, org, catalog, generate_estate.DEMO_SEED, specs)
    events = generate_estate.management_events(ctx) + generate_estate.proxylogon(ctx).management
    events.sort(key=lambda e: (e.time, e.id))
    assert [{k: v for k, v in e.items() if k not in ("Level", "RecordId")} for e in result.events] == [
        json.loads(e.json()) for e in events
    ]
    scripts = [
        e
        for e in result.events
        if e["Properties"][0] == "Set-OabVirtualDirectory" and "eval(Request" in e["Properties"][1]
    ]
    assert [e["TimeCreated"] for e in scripts] == ["2021-03-03T06:49:53.7900000Z"]
    assert scripts[0]["Message"].startswith("Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory, parameters ")


def test_proxylogon_story_on_ex16_legacy(demo_runs: tuple[Path, Path]) -> None:
    bundle = demo_runs[0] / "evidence" / "ex16-legacy"
    shells = list((bundle / "files/C/inetpub/wwwroot/aspnet_client/system_web").glob("*.aspx"))
    assert len(shells) == 1 and re.fullmatch(r"[A-Za-z0-9]{8}\.aspx", shells[0].name)
    shell = shells[0].read_text()
    for marker in (
        '<script language="JScript" runat="server">',
        "eval(Request",
        "ExternalUrl",
        "InternalAuthenticationMethods",
        "ExtendedProtectionTokenChecking",
    ):
        assert marker in shell
    logging = bundle / "files/C/Program Files/Microsoft/Exchange Server/V15/Logging"
    proxy = "".join(p.read_text(encoding="utf-8-sig") for p in (logging / "HttpProxy").rglob("*.LOG"))
    assert "ServerInfo~a]@ex16-legacy.contoso.local:444/ecp/proxyLogon.ecp?#" in proxy
    assert "schema=ResetOABVirtualDirectory#" in proxy
    assert "ServerInfo~localhost/ecp/default.flt?" in proxy
    assert (logging / "HttpProxy/Ecp/HttpProxy_2021030400-1.LOG").is_file()
    ecp = (logging / "ECP/Server/ECPServer20210303-1.LOG").read_text(encoding="utf-8-sig")
    assert re.search(r"Set-.+VirtualDirectory.+?(?=Url).+<\w+.*>(.*?)</\w+>.+?(?=VirtualDirectory)", ecp)
    oab = "".join(p.read_text(encoding="utf-8-sig") for p in (logging / "OABGeneratorLog").iterdir())
    assert f"temporary file 'C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\{shells[0].name}'" in oab
    iis = (bundle / "files/C/inetpub/logs/LogFiles/W3SVC1/u_ex210303.log").read_text()
    assert " POST /ecp/y.js " in iis and " POST /aspnet_client/shell.aspx " in iis
    application = (bundle / "eventlogs/Application.jsonl").read_text()
    assert "MSExchange Unified Messaging" not in application


def test_benign_servers_carry_no_attack_markers(demo_runs: tuple[Path, Path]) -> None:
    markers = [
        "ServerInfo~",
        "antSword",
        "InvalidCastException",
        "ExchangeServicesClient/0.0.0.0",
        "python-requests",
        "eval(Request",
        "/aspnet_client/",
    ]
    for bundle in sorted((demo_runs[0] / "evidence").iterdir()):
        if bundle.name == "ex16-legacy":
            continue
        # No file under aspnet_client: only the empty folders ASP.NET creates, in listing.jsonl.
        assert not list(bundle.rglob("aspnet_client")), bundle.name
        listing = bundle / "listing.jsonl"
        if listing.exists():
            for entry in map(json.loads, listing.read_text().splitlines()):
                if "\\aspnet_client" in entry["path"]:
                    assert entry["type"] == "dir", entry
        for path in bundle.rglob("*"):
            if path.is_file():
                lines = path.read_text(encoding="utf-8-sig").splitlines()
                if bundle.name == "ex16-patched":
                    # The refused ProxyShell/ProxyNotShell requests (next test) are python-requests.
                    lines = [line for line in lines if not ("python-requests" in line and "evil.example" in line)]
                text = "\n".join(lines)
                hits = [m for m in markers if m in text]
                assert hits == [], f"{path.relative_to(demo_runs[0])}: {hits}"


# The refused attempts planted on ex16-patched (README "ex16-patched: exploitation attempts").
ATTEMPTS = [
    (
        "2026-11-12 03:17:41",
        "POST",
        "@evil.example/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.example",
        "192.0.2.45",
        "400",
    ),
    (
        "2026-11-12 03:17:44",
        "POST",
        "@evil.example/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBBUJhc2lj"
        "&Email=autodiscover/autodiscover.json%3F@evil.example",
        "192.0.2.45",
        "401",
    ),
    (
        "2026-11-18 22:41:09",
        "GET",
        "%40evil.example/%50owershell/&Email=autodiscover/autodiscover.json%3F%40evil.example",
        "192.0.2.91",
        "401",
    ),
    (
        "2026-11-20 05:02:33",
        "GET",
        "@test.com/owa/?&Email=autodiscover/autodiscover.json%3F@test.com",
        "192.0.2.200",
        "400",
    ),
]


def test_exploitation_attempts_on_the_patched_server(demo_runs: tuple[Path, Path]) -> None:
    bundle = demo_runs[0] / "evidence" / "ex16-patched"
    iis_rows = []
    for path in sorted((bundle / "files/C/inetpub/logs/LogFiles/W3SVC1").glob("u_ex*.log")):
        iis_rows += [line.split(" ") for line in path.read_text().splitlines() if not line.startswith("#")]
    proxy_rows = []
    logging = bundle / "files/C/Program Files/Microsoft/Exchange Server/V15/Logging"
    for path in sorted((logging / "HttpProxy").rglob("*.LOG")):
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        data = [line for line in lines if not line.startswith(("#", "DateTime,"))]
        reader = csv.DictReader(data, fieldnames=HTTPPROXY_HEADER.split(","))
        proxy_rows += [dict(row, folder=path.parent.name) for row in reader]
    suspicious = [r for r in iis_rows if r[4] == "/autodiscover/autodiscover.json" and "autodiscover.json%3F" in r[5]]
    assert len(suspicious) == len(ATTEMPTS)
    for row, (moment, method, query, ip, status) in zip(suspicious, ATTEMPTS, strict=True):
        # Shaped like log-formats.md §7: the "@..." part in cs-uri-query, Exchange's items appended.
        assert f"{row[0]} {row[1]}" == moment and (row[3], row[8], row[11]) == (method, ip, status)
        assert re.fullmatch(
            re.escape(query) + r"(&ClientId=[0-9A-F]{32})?&CorrelationID=<empty>;&cafeReqId=[0-9a-f-]{36};", row[5]
        ), row[5]
        assert row[7] == "-", "refused before authentication"
        request_id = row[5].rsplit("cafeReqId=", 1)[1].rstrip(";")
        (proxied,) = [r for r in proxy_rows if r["RequestId"] == request_id]
        assert proxied["folder"] == "Autodiscover" and proxied["UrlStem"] == "/autodiscover/autodiscover.json"
        assert (proxied["UrlQuery"], proxied["HttpStatus"], proxied["ClientIpAddress"]) == (f"?{query}", status, ip)
        assert proxied["TargetServer"] == "" and proxied["BackEndStatus"] == ""
    assert "&ClientId=" in suspicious[-1][5] and suspicious[-1][9] == "Mozilla/5.0+zgrab/0.x"
    # Nothing got through: no successful path-confusion request, no backend PowerShell session.
    assert not [r for r in iis_rows if "Email=autodiscover" in r[5] and r[11] in ("200", "301", "302")]
    rps = logging / "CmdletInfra/Powershell-Proxy/Http"
    assert all("autodiscover" not in p.read_text(encoding="utf-8-sig") for p in rps.glob("*.LOG"))


# Exchange 2013+ Mailbox servers carry their web folders as an incident responder copies them.
WEB_SERVERS = sorted(set(DEMO_BUILDS) - {"edge01", "ex10"} | {"ex-damaged"})


def test_web_folders_and_listing(demo_runs: tuple[Path, Path]) -> None:
    root = demo_runs[0] / "evidence"
    assert sorted(p.parent.name for p in root.glob("*/listing.jsonl")) == WEB_SERVERS
    for name in WEB_SERVERS:
        bundle = root / name
        raw = (bundle / "listing.jsonl").read_bytes()
        assert raw.endswith(b"\n") and b"\r" not in raw
        entries = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
        paths = [e["path"] for e in entries]
        assert paths == sorted(paths, key=lambda p: (p.lower(), p)) and len(set(paths)) == len(paths)
        text = (bundle / "server.json").read_text()
        install = re.search(r'"install_path": "(.+?)"', text).group(1).replace("\\\\", "\\")
        proxy = install + "FrontEnd\\HttpProxy"
        build = re.search(r'"exsetup_version": "(.+?)"', text).group(1)
        build = ".".join(str(int(part)) for part in build.split("."))
        dirs = {e["path"] for e in entries if e["type"] == "dir"}
        # The folders git cannot hold (empty) are in the listing only.
        for folder in (f"{proxy}\\OAB", "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\4_0_30319"):
            assert folder in dirs, (name, folder)
            assert not (bundle / generate_estate.windows_to_bundle(folder)).exists()
        assert f"{proxy}\\owa\\auth\\{build}\\themes\\resources" in dirs
        files = {e["path"]: e for e in entries if e["type"] == "file"}
        pages = {p for p in files if p.startswith(f"{proxy}\\owa\\auth\\") and p.count("\\") == proxy.count("\\") + 3}
        assert {p.rsplit("\\", 1)[1] for p in pages} == {
            "errorFE.aspx",
            "ExpiredPassword.aspx",
            "frowny.aspx",
            "GetIdToken.htm",
            "logoff.aspx",
            "logon.aspx",
            "OutlookCN.aspx",
            "RedirSuiteServiceProxy.aspx",
            "signout.aspx",
        }
        assert f"{proxy}\\owa\\auth\\{build}\\scripts\\premium\\flogon.js" in files
        assert f"{proxy}\\ecp\\auth\\TimeoutLogoff.aspx" in files
        # Every listed file is in the bundle with that size and hash, and every copied web file is listed.
        for path, entry in files.items():
            data = (bundle / generate_estate.windows_to_bundle(path)).read_bytes()
            assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
            assert entry["copied"] is True and entry["truncated"] is False
        copied = {
            p.relative_to(bundle).as_posix()
            for p in bundle.rglob("*")
            if p.is_file() and re.search(r"/(HttpProxy/(owa|ecp)/auth|HttpProxy/OAB|aspnet_client)/", p.as_posix())
        }
        assert copied == {generate_estate.windows_to_bundle(p) for p in files}
        for entry in entries:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["modified"])
            assert entry["modified"] < re.search(r'"collected_at": "(.+?)"', text).group(1)
    # ex19-dag3 is installed on D:, ex16-legacy's listing includes the planted page.
    assert '"path":"D:\\\\Exchange Server\\\\V15\\\\FrontEnd\\\\HttpProxy\\\\OAB"' in (
        root / "ex19-dag3" / "listing.jsonl"
    ).read_text()
    legacy = [json.loads(line) for line in (root / "ex16-legacy" / "listing.jsonl").read_text().splitlines()]
    shells = [e for e in legacy if re.search(r"\\system_web\\[A-Za-z0-9]{8}\.aspx$", e["path"])]
    assert [e["modified"] for e in shells] == ["2021-03-03T06:50:08Z"]


# exchange.installed_on per server (README "Servers"); the year is what the README promises.
INSTALLED_ON = {
    "ex19-dag1": "2022",
    "ex19-dag2": "2022",
    "ex19-dag3": "2022",
    "ex16-legacy": "2019-05-14",
    "ex16-patched": "2018",
    "ex16-mitigated": "2018",
    "ex13": "2016",
    "exse01": "2025-09-02",
    "edge01": "2023",
    "ex10": "2013",
    "ex19-unknown": "2024",
}


def test_every_server_says_when_exchange_was_installed(demo_runs: tuple[Path, Path]) -> None:
    root = demo_runs[0] / "evidence"
    for name, prefix in INSTALLED_ON.items():
        doc = json.loads((root / name / "server.json").read_text())
        installed = doc["exchange"]["installed_on"]
        assert installed.startswith(prefix) and date.fromisoformat(installed), name
        assert installed < doc["collected_at"][:10]
        # Installed before any update package of its current CU.
        assert all(installed <= package["installed"] for package in doc["exchange"]["installed_updates"]), name
    # The damaged copy is cut after it, so the key is still readable as text.
    assert '"installed_on": "2024-' in (root / "ex-damaged" / "server.json").read_text()


def test_readme_size_matches_the_generated_estate(demo_runs: tuple[Path, Path]) -> None:
    files = tree(demo_runs[0])
    megabytes = sum(len(data) for data in files.values()) / 1_000_000
    readme = (DEMO / "README.md").read_text(encoding="utf-8")
    assert f"{len(files)} files, {megabytes:.1f} MB" in readme


def test_channel_file_names() -> None:
    assert generate_estate.channel_file("MSExchange Management") == "eventlogs/MSExchange Management.jsonl"
    assert (
        generate_estate.channel_file("Microsoft-Windows-Windows Defender/Operational")
        == "eventlogs/Microsoft-Windows-Windows Defender%4Operational.jsonl"
    )


def test_windows_paths_map_into_files() -> None:
    assert (
        generate_estate.windows_to_bundle("C:\\inetpub\\wwwroot\\x.aspx") == "files/C/inetpub/wwwroot/x.aspx"
    )
    assert (
        generate_estate.windows_to_bundle("d:\\Exchange Server\\V15\\a.log")
        == "files/D/Exchange Server/V15/a.log"
    )


def test_generator_writes_no_stale_files(tmp_path: Path) -> None:
    stale = tmp_path / "evidence" / "old-host" / "server.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    generate_estate.main(["synthetic", "--hosts", "3", "--out", str(tmp_path), "--seed", "1"])
    assert not stale.exists() and not stale.parent.exists()
