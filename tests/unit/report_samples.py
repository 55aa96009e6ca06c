"""A realistic report.json (format version 1, extended) shared by the report writer tests.

Four hosts:
- ex16: Exchange 2016 CU19 without SU, hit by ProxyLogon in March 2021 (HttpProxy lines,
  OAB generator write, web shell in aspnet_client) -> vulnerable and compromised;
- ex19: Exchange 2019 CU15 May25HU, fully patched, nothing found;
- ex13-broken: evidence bundle with a damaged server.json -> status error;
- edge01: Edge Transport whose IIS log line carries hostile text (markup, a pipe, a CDATA end
  and a BEL control character) and whose logs are too short to rule out compromise.
"""

from __future__ import annotations

import copy
from typing import Any

HOSTILE_DETAIL = (
    "2025-06-01 03:12:44 10.0.20.5 GET /autodiscover/autodiscover.json "
    "@evil.example/owa/?&Email=autodiscover/autodiscover.json%3F@evil.example&Protocol=Powershell "
    "443 - 198.51.100.7 Mozilla/5.0+<script>alert(1)</script>| pipe ]]> `tick` \x07 - 404 0 0 15"
)
AUTODISCOVER_LINE = (
    "2021-03-03T06:49:42.162Z,8d2b6f1e-3c4a-4f5b-9e7d-1a2b3c4d5e6f,15,1,2176,2,,Ecp,mail.contoso.com,/ecp/y.js,,,"
    "false,,,ServerInfo~a]@ex16.contoso.local:444/autodiscover/autodiscover.xml?#,ExchangeServicesClient/0.0.0.0,"
    "203.0.113.45,EX16,200,200,,POST,Proxy,ex16.contoso.local:444,,,X-BEResource-Cookie"
)
PROXYLOGON_LINE = (
    "2021-03-03T06:49:46.210Z,0b9e4c2d-7f1a-4e3b-8c5d-6a7b8c9d0e1f,15,1,2176,2,,Ecp,mail.contoso.com,/ecp/y.js,,,"
    "false,,,ServerInfo~a]@ex16.contoso.local:444/ecp/proxyLogon.ecp?#,python-requests/2.25.1,"
    "203.0.113.45,EX16,241,241,,POST,Proxy,ex16.contoso.local:444,,,X-BEResource-Cookie"
)
WEBSHELL = "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\x.aspx"
EXCHANGE_LOGGING = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Logging\\"
HTTPPROXY_LOG = EXCHANGE_LOGGING + "HttpProxy\\Ecp\\HttpProxy_2021030306-1.LOG"
OABGEN_LOG = EXCHANGE_LOGGING + "OABGeneratorLog\\OABGenerator_2021030307-1.LOG"


def _cve(status: str, fixed_by: str | None, reason: str) -> dict[str, Any]:
    return {"status": status, "fixed_by": fixed_by, "reason": reason}


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
        "indicators": [
            {"rule": "PL-26855-BLOG", "cve": "CVE-2021-26855", "severity": "medium", "source": HTTPPROXY_LOG,
             "line": 7, "time": "2021-03-03T06:49:42.162Z", "detail": AUTODISCOVER_LINE},
            {"rule": "PL-26855-HTTPPROXY", "cve": "CVE-2021-26855", "severity": "critical",
             "source": HTTPPROXY_LOG, "line": 8, "time": "2021-03-03T06:49:46.210Z",
             "detail": PROXYLOGON_LINE},
            {"rule": "PL-26858-OABGEN", "cve": "CVE-2021-26858", "severity": "critical", "source": OABGEN_LOG,
             "line": 31, "time": "2021-03-03T06:51:02.000Z",
             "detail": f"Download failed and temporary file '{WEBSHELL}' needs to be removed"},
            {"rule": "PL-WEBSHELL-ASPNET-CLIENT", "cve": None, "severity": "critical", "source": WEBSHELL,
             "line": None, "time": "2021-03-03T06:51:03Z",
             "detail": "ASPX file in aspnet_client (nothing legitimate lives there); SHA-256 "
                       "893cd3583b49cb706b3e55ecb2ed0757b977a21f5c72e041392d1256f31166e2"},
        ],
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
        "verdict": {"vulnerable": False, "compromised": "no"},
        "next_step": {"action": "none", "target_cu": "CU15", "target_su": "May25HU",
                      "target_build": "15.2.1748.26",
                      "summary": "Up to date (CU15 May25HU); keep applying new SUs as they ship."},
        "warnings": [],
    }


