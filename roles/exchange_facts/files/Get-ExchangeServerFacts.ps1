<#
.SYNOPSIS
    Collects read-only facts about an on-premises Exchange server for server.json.

.DESCRIPTION
    Thin, read-only collector for the live half of exchange_facts. It reads the
    Exchange Setup registry key (v15, or v14 for Exchange 2010), the FileVersion
    of ExSetup.exe, the role keys, the installed update packages, the DAG and AD
    site, the Active Directory levels Exchange setup raised (schema, organisation,
    Microsoft Exchange System Objects), the operating system, the .NET Framework
    release, IIS URL Rewrite and its rules (each with its match, conditions and
    action, so a mitigation can be compared with its published definition), the
    Exchange Emergency Mitigation Service, and endpoint protection.

    It decides nothing: version normalisation, CVE status and every other
    judgement is made by the Python core on the controller. It changes nothing
    on the server: it only reads the registry, files, CIM classes and the
    output of Get-* cmdlets, and reads Active Directory through [ADSI] and
    DirectorySearcher without writing. Loading the Exchange snap-in and the
    WebAdministration module affects only this PowerShell runspace.

    Every section runs in its own try/catch. A fact that cannot be read is
    returned as $null and the reason is added to the 'errors' list; the script
    does not throw on a missing fact.

    When run by ansible.windows.win_powershell the result is placed in
    $Ansible.Result and $Ansible.Changed is set to $false. Run by hand, the
    same object is written to the output stream.

.PARAMETER CollectEndpointProtection
    Read Microsoft Defender (Get-MpComputerStatus) or the SecurityCenter2
    AntiVirusProduct class. When $false the section is skipped and reported
    as not collected.

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary with the keys hostname,
    fqdn, collected_at, exchange, os, dotnet_release, iis, mitigation_service,
    endpoint_protection and errors.

.EXAMPLE
    .\Get-ExchangeServerFacts.ps1 -CollectEndpointProtection $false

.NOTES
    Requires Windows PowerShell 5.1. Exchange cmdlets are used only when the
    Exchange Management snap-in loads in the session; otherwise the facts that
    need them are $null.
#>
[CmdletBinding()]
param (
    [Parameter()]
    [bool]
    $CollectEndpointProtection = $true
)

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
if ($null -ne $ansibleContext) {
    # Read-only collector: it never reports a change.
    $Ansible.Changed = $false
}

$script:CollectionErrors = [System.Collections.Generic.List[string]]::new()
$script:InvariantCulture = [System.Globalization.CultureInfo]::InvariantCulture

function Add-CollectionError {
    <#
    .SYNOPSIS
        Records why a fact could not be collected, as one line "section: reason".
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Section,

        [Parameter(Mandatory = $true)]
        [AllowNull()]
        [object]
        $Reason
    )

    $message = $null
    if ($Reason -is [System.Management.Automation.ErrorRecord]) {
        $message = $Reason.Exception.Message
    }
    elseif ($Reason -is [System.Exception]) {
        $message = $Reason.Message
    }
    elseif ($null -ne $Reason) {
        $message = [string]$Reason
    }
    if ([string]::IsNullOrWhiteSpace($message)) {
        $message = 'unknown error'
    }
    $oneLine = ($message -replace '\s*[\r\n]+\s*', ' ').Trim()
    $script:CollectionErrors.Add(('{0}: {1}' -f $Section, $oneLine))
}

function Get-ObjectPropertyValue {
    <#
    .SYNOPSIS
        Returns the value of a property, or $null when the object or the property is absent.
    .DESCRIPTION
        Set-StrictMode -Version 2 throws on a reference to a property that does not exist;
        older Exchange builds lack properties such as MitigationsEnabled.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $InputObject,

        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    if ($null -eq $InputObject) {
        return $null
    }
    $property = $InputObject.PSObject.Properties[$Name]
    if ($null -eq $property) {
        return $null
    }
    return , $property.Value
}

function Get-RegistryValue {
    <#
    .SYNOPSIS
        Reads one registry value, or returns $null when the key or the value is absent.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Path,

        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    if (-not (Test-Path -LiteralPath $Path)) {
        return $null
    }
    $item = Get-ItemProperty -LiteralPath $Path
    return Get-ObjectPropertyValue -InputObject $item -Name $Name
}

function ConvertTo-ObjectName {
    <#
    .SYNOPSIS
        Returns the Name of an AD object id (site, DAG), its string form, or $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $InputObject
    )

    if ($null -eq $InputObject) {
        return $null
    }
    $name = Get-ObjectPropertyValue -InputObject $InputObject -Name 'Name'
    if (-not [string]::IsNullOrEmpty([string]$name)) {
        return [string]$name
    }
    $text = [string]$InputObject
    if ([string]::IsNullOrEmpty($text)) {
        return $null
    }
    return $text
}

function ConvertTo-IsoDate {
    <#
    .SYNOPSIS
        Converts an unambiguous registry date (yyyyMMdd, yyyy-MM-dd, M/d/yyyy) to yyyy-MM-dd.
    .DESCRIPTION
        Any other text is returned unchanged so that nothing is guessed; $null and empty stay $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $Value
    )

    if ($null -eq $Value) {
        return $null
    }
    $text = ([string]$Value).Trim()
    if ($text -eq '') {
        return $null
    }
    $formats = [string[]]@('yyyyMMdd', 'yyyy-MM-dd', 'M/d/yyyy', 'M/d/yyyy H:mm:ss', 'M/d/yyyy h:mm:ss tt')
    $parsed = [datetime]::MinValue
    $style = [System.Globalization.DateTimeStyles]::None
    if ([datetime]::TryParseExact($text, $formats, $script:InvariantCulture, $style, [ref]$parsed)) {
        return $parsed.ToString('yyyy-MM-dd', $script:InvariantCulture)
    }
    return $text
}

