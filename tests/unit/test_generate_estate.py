"""Tests for tools/generate_estate.py: determinism, exact log headers, synthetic estates, and that the
committed demo estate is exactly what the generator produces (nobody hand-edits evidence)."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

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
        assert not list(bundle.rglob("aspnet_client")), bundle.name
        for path in bundle.rglob("*"):
            if path.is_file():
                text = path.read_text(encoding="utf-8-sig")
                hits = [m for m in markers if m in text]
                assert hits == [], f"{path.relative_to(demo_runs[0])}: {hits}"


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