def _ex13_broken() -> dict[str, Any]:
    reason = "server.json is not valid JSON: Expecting ',' delimiter: line 14 column 5 (char 412)"
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
        "verdict": {"vulnerable": None, "compromised": "unknown"},
        "next_step": {"action": "investigate", "target_cu": None, "target_su": None, "target_build": None,
                      "summary": f"Not assessed: {reason}. Collect the server's facts again; "
                                 "until then treat it as exposed."},
        "warnings": [],
    }


def _edge01() -> dict[str, Any]:
    details = {
        "CVE-2021-26855": _cve("patched", "Mar21SU", "2019 CU14 contains Mar21SU"),
        "CVE-2021-1730": _cve("not_applicable", None, "Edge Transport has no OWA"),
        "CVE-2023-36434": _cve("unknown", None, "IIS TokenCacheModule version not collected"),
        "CVE-2025-53786": _cve("patched", "Apr25HU", "15.2.1544.25 >= Apr25HU 15.2.1544.25"),
    }
    return {
        "status": "ok",
        "error": None,
        "source": "live",
        "evidence_dir": "evidence/20250610T093000Z/edge01",
        "hostname": "EDGE01<b>|`x`",
        "fqdn": "edge01.dmz.contoso.local",
        "collected_at": "2025-06-10T09:29:40Z",
        "exchange": {
            "product": "Exchange Server 2019", "cu": "CU14", "su": "Apr25HU", "build": "15.2.1544.25",
            "supported": True, "latest": False, "support_end": "2025-10-14", "roles": ["Edge"],
            "edge": True, "dag": None, "site": None, "build_note": None,
        },
        "cves": {cve: detail["status"] for cve, detail in details.items()},
        "cve_details": details,
        "indicators": [
            {"rule": "PNS-IIS-AUTODISCOVER", "cve": "CVE-2022-41040", "severity": "low",
             "source": "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex250601.log", "line": 42,
             "time": "2025-06-01T03:12:44Z", "detail": HOSTILE_DETAIL},
        ],
        "verdict": {"vulnerable": False, "compromised": "unknown"},
        "next_step": {"action": "install_su", "target_cu": "CU14", "target_su": "May25HU",
                      "target_build": "15.2.1544.27",
                      "summary": "Install May25HU (15.2.1544.27, KB5057652) on CU14."},
        "warnings": [
            {"code": "iis_log_retention_short",
             "message": "IIS logs start 2025-05-28 | older attacks cannot be ruled out [see](http://evil.example/x)"},
        ],
    }


_REPORT: dict[str, Any] = {
    "schema": 1,
    "generated_at": "2025-06-10T09:30:00Z",
    "run": {"playbook": "playbooks/assess.yml", "check_mode": True, "ansible_version": "2.17.4"},
    "summary": {"hosts": 4, "ok": 3, "error": 1, "vulnerable": 1, "compromised": 1, "compromised_unknown": 2,
                "unsupported": 1},
    "hosts": {"ex16": _ex16(), "ex19": _ex19(), "ex13-broken": _ex13_broken(), "edge01": _edge01()},
}


def sample_report() -> dict[str, Any]:
    """A fresh copy each call, so a test may mutate it freely."""
    return copy.deepcopy(_REPORT)