function ConvertTo-UtcTimestamp {
    <#
    .SYNOPSIS
        Formats a DateTime as UTC ISO 8601 (yyyy-MM-ddTHH:mm:ssZ), or returns $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $Value
    )

    if ($null -eq $Value -or $Value -isnot [datetime]) {
        return $null
    }
    return $Value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $script:InvariantCulture)
}

function ConvertTo-StringArray {
    <#
    .SYNOPSIS
        Converts a value or a collection (such as a MultiValuedProperty) to an array of strings; $null gives an empty array.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $InputObject
    )

    $strings = [System.Collections.Generic.List[string]]::new()
    foreach ($item in @($InputObject)) {
        if ($null -ne $item) {
            $strings.Add([string]$item)
        }
    }
    return , $strings.ToArray()
}

function Get-HostIdentity {
    <#
    .SYNOPSIS
        Returns the NetBIOS host name and the DNS FQDN of this computer.
    #>
    [CmdletBinding()]
    param ()

    $identity = [ordered]@{
        hostname = $env:COMPUTERNAME
        fqdn     = $null
    }
    try {
        $ipProperties = [System.Net.NetworkInformation.IPGlobalProperties]::GetIPGlobalProperties()
        $fqdn = $ipProperties.HostName
        if (-not [string]::IsNullOrEmpty($ipProperties.DomainName)) {
            $fqdn = '{0}.{1}' -f $ipProperties.HostName, $ipProperties.DomainName
        }
        $identity.fqdn = $fqdn.ToLowerInvariant()
    }
    catch {
        Add-CollectionError -Section 'fqdn' -Reason $_
    }
    return $identity
}

function Get-SetupWatermarks {
    <#
    .SYNOPSIS
        Returns the setup state of each Exchange role key: a Watermark or Action value, or an
        UnpackedVersion without ConfiguredVersion, means a setup that did not finish
        (CSS-Exchange SetupAssist InstallWatermark). Read only; the watermark is never touched.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $false)]
        [string]
        $ProductKey
    )

    $records = [System.Collections.Generic.List[object]]::new()
    if ([string]::IsNullOrEmpty($ProductKey)) {
        return , $records.ToArray()
    }
    foreach ($role in @('CafeRole', 'ClientAccessRole', 'FrontendTransportRole', 'HubTransportRole', 'MailboxRole', 'UnifiedMessagingRole', 'EdgeTransportRole')) {
        $roleKey = Join-Path -Path $ProductKey -ChildPath $role
        try {
            if (-not (Test-Path -LiteralPath $roleKey)) {
                continue
            }
            $item = Get-ItemProperty -LiteralPath $roleKey
            $records.Add([ordered]@{
                    role               = $role
                    watermark          = Get-ObjectPropertyValue -InputObject $item -Name 'Watermark'
                    action             = Get-ObjectPropertyValue -InputObject $item -Name 'Action'
                    unpacked_version   = Get-ObjectPropertyValue -InputObject $item -Name 'UnpackedVersion'
                    configured_version = Get-ObjectPropertyValue -InputObject $item -Name 'ConfiguredVersion'
                })
        }
        catch {
            Add-CollectionError -Section ('exchange.watermarks.{0}' -f $role) -Reason $_
        }
    }
    return , $records.ToArray()
}

function Get-ExchangeSetupFacts {
    <#
    .SYNOPSIS
        Reads the Exchange Setup registry key: v15 (2013 and later), else v14 (2010).
    #>
    [CmdletBinding()]
    param ()

    $facts = [ordered]@{
        version_key    = $null
        product_key    = $null
        install_path   = $null
        setup_registry = [ordered]@{
            version_key      = $null
            MsiInstallPath   = $null
            MsiProductMajor  = $null
            MsiProductMinor  = $null
            MsiBuildMajor    = $null
            MsiBuildMinor    = $null
            services_present = $null
        }
    }
    try {
        foreach ($versionKey in @('v15', 'v14')) {
            $productKey = 'HKLM:\SOFTWARE\Microsoft\ExchangeServer\{0}' -f $versionKey
            $setupKey = Join-Path -Path $productKey -ChildPath 'Setup'
            if (-not (Test-Path -LiteralPath $setupKey)) {
                continue
            }
            $item = Get-ItemProperty -LiteralPath $setupKey
            $facts.version_key = $versionKey
            $facts.product_key = $productKey
            $facts.setup_registry.version_key = $versionKey
            foreach ($name in @('MsiInstallPath', 'MsiProductMajor', 'MsiProductMinor', 'MsiBuildMajor', 'MsiBuildMinor')) {
                $facts.setup_registry[$name] = Get-ObjectPropertyValue -InputObject $item -Name $name
            }
            $facts.setup_registry.services_present = ($null -ne $item.PSObject.Properties['Services'])
            $facts.install_path = $facts.setup_registry.MsiInstallPath
            break
        }
        if ($null -eq $facts.version_key) {
            Add-CollectionError -Section 'exchange.setup_registry' -Reason 'no ExchangeServer\v15\Setup or v14\Setup key: Exchange is not installed'
        }
        elseif ([string]::IsNullOrEmpty([string]$facts.install_path)) {
            Add-CollectionError -Section 'exchange.install_path' -Reason ('MsiInstallPath is missing under {0}\Setup' -f $facts.product_key)
        }
    }
    catch {
        Add-CollectionError -Section 'exchange.setup_registry' -Reason $_
    }
    return $facts
}

function Get-ExSetupFileVersion {
    <#
    .SYNOPSIS
        Returns the FileVersion of <install path>\bin\ExSetup.exe exactly as Windows reports it.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [string]
        $InstallPath
    )

    if ([string]::IsNullOrEmpty($InstallPath)) {
        return $null
    }
    try {
        $exSetupPath = Join-Path -Path $InstallPath -ChildPath 'bin\ExSetup.exe'
        if (-not (Test-Path -LiteralPath $exSetupPath -PathType Leaf)) {
            Add-CollectionError -Section 'exchange.exsetup_version' -Reason ('{0} not found' -f $exSetupPath)
            return $null
        }
        $fileVersion = (Get-Item -LiteralPath $exSetupPath).VersionInfo.FileVersion
        if ([string]::IsNullOrWhiteSpace($fileVersion)) {
            Add-CollectionError -Section 'exchange.exsetup_version' -Reason ('{0} has no FileVersion' -f $exSetupPath)
            return $null
        }
        return $fileVersion.Trim()
    }
    catch {
        Add-CollectionError -Section 'exchange.exsetup_version' -Reason $_
        return $null
    }
}

function Get-ExchangeInstallDate {
    <#
    .SYNOPSIS
        Returns the day the Exchange install folder was created (yyyy-MM-dd, UTC): the earliest a server can have been open to an attack.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [string]
        $InstallPath
    )

    if ([string]::IsNullOrEmpty($InstallPath)) {
        return $null
    }
    try {
        $folder = Get-Item -LiteralPath $InstallPath -ErrorAction Stop
        return $folder.CreationTimeUtc.ToString('yyyy-MM-dd', [System.Globalization.CultureInfo]::InvariantCulture)
    }
    catch {
        Add-CollectionError -Section 'exchange.installed_on' -Reason $_
        return $null
    }
}

function Get-ExchangeRoleNames {
    <#
    .SYNOPSIS
        Lists the role keys (MailboxRole, ClientAccessRole, EdgeTransportRole, ...) under the product key, without the "Role" suffix.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [string]
        $ProductKey
    )

    $roles = [System.Collections.Generic.List[string]]::new()
    if ([string]::IsNullOrEmpty($ProductKey)) {
        return , $roles.ToArray()
    }
    try {
        $roleKeys = Get-ChildItem -LiteralPath $ProductKey | Where-Object { $_.PSChildName -like '*Role' }
        foreach ($roleKey in $roleKeys) {
            $roles.Add(($roleKey.PSChildName -replace 'Role$', ''))
        }
        $roles.Sort([System.StringComparer]::OrdinalIgnoreCase)
    }
    catch {
        Add-CollectionError -Section 'exchange.roles' -Reason $_
    }
    return , $roles.ToArray()
}

function Get-ExchangeInstalledUpdates {
    <#
    .SYNOPSIS
        Lists update packages under HKLM:\SOFTWARE\Microsoft\Updates\Exchange 20xx\* (package name and install date).
    #>
    [CmdletBinding()]
    param ()

    $updates = [System.Collections.Generic.List[object]]::new()
    $updatesRoot = 'HKLM:\SOFTWARE\Microsoft\Updates'
    try {
        if (-not (Test-Path -LiteralPath $updatesRoot)) {
            return , $updates.ToArray()
        }
        $productKeys = Get-ChildItem -LiteralPath $updatesRoot | Where-Object { $_.PSChildName -like 'Exchange 20*' }
        foreach ($productKey in $productKeys) {
            foreach ($packageKey in (Get-ChildItem -LiteralPath $productKey.PSPath)) {
                $item = Get-ItemProperty -LiteralPath $packageKey.PSPath
                $packageName = Get-ObjectPropertyValue -InputObject $item -Name 'PackageName'
                if ([string]::IsNullOrEmpty([string]$packageName)) {
                    $packageName = $packageKey.PSChildName
                }
                $rawDate = Get-ObjectPropertyValue -InputObject $item -Name 'InstalledDate'
                if ($null -eq $rawDate) {
                    $rawDate = Get-ObjectPropertyValue -InputObject $item -Name 'InstallDate'
                }
                $rawText = $null
                if ($null -ne $rawDate) {
                    $rawText = [string]$rawDate
                }
                $updates.Add([ordered]@{
                        package       = [string]$packageName
                        installed     = ConvertTo-IsoDate -Value $rawDate
                        installed_raw = $rawText
                        update_key    = $productKey.PSChildName
                    })
            }
        }
    }
    catch {
        Add-CollectionError -Section 'exchange.installed_updates' -Reason $_
    }
    return , $updates.ToArray()
}

function Import-ExchangeSnapIn {
    <#
    .SYNOPSIS
        Loads the Exchange Management snap-in into this session; returns $true when its cmdlets are usable.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [string]
        $VersionKey
    )

    if ([string]::IsNullOrEmpty($VersionKey)) {
        return $false
    }
    $snapInName = 'Microsoft.Exchange.Management.PowerShell.SnapIn'
    if ($VersionKey -eq 'v14') {
        $snapInName = 'Microsoft.Exchange.Management.PowerShell.E2010'
    }
    try {
        if ($null -ne (Get-Command -Name 'Get-ExchangeServer' -ErrorAction SilentlyContinue)) {
            return $true
        }
        $registered = Get-PSSnapin -Registered -Name $snapInName -ErrorAction SilentlyContinue
        if ($null -eq $registered) {
            Add-CollectionError -Section 'exchange.cmdlets' -Reason ('snap-in {0} is not registered' -f $snapInName)
            return $false
        }
        Add-PSSnapin -Name $snapInName
        return ($null -ne (Get-Command -Name 'Get-ExchangeServer' -ErrorAction SilentlyContinue))
    }
    catch {
        Add-CollectionError -Section 'exchange.cmdlets' -Reason $_
        return $false
    }
}

function Get-ExchangeServerObjectFacts {
    <#
    .SYNOPSIS
        Reads this server's Get-ExchangeServer object: AD site, AdminDisplayVersion and mitigation state.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [bool]
        $CmdletsLoaded
    )

    $facts = [ordered]@{
        site                   = $null
        admin_display_version  = $null
        mitigations_enabled    = $null
        mitigations_applied    = $null
        mitigations_blocked    = $null
    }
    if (-not $CmdletsLoaded) {
        return $facts
    }
    try {
        $server = Get-ExchangeServer -Identity $env:COMPUTERNAME
        $facts.site = ConvertTo-ObjectName -InputObject (Get-ObjectPropertyValue -InputObject $server -Name 'Site')
        $adminVersion = Get-ObjectPropertyValue -InputObject $server -Name 'AdminDisplayVersion'
        if ($null -ne $adminVersion) {
            $facts.admin_display_version = [string]$adminVersion
        }
        $enabled = Get-ObjectPropertyValue -InputObject $server -Name 'MitigationsEnabled'
        if ($null -ne $enabled) {
            $facts.mitigations_enabled = [bool]$enabled
        }
        # Absent on builds without the Emergency Mitigation Service: keep $null (unknown), not an empty list.
        if ($null -ne $server.PSObject.Properties['MitigationsApplied']) {
            $facts.mitigations_applied = ConvertTo-StringArray -InputObject $server.MitigationsApplied
        }
        if ($null -ne $server.PSObject.Properties['MitigationsBlocked']) {
            $facts.mitigations_blocked = ConvertTo-StringArray -InputObject $server.MitigationsBlocked
        }
    }
    catch {
        Add-CollectionError -Section 'exchange.server_object' -Reason $_
    }
    return $facts
}

function Get-DagMembership {
    <#
    .SYNOPSIS
        Returns the name of the DAG this Mailbox server belongs to, or $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [bool]
        $CmdletsLoaded,

        [Parameter()]
        [AllowEmptyCollection()]
        [string[]]
        $Roles = @()
    )

    if (-not $CmdletsLoaded -or $Roles -notcontains 'Mailbox') {
        return $null
    }
    try {
        $mailboxServer = Get-MailboxServer -Identity $env:COMPUTERNAME
        return ConvertTo-ObjectName -InputObject (Get-ObjectPropertyValue -InputObject $mailboxServer -Name 'DatabaseAvailabilityGroup')
    }
    catch {
        Add-CollectionError -Section 'exchange.dag' -Reason $_
        return $null
    }
}

function Get-NetlogonSiteName {
    <#
    .SYNOPSIS
        Returns the AD site that Netlogon recorded for this computer (SiteName, else DynamicSiteName), or $null.
    #>
    [CmdletBinding()]
    param ()

    try {
        $parameters = 'HKLM:\SYSTEM\CurrentControlSet\Services\Netlogon\Parameters'
        foreach ($name in @('SiteName', 'DynamicSiteName')) {
            $value = Get-RegistryValue -Path $parameters -Name $name
            if (-not [string]::IsNullOrWhiteSpace([string]$value)) {
                return ([string]$value).Trim([char[]]@([char]0, [char]32))
            }
        }
    }
    catch {
        Add-CollectionError -Section 'exchange.site' -Reason $_
    }
    return $null
}

function Get-DirectoryEntryValue {
    <#
    .SYNOPSIS
        Reads the first value of one attribute of the Active Directory object at an LDAP path ([ADSI], read-only), or $null when the attribute has no value.
    .DESCRIPTION
        [ADSI] binds to the object on first use, so an object that does not exist or cannot be read throws here; the caller records why.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Path,

        [Parameter(Mandatory = $true)]
        [string]
        $Attribute
    )

    $entry = [ADSI]$Path
    $values = $entry.Properties[$Attribute]
    if ($null -eq $values -or $values.Count -eq 0) {
        return $null
    }
    return $values[0]
}

function Get-ExchangeOrganizationVersion {
    <#
    .SYNOPSIS
        Returns the objectVersion of the Exchange organisation object (msExchOrganizationContainer under CN=Microsoft Exchange,CN=Services), or $null when there is none.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $ConfigurationNamingContext
    )

    $servicesPath = 'LDAP://CN=Microsoft Exchange,CN=Services,{0}' -f $ConfigurationNamingContext
    $searchRoot = [ADSI]$servicesPath
    $properties = [string[]]@('objectVersion')
    $scope = [System.DirectoryServices.SearchScope]::OneLevel
    $searcher = [System.DirectoryServices.DirectorySearcher]::new($searchRoot, '(objectClass=msExchOrganizationContainer)', $properties, $scope)
    $found = $searcher.FindOne()
    if ($null -eq $found) {
        Add-CollectionError -Section 'exchange.ad_levels.organization' -Reason ('no Exchange organisation object under {0}' -f $servicesPath)
        return $null
    }
    # SearchResult property names are lower case.
    $values = $found.Properties['objectversion']
    if ($null -eq $values -or $values.Count -eq 0) {
        Add-CollectionError -Section 'exchange.ad_levels.organization' -Reason 'the Exchange organisation object has no objectVersion'
        return $null
    }
    return [int]$values[0]
}

function Get-ActiveDirectoryExchangeLevels {
    <#
    .SYNOPSIS
        Returns the Exchange levels of Active Directory: schema (rangeUpper of ms-Exch-Schema-Version-Pt), organization and meso (objectVersion), each $null when it cannot be read.
    .DESCRIPTION
        Read-only LDAP reads with the computer's credentials: RootDSE for the naming contexts, then
        CN=ms-Exch-Schema-Version-Pt in the schema, the organisation object in the configuration
        partition and CN=Microsoft Exchange System Objects in the forest root domain. An Edge
        Transport server sits outside the domain and is not asked.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [bool]
        $IsEdge
    )

    $levels = [ordered]@{
        schema       = $null
        organization = $null
        meso         = $null
    }
    if ($IsEdge) {
        Add-CollectionError -Section 'exchange.ad_levels' -Reason 'not read on an Edge Transport server (no Active Directory access)'
        return $levels
    }
    try {
        $schemaContext = [string](Get-DirectoryEntryValue -Path 'LDAP://RootDSE' -Attribute 'schemaNamingContext')
        $configurationContext = [string](Get-DirectoryEntryValue -Path 'LDAP://RootDSE' -Attribute 'configurationNamingContext')
        $rootDomainContext = [string](Get-DirectoryEntryValue -Path 'LDAP://RootDSE' -Attribute 'rootDomainNamingContext')
    }
    catch {
        Add-CollectionError -Section 'exchange.ad_levels' -Reason $_
        return $levels
    }
    try {
        $rangeUpper = Get-DirectoryEntryValue -Path ('LDAP://CN=ms-Exch-Schema-Version-Pt,{0}' -f $schemaContext) -Attribute 'rangeUpper'
        if ($null -eq $rangeUpper) {
            Add-CollectionError -Section 'exchange.ad_levels.schema' -Reason 'CN=ms-Exch-Schema-Version-Pt has no rangeUpper'
        }
        else {
            $levels.schema = [int]$rangeUpper
        }
    }
    catch {
        Add-CollectionError -Section 'exchange.ad_levels.schema' -Reason $_
    }
    try {
        $levels.organization = Get-ExchangeOrganizationVersion -ConfigurationNamingContext $configurationContext
    }
    catch {
        Add-CollectionError -Section 'exchange.ad_levels.organization' -Reason $_
    }
    try {
        $mesoVersion = Get-DirectoryEntryValue -Path ('LDAP://CN=Microsoft Exchange System Objects,{0}' -f $rootDomainContext) -Attribute 'objectVersion'
        if ($null -eq $mesoVersion) {
            Add-CollectionError -Section 'exchange.ad_levels.meso' -Reason 'CN=Microsoft Exchange System Objects has no objectVersion'
        }
        else {
            $levels.meso = [int]$mesoVersion
        }
    }
    catch {
        Add-CollectionError -Section 'exchange.ad_levels.meso' -Reason $_
    }
    return $levels
}

function Get-OrganizationMitigationSetting {
    <#
    .SYNOPSIS
        Returns Get-OrganizationConfig MitigationsEnabled, or $null when unknown.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [bool]
        $CmdletsLoaded
    )

    if (-not $CmdletsLoaded) {
        return $null
    }
    try {
        $organization = Get-OrganizationConfig
        $enabled = Get-ObjectPropertyValue -InputObject $organization -Name 'MitigationsEnabled'
        if ($null -eq $enabled) {
            return $null
        }
        return [bool]$enabled
    }
    catch {
        Add-CollectionError -Section 'mitigation_service.organization' -Reason $_
        return $null
    }
}

function Get-MitigationServiceState {
    <#
    .SYNOPSIS
        Returns the state and start mode of the MSExchangeMitigation Windows service.
    #>
    [CmdletBinding()]
    param ()

    $state = [ordered]@{
        service_present    = $false
        service_status     = $null
        service_start_mode = $null
    }
    try {
        $service = Get-CimInstance -ClassName 'Win32_Service' -Filter "Name='MSExchangeMitigation'"
        if ($null -ne $service) {
            $state.service_present = $true
            $state.service_status = [string]$service.State
            $state.service_start_mode = [string]$service.StartMode
        }
    }
    catch {
        Add-CollectionError -Section 'mitigation_service.service' -Reason $_
        $state.service_present = $null
    }
    return $state
}

function Get-OperatingSystemFacts {
    <#
    .SYNOPSIS
        Returns the OS caption and version from Win32_OperatingSystem.
    #>
    [CmdletBinding()]
    param ()

    $facts = [ordered]@{
        caption = $null
        version = $null
    }
    try {
        $os = Get-CimInstance -ClassName 'Win32_OperatingSystem'
        $facts.caption = ([string]$os.Caption).Trim()
        $facts.version = [string]$os.Version
    }
    catch {
        Add-CollectionError -Section 'os' -Reason $_
    }
    return $facts
}

function Get-DotNetFrameworkRelease {
    <#
    .SYNOPSIS
        Returns the .NET Framework 4.x Release DWORD, or $null.
    #>
    [CmdletBinding()]
    param ()

    try {
        $release = Get-RegistryValue -Path 'HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full' -Name 'Release'
        if ($null -eq $release) {
            Add-CollectionError -Section 'dotnet_release' -Reason '.NET Framework 4.x Release value not found'
            return $null
        }
        return [int]$release
    }
    catch {
        Add-CollectionError -Section 'dotnet_release' -Reason $_
        return $null
    }
}

function Get-UrlRewriteVersion {
    <#
    .SYNOPSIS
        Returns the IIS URL Rewrite product version (registry) and the FileVersion of rewrite.dll.
    #>
    [CmdletBinding()]
    param ()

    $facts = [ordered]@{
        registry_version = $null
        dll_version      = $null
    }
    try {
        $version = Get-RegistryValue -Path 'HKLM:\SOFTWARE\Microsoft\IIS Extensions\URL Rewrite' -Name 'Version'
        if (-not [string]::IsNullOrWhiteSpace([string]$version)) {
            $facts.registry_version = ([string]$version).Trim()
        }
        $dllPath = Join-Path -Path $env:windir -ChildPath 'System32\inetsrv\rewrite.dll'
        if (Test-Path -LiteralPath $dllPath -PathType Leaf) {
            $fileVersion = (Get-Item -LiteralPath $dllPath).VersionInfo.FileVersion
            if (-not [string]::IsNullOrWhiteSpace($fileVersion)) {
                $facts.dll_version = $fileVersion.Trim()
            }
        }
    }
    catch {
        Add-CollectionError -Section 'iis.url_rewrite_version' -Reason $_
    }
    return $facts
}

function Get-RewriteRuleNames {
    <#
    .SYNOPSIS
        Returns the names of the URL Rewrite rules of one configuration section at one IIS configuration path.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath,

        [Parameter(Mandatory = $true)]
        [string]
        $Filter
    )

    $names = [System.Collections.Generic.List[string]]::new()
    $values = @(Get-WebConfigurationProperty -PSPath $PSPath -Filter $Filter -Name 'name')
    foreach ($value in $values) {
        if ($null -eq $value) {
            continue
        }
        $name = Get-ObjectPropertyValue -InputObject $value -Name 'Value'
        if ($null -eq $name) {
            $name = $value
        }
        if (-not [string]::IsNullOrEmpty([string]$name)) {
            $names.Add([string]$name)
        }
    }
    return , $names.ToArray()
}

function ConvertTo-ConfigurationScalar {
    <#
    .SYNOPSIS
        Returns the plain value of one Get-WebConfigurationProperty result: a ConfigurationAttribute's Value, or the value itself.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $InputObject
    )

    if ($null -eq $InputObject) {
        return $null
    }
    if ($null -ne $InputObject.PSObject.Properties['Value'] -and $InputObject -isnot [string]) {
        return Get-ObjectPropertyValue -InputObject $InputObject -Name 'Value'
    }
    return $InputObject
}

function ConvertTo-NullableBoolean {
    <#
    .SYNOPSIS
        Converts a configuration value (a Boolean or the text true/false) to $true or $false; anything else is $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $Value
    )

    if ($Value -is [bool]) {
        return $Value
    }
    $text = ([string]$Value).Trim()
    if ($text -eq 'true') {
        return $true
    }
    if ($text -eq 'false') {
        return $false
    }
    return $null
}

function ConvertTo-RewriteEnumName {
    <#
    .SYNOPSIS
        Returns the schema name of a URL Rewrite enumeration value (patternSyntax, matchType, action type) when IIS hands back its number.
    .DESCRIPTION
        Numbers of the URL Rewrite configuration schema: patternSyntax ECMAScript 0, Wildcard 1,
        ExactMatch 2; matchType Pattern 0, IsFile 1, IsDirectory 2; action type None 0, Rewrite 1,
        Redirect 2, CustomResponse 3, AbortRequest 4. A name is returned as it is; $null stays $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Attribute,

        [Parameter()]
        [AllowNull()]
        [object]
        $Value
    )

    if ($null -eq $Value) {
        return $null
    }
    $names = @{
        patternSyntax = @('ECMAScript', 'Wildcard', 'ExactMatch')
        matchType     = @('Pattern', 'IsFile', 'IsDirectory')
        type          = @('None', 'Rewrite', 'Redirect', 'CustomResponse', 'AbortRequest')
    }
    $text = ([string]$Value).Trim()
    $number = 0
    if ($names.ContainsKey($Attribute) -and [int]::TryParse($text, [ref]$number)) {
        if ($number -ge 0 -and $number -lt $names[$Attribute].Count) {
            return $names[$Attribute][$number]
        }
    }
    return $text
}

function ConvertTo-RuleFilterLiteral {
    <#
    .SYNOPSIS
        Quotes a rule name for an IIS configuration filter ([@name='...']); $null when the name holds both quote characters.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    if (-not $Name.Contains("'")) {
        return "'{0}'" -f $Name
    }
    if (-not $Name.Contains('"')) {
        return '"{0}"' -f $Name
    }
    return $null
}

function Get-WebConfigurationValues {
    <#
    .SYNOPSIS
        Returns one attribute of every element an IIS configuration filter selects, in document order, as plain values.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath,

        [Parameter(Mandatory = $true)]
        [string]
        $Filter,

        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    $values = [System.Collections.Generic.List[object]]::new()
    foreach ($item in @(Get-WebConfigurationProperty -PSPath $PSPath -Filter $Filter -Name $Name)) {
        if ($null -ne $item) {
            $values.Add((ConvertTo-ConfigurationScalar -InputObject $item))
        }
    }
    return , $values.ToArray()
}

function Get-RewriteRuleBody {
    <#
    .SYNOPSIS
        Reads one URL Rewrite rule by name: name, enabled, pattern_syntax, stop_processing, match_url, conditions and action_type.
    .DESCRIPTION
        The shape is the RULE of the mitigation contract, which the Python core compares with the
        published definition (mitigations.md section 7). IIS returns attributes at their schema
        defaults too, so every condition has all five values.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath,

        [Parameter(Mandatory = $true)]
        [string]
        $Section,

        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    $literal = ConvertTo-RuleFilterLiteral -Name $Name
    if ($null -eq $literal) {
        throw 'the rule name holds both quote characters, so it cannot be selected by name'
    }
    $ruleFilter = '{0}/rule[@name={1}]' -f $Section, $literal
    $conditionFilter = '{0}/conditions/add' -f $ruleFilter
    $inputs = Get-WebConfigurationValues -PSPath $PSPath -Filter $conditionFilter -Name 'input'
    $patterns = Get-WebConfigurationValues -PSPath $PSPath -Filter $conditionFilter -Name 'pattern'
    $negates = Get-WebConfigurationValues -PSPath $PSPath -Filter $conditionFilter -Name 'negate'
    $ignoreCases = Get-WebConfigurationValues -PSPath $PSPath -Filter $conditionFilter -Name 'ignoreCase'
    $matchTypes = Get-WebConfigurationValues -PSPath $PSPath -Filter $conditionFilter -Name 'matchType'
    foreach ($count in @($patterns.Count, $negates.Count, $ignoreCases.Count, $matchTypes.Count)) {
        if ($count -ne $inputs.Count) {
            throw 'the attributes of its conditions were returned in different numbers'
        }
    }
    $conditions = [System.Collections.Generic.List[object]]::new()
    for ($index = 0; $index -lt $inputs.Count; $index++) {
        $conditions.Add([ordered]@{
                input       = [string]$inputs[$index]
                pattern     = [string]$patterns[$index]
                negate      = ConvertTo-NullableBoolean -Value $negates[$index]
                ignore_case = ConvertTo-NullableBoolean -Value $ignoreCases[$index]
                match_type  = ConvertTo-RewriteEnumName -Attribute 'matchType' -Value $matchTypes[$index]
            })
    }
    $enabled = @(Get-WebConfigurationValues -PSPath $PSPath -Filter $ruleFilter -Name 'enabled')
    $patternSyntax = @(Get-WebConfigurationValues -PSPath $PSPath -Filter $ruleFilter -Name 'patternSyntax')
    $stopProcessing = @(Get-WebConfigurationValues -PSPath $PSPath -Filter $ruleFilter -Name 'stopProcessing')
    $matchUrl = @(Get-WebConfigurationValues -PSPath $PSPath -Filter ('{0}/match' -f $ruleFilter) -Name 'url')
    $actionType = @(Get-WebConfigurationValues -PSPath $PSPath -Filter ('{0}/action' -f $ruleFilter) -Name 'type')
    $rule = [ordered]@{
        name            = $Name
        enabled         = $null
        pattern_syntax  = $null
        stop_processing = $null
        match_url       = $null
        conditions      = $conditions.ToArray()
        action_type     = $null
    }
    if ($enabled.Count -gt 0) {
        $rule.enabled = ConvertTo-NullableBoolean -Value $enabled[0]
    }
    if ($patternSyntax.Count -gt 0) {
        $rule.pattern_syntax = ConvertTo-RewriteEnumName -Attribute 'patternSyntax' -Value $patternSyntax[0]
    }
    if ($stopProcessing.Count -gt 0) {
        $rule.stop_processing = ConvertTo-NullableBoolean -Value $stopProcessing[0]
    }
    if ($matchUrl.Count -gt 0 -and $null -ne $matchUrl[0]) {
        $rule.match_url = [string]$matchUrl[0]
    }
    if ($actionType.Count -gt 0) {
        $rule.action_type = ConvertTo-RewriteEnumName -Attribute 'type' -Value $actionType[0]
    }
    return $rule
}

function Get-RewriteRuleSet {
    <#
    .SYNOPSIS
        Returns every URL Rewrite rule of one section at one IIS configuration path with its body; a rule whose body cannot be read is returned by name, with the reason recorded.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath,

        [Parameter(Mandatory = $true)]
        [string]
        $Filter,

        [Parameter(Mandatory = $true)]
        [string]
        $ErrorSection
    )

    $rules = [System.Collections.Generic.List[object]]::new()
    $section = $Filter -replace '/rule$', ''
    foreach ($name in (Get-RewriteRuleNames -PSPath $PSPath -Filter $Filter)) {
        try {
            $rules.Add((Get-RewriteRuleBody -PSPath $PSPath -Section $section -Name $name))
        }
        catch {
            Add-CollectionError -Section $ErrorSection -Reason ('rule {0}: {1}' -f $name, $_.Exception.Message)
            $rules.Add($name)
        }
    }
    return , $rules.ToArray()
}

function Get-IisRewriteRules {
    <#
    .SYNOPSIS
        Returns the rewrite rules (with their bodies) of the Default Web Site and the global rules, when WebAdministration exists.
    #>
    [CmdletBinding()]
    param ()

    $rules = [ordered]@{
        site   = $null
        global = $null
    }
    try {
        if ($null -eq (Get-Module -ListAvailable -Name 'WebAdministration')) {
            Add-CollectionError -Section 'iis.rewrite_rules' -Reason 'WebAdministration module not available (IIS management tools not installed)'
            return $rules
        }
        Import-Module -Name 'WebAdministration'
    }
    catch {
        Add-CollectionError -Section 'iis.rewrite_rules' -Reason $_
        return $rules
    }
    try {
        $rules.site = Get-RewriteRuleSet -PSPath 'MACHINE/WEBROOT/APPHOST/Default Web Site' -Filter 'system.webServer/rewrite/rules/rule' -ErrorSection 'iis.rewrite_rules.site'
    }
    catch {
        Add-CollectionError -Section 'iis.rewrite_rules.site' -Reason $_
    }
    try {
        $rules.global = Get-RewriteRuleSet -PSPath 'MACHINE/WEBROOT/APPHOST' -Filter 'system.webServer/rewrite/globalRules/rule' -ErrorSection 'iis.rewrite_rules.global'
    }
    catch {
        Add-CollectionError -Section 'iis.rewrite_rules.global' -Reason $_
    }
    return $rules
}

function Get-DefenderStatus {
    <#
    .SYNOPSIS
        Returns Microsoft Defender Antivirus status from Get-MpComputerStatus, or $null when it is unavailable.
    #>
    [CmdletBinding()]
    param ()

    if ($null -eq (Get-Command -Name 'Get-MpComputerStatus' -ErrorAction SilentlyContinue)) {
        return $null
    }
    try {
        $status = Get-MpComputerStatus
    }
    catch {
        Add-CollectionError -Section 'endpoint_protection.defender' -Reason $_
        return $null
    }
    $realTime = Get-ObjectPropertyValue -InputObject $status -Name 'RealTimeProtectionEnabled'
    $signatureAge = Get-ObjectPropertyValue -InputObject $status -Name 'AntivirusSignatureAge'
    $facts = [ordered]@{
        product                = 'Microsoft Defender Antivirus'
        real_time              = $null
        signature_age_days     = $null
        signature_last_updated = ConvertTo-UtcTimestamp -Value (Get-ObjectPropertyValue -InputObject $status -Name 'AntivirusSignatureLastUpdated')
        product_version        = $null
        running_mode           = $null
        source                 = 'Get-MpComputerStatus'
        note                   = $null
    }
    if ($null -ne $realTime) {
        $facts.real_time = [bool]$realTime
    }
    if ($null -ne $signatureAge) {
        $facts.signature_age_days = [int]$signatureAge
    }
    $productVersion = Get-ObjectPropertyValue -InputObject $status -Name 'AMProductVersion'
    if ($null -ne $productVersion) {
        $facts.product_version = [string]$productVersion
    }
    $runningMode = Get-ObjectPropertyValue -InputObject $status -Name 'AMRunningMode'
    if ($null -ne $runningMode) {
        $facts.running_mode = [string]$runningMode
    }
    return $facts
}

function Get-SecurityCenterAntivirus {
    <#
    .SYNOPSIS
        Returns the first root/SecurityCenter2 AntiVirusProduct, or $null (the namespace is absent on servers).
    #>
    [CmdletBinding()]
    param ()

    try {
        $products = @(Get-CimInstance -Namespace 'root/SecurityCenter2' -ClassName 'AntiVirusProduct')
    }
    catch {
        return $null
    }
    if ($products.Count -eq 0) {
        return $null
    }
    $product = $products[0]
    $productState = Get-ObjectPropertyValue -InputObject $product -Name 'productState'
    $realTime = $null
    if ($null -ne $productState) {
        # Bit 0x1000 of productState is the "scanner on" flag reported by Security Center.
        $realTime = (([int]$productState -band 0x1000) -ne 0)
    }
    return [ordered]@{
        product                = [string](Get-ObjectPropertyValue -InputObject $product -Name 'displayName')
        real_time              = $realTime
        signature_age_days     = $null
        signature_last_updated = $null
        product_version        = $null
        running_mode           = $null
        source                 = 'root/SecurityCenter2'
        note                   = $null
    }
}

function Get-EndpointProtectionFacts {
    <#
    .SYNOPSIS
        Returns the endpoint protection facts: Defender first, then Security Center, else "no endpoint protection found".
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [bool]
        $Enabled
    )

    $none = [ordered]@{
        product                = $null
        real_time              = $null
        signature_age_days     = $null
        signature_last_updated = $null
        product_version        = $null
        running_mode           = $null
        source                 = $null
        note                   = 'no endpoint protection found'
    }
    if (-not $Enabled) {
        $none.note = 'not collected (exchange_facts_collect_endpoint_protection is false)'
        return $none
    }
    try {
        $defender = Get-DefenderStatus
        if ($null -ne $defender) {
            return $defender
        }
        $securityCenter = Get-SecurityCenterAntivirus
        if ($null -ne $securityCenter) {
            return $securityCenter
        }
    }
    catch {
        Add-CollectionError -Section 'endpoint_protection' -Reason $_
    }
    return $none
}

function Get-CollectionTimestamp {
    <#
    .SYNOPSIS
        Returns the current time as UTC ISO 8601.
    #>
    [CmdletBinding()]
    param ()

    return ConvertTo-UtcTimestamp -Value (Get-Date)
}

$collectedAt = Get-CollectionTimestamp
$identity = Get-HostIdentity
$setup = Get-ExchangeSetupFacts
$exSetupVersion = Get-ExSetupFileVersion -InstallPath ([string]$setup.install_path)
$installedOn = Get-ExchangeInstallDate -InstallPath ([string]$setup.install_path)
$roles = Get-ExchangeRoleNames -ProductKey ([string]$setup.product_key)
$installedUpdates = Get-ExchangeInstalledUpdates
$isEdge = $roles -contains 'EdgeTransport'
$cmdletsLoaded = Import-ExchangeSnapIn -VersionKey ([string]$setup.version_key)
$serverObject = Get-ExchangeServerObjectFacts -CmdletsLoaded $cmdletsLoaded
$dag = Get-DagMembership -CmdletsLoaded $cmdletsLoaded -Roles $roles
$adLevels = Get-ActiveDirectoryExchangeLevels -IsEdge $isEdge

$site = $serverObject.site
$siteSource = $null
if ($null -ne $site) {
    $siteSource = 'Get-ExchangeServer'
}
else {
    $site = Get-NetlogonSiteName
    if ($null -ne $site) {
        $siteSource = 'Netlogon'
    }
}

# The Emergency Mitigation Service runs on Mailbox servers only, never on Edge Transport.
$organizationMitigations = $null
if (-not $isEdge) {
    $organizationMitigations = Get-OrganizationMitigationSetting -CmdletsLoaded $cmdletsLoaded
}
$mitigationService = Get-MitigationServiceState
$mitigationsEnabled = $null
if ($organizationMitigations -eq $false -or $serverObject.mitigations_enabled -eq $false) {
    $mitigationsEnabled = $false
}
elseif ($organizationMitigations -eq $true -and $serverObject.mitigations_enabled -eq $true) {
    $mitigationsEnabled = $true
}

$urlRewrite = Get-UrlRewriteVersion
$rewriteRules = Get-IisRewriteRules
$urlRewriteVersion = $urlRewrite.registry_version
if ($null -eq $urlRewriteVersion) {
    $urlRewriteVersion = $urlRewrite.dll_version
}

$operatingSystem = Get-OperatingSystemFacts
$dotNetRelease = Get-DotNetFrameworkRelease
$endpointProtection = Get-EndpointProtectionFacts -Enabled $CollectEndpointProtection

$result = [ordered]@{
    collector           = 'Get-ExchangeServerFacts'
    hostname            = $identity.hostname
    fqdn                = $identity.fqdn
    collected_at        = $collectedAt
    exchange            = [ordered]@{
        version_key           = $setup.version_key
        install_path          = $setup.install_path
        installed_on          = $installedOn
        exsetup_version       = $exSetupVersion
        admin_display_version = $serverObject.admin_display_version
        roles                 = $roles
        dag                   = $dag
        site                  = $site
        site_source           = $siteSource
        cmdlets_loaded        = $cmdletsLoaded
        installed_updates     = $installedUpdates
        setup_registry        = $setup.setup_registry
        watermarks            = Get-SetupWatermarks -ProductKey $setup.product_key
        ad_levels             = $adLevels
    }
    os                  = $operatingSystem
    dotnet_release      = $dotNetRelease
    iis                 = [ordered]@{
        url_rewrite_version     = $urlRewriteVersion
        url_rewrite_dll_version = $urlRewrite.dll_version
        rewrite_rules           = $rewriteRules.site
        global_rewrite_rules    = $rewriteRules.global
    }
    mitigation_service  = [ordered]@{
        enabled                  = $mitigationsEnabled
        applied                  = $serverObject.mitigations_applied
        blocked                  = $serverObject.mitigations_blocked
        organization_enabled     = $organizationMitigations
        server_enabled           = $serverObject.mitigations_enabled
        service_present          = $mitigationService.service_present
        service_status           = $mitigationService.service_status
        service_start_mode       = $mitigationService.service_start_mode
    }
    endpoint_protection = $endpointProtection
    errors              = $script:CollectionErrors.ToArray()
}

if ($null -ne $ansibleContext) {
    $Ansible.Result = $result
}
else {
    $result
}
