<#
.SYNOPSIS
    Collects the read-only facts the patch post-checks decide on (patch-procedure.md section 7).

.DESCRIPTION
    Thin, read-only collector for role exchange_patch, run after the updates and their reboots,
    before the server leaves maintenance. It reads the ExSetup.exe FileVersion and
    AdminDisplayVersion, the setup watermark values, the start mode and status of the recorded
    services, Test-ServiceHealth, the server component states, this server's database copies and
    cluster node, and requests https://localhost/owa/healthcheck.htm and /ecp/healthcheck.htm
    (certificate validation off for localhost only).

    With -BuildOnly it reads only the build and the watermarks: the check right after Setup.exe,
    which does not trust the exit code alone.

    It decides nothing (patch_checks.py does) and changes nothing. Every section runs in its own
    try/catch; a fact that cannot be read is returned as $null with the reason in 'errors'.

.PARAMETER ServiceNames
    Names or wildcard patterns of the services to read (the same list the pre-checks recorded).

.PARAMETER BuildOnly
    Read only the build and the setup watermarks.

.PARAMETER Mode
    The maintenance path of the server: dag (database copies and cluster node are read),
    standalone, or edge (no web check either).

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary placed in $Ansible.Result (or written to
    the output stream when run by hand).

.EXAMPLE
    .\Get-ExchangePatchPostcheckFacts.ps1 -BuildOnly

.NOTES
    Requires Windows PowerShell 5.1 and the Exchange Management Shell snap-in.
#>
[CmdletBinding()]
param (
    [Parameter()]
    [string[]]
    $ServiceNames = @('MSExchange*', 'W3SVC', 'WAS', 'IISADMIN', 'HostControllerService', 'FMS'),

    [Parameter()]
    [switch]
    $BuildOnly,

    [Parameter()]
    [ValidateSet('dag', 'standalone', 'edge')]
    [string]
    $Mode = 'dag'
)

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
if ($null -ne $ansibleContext) {
    # Read-only collector: it never reports a change.
    $Ansible.Changed = $false
}

$script:CollectionErrors = [System.Collections.Generic.List[string]]::new()
$script:ProductKey = 'HKLM:\SOFTWARE\Microsoft\ExchangeServer\v15'

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

function Import-ExchangeSnapIn {
    <#
    .SYNOPSIS
        Loads the Exchange Management snap-in into this session; returns $true when its cmdlets are usable.
    #>
    [CmdletBinding()]
    param ()

    $snapInName = 'Microsoft.Exchange.Management.PowerShell.SnapIn'
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

function Get-ExchangeInstallFacts {
    <#
    .SYNOPSIS
        Reads the install path, the ExSetup.exe FileVersion, the role keys and whether this is an Edge Transport server.
    #>
    [CmdletBinding()]
    param ()

    $facts = [ordered]@{
        install_path          = $null
        exsetup_version       = $null
        admin_display_version = $null
        roles                 = @()
        edge                  = $null
    }
    try {
        $facts.install_path = Get-RegistryValue -Path (Join-Path -Path $script:ProductKey -ChildPath 'Setup') -Name 'MsiInstallPath'
        if ([string]::IsNullOrEmpty([string]$facts.install_path)) {
            Add-CollectionError -Section 'exchange.install_path' -Reason 'MsiInstallPath is missing under ExchangeServer\v15\Setup'
        }
        else {
            $exSetupPath = Join-Path -Path $facts.install_path -ChildPath 'bin\ExSetup.exe'
            if (Test-Path -LiteralPath $exSetupPath -PathType Leaf) {
                $facts.exsetup_version = ([string](Get-Item -LiteralPath $exSetupPath).VersionInfo.FileVersion).Trim()
            }
            else {
                Add-CollectionError -Section 'exchange.exsetup_version' -Reason ('{0} not found' -f $exSetupPath)
            }
        }
        $roles = [System.Collections.Generic.List[string]]::new()
        if (Test-Path -LiteralPath $script:ProductKey) {
            foreach ($roleKey in (Get-ChildItem -LiteralPath $script:ProductKey | Where-Object { $_.PSChildName -like '*Role' })) {
                $roles.Add(($roleKey.PSChildName -replace 'Role$', ''))
            }
        }
        $facts.roles = $roles.ToArray()
        $facts.edge = $roles.Contains('EdgeTransport')
    }
    catch {
        Add-CollectionError -Section 'exchange' -Reason $_
    }
    return $facts
}

function Get-AdminDisplayVersion {
    <#
    .SYNOPSIS
        Returns Get-ExchangeServer AdminDisplayVersion as text, or $null.
    #>
    [CmdletBinding()]
    param ()

    try {
        $server = Get-ExchangeServer -Identity $env:COMPUTERNAME
        $version = Get-ObjectPropertyValue -InputObject $server -Name 'AdminDisplayVersion'
        if ($null -ne $version) {
            return [string]$version
        }
    }
    catch {
        Add-CollectionError -Section 'exchange.admin_display_version' -Reason $_
    }
    return $null
}

function Get-SetupWatermarkFacts {
    <#
    .SYNOPSIS
        Reads Watermark, Action, UnpackedVersion and ConfiguredVersion of every role key under ExchangeServer\v15.
    .DESCRIPTION
        Reads only: a watermark is never deleted (CSS-Exchange SetupAssist InstallWatermark).
    #>
    [CmdletBinding()]
    param ()

    $watermarks = [System.Collections.Generic.List[object]]::new()
    try {
        $roleNames = @('CafeRole', 'ClientAccessRole', 'FrontendTransportRole', 'HubTransportRole', 'MailboxRole',
            'UnifiedMessagingRole', 'EdgeTransportRole', 'AdminToolsRole')
        foreach ($roleName in $roleNames) {
            $path = Join-Path -Path $script:ProductKey -ChildPath $roleName
            if (-not (Test-Path -LiteralPath $path)) {
                continue
            }
            $item = Get-ItemProperty -LiteralPath $path
            $watermarks.Add([ordered]@{
                    role               = $roleName
                    watermark          = Get-ObjectPropertyValue -InputObject $item -Name 'Watermark'
                    action             = Get-ObjectPropertyValue -InputObject $item -Name 'Action'
                    unpacked_version   = Get-ObjectPropertyValue -InputObject $item -Name 'UnpackedVersion'
                    configured_version = Get-ObjectPropertyValue -InputObject $item -Name 'ConfiguredVersion'
                })
        }
    }
    catch {
        Add-CollectionError -Section 'watermarks' -Reason $_
        return $null
    }
    return , $watermarks.ToArray()
}

function Get-ServiceFacts {
    <#
    .SYNOPSIS
        Returns name, display name, status and start mode (auto, delayed, manual, disabled) of the recorded services.
    .DESCRIPTION
        Win32_Service says Auto for both immediate and delayed start; the DelayedAutostart value of the
        service key tells them apart, so the repair step can restore the exact mode.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string[]]
        $Names
    )

    $services = [System.Collections.Generic.List[object]]::new()
    try {
        $seen = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::OrdinalIgnoreCase)
        foreach ($service in @(Get-CimInstance -ClassName 'Win32_Service')) {
            $name = [string]$service.Name
            if ($seen.Contains($name) -or -not ($Names | Where-Object { $name -like $_ })) {
                continue
            }
            [void]$seen.Add($name)
            $mode = ([string]$service.StartMode).ToLowerInvariant()
            if ($mode -eq 'auto') {
                $delayed = Get-RegistryValue -Path ('HKLM:\SYSTEM\CurrentControlSet\Services\{0}' -f $name) -Name 'DelayedAutostart'
                if ($delayed -eq 1) {
                    $mode = 'delayed'
                }
            }
            $services.Add([ordered]@{
                    name         = $name
                    display_name = [string]$service.DisplayName
                    status       = [string]$service.State
                    start_mode   = $mode
                })
        }
    }
    catch {
        Add-CollectionError -Section 'services' -Reason $_
        return $null
    }
    return , $services.ToArray()
}

function Get-ServiceHealthFacts {
    <#
    .SYNOPSIS
        Returns Test-ServiceHealth per role: RequiredServicesRunning and the services not running.
    #>
    [CmdletBinding()]
    param ()

    $health = [System.Collections.Generic.List[object]]::new()
    try {
        foreach ($entry in @(Test-ServiceHealth -Server $env:COMPUTERNAME)) {
            $notRunning = [System.Collections.Generic.List[string]]::new()
            $servicesNotRunning = Get-ObjectPropertyValue -InputObject $entry -Name 'ServicesNotRunning'
            foreach ($name in @($servicesNotRunning)) {
                if ($null -ne $name) {
                    $notRunning.Add([string]$name)
                }
            }
            $health.Add([ordered]@{
                    role                      = [string](Get-ObjectPropertyValue -InputObject $entry -Name 'Role')
                    required_services_running = [bool](Get-ObjectPropertyValue -InputObject $entry -Name 'RequiredServicesRunning')
                    services_not_running      = $notRunning.ToArray()
                })
        }
    }
    catch {
        Add-CollectionError -Section 'service_health' -Reason $_
        return $null
    }
    return , $health.ToArray()
}

function Get-ComponentStateFacts {
    <#
    .SYNOPSIS
        Returns every server component of a server with its state and the requesters that hold it not Active.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Server,

        [Parameter(Mandatory = $true)]
        [string]
        $Section
    )

    $components = [System.Collections.Generic.List[object]]::new()
    try {
        foreach ($state in @(Get-ServerComponentState -Identity $Server)) {
            $requesters = [System.Collections.Generic.List[string]]::new()
            # Assigned first: the helper returns a collection as one object, which @() around
            # the call would not unroll.
            $localStates = Get-ObjectPropertyValue -InputObject $state -Name 'LocalStates'
            $remoteStates = Get-ObjectPropertyValue -InputObject $state -Name 'RemoteStates'
            foreach ($entry in @($localStates) + @($remoteStates)) {
                if ($null -eq $entry) {
                    continue
                }
                $requester = [string](Get-ObjectPropertyValue -InputObject $entry -Name 'Requester')
                if ([string](Get-ObjectPropertyValue -InputObject $entry -Name 'State') -ne 'Active' -and $requester -and -not $requesters.Contains($requester)) {
                    $requesters.Add($requester)
                }
            }
            $components.Add([ordered]@{
                    component           = [string]$state.Component
                    state               = [string]$state.State
                    inactive_requesters = $requesters.ToArray()
                })
        }
    }
    catch {
        Add-CollectionError -Section $Section -Reason $_
        return $null
    }
    return , $components.ToArray()
}

function ConvertTo-CopyFacts {
    <#
    .SYNOPSIS
        Converts Get-MailboxDatabaseCopyStatus objects to database, server, status, queue lengths and content index state.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object[]]
        $CopyStatus,

        [Parameter(Mandatory = $true)]
        [string]
        $Server
    )

    $copies = [System.Collections.Generic.List[object]]::new()
    foreach ($copy in @($CopyStatus)) {
        if ($null -eq $copy) {
            continue
        }
        $copies.Add([ordered]@{
                database            = [string](Get-ObjectPropertyValue -InputObject $copy -Name 'DatabaseName')
                server              = $Server
                status              = [string](Get-ObjectPropertyValue -InputObject $copy -Name 'Status')
                copy_queue_length   = Get-ObjectPropertyValue -InputObject $copy -Name 'CopyQueueLength'
                replay_queue_length = Get-ObjectPropertyValue -InputObject $copy -Name 'ReplayQueueLength'
                content_index_state = [string](Get-ObjectPropertyValue -InputObject $copy -Name 'ContentIndexState')
            })
    }
    return , $copies.ToArray()
}

function Get-OwnCopyFacts {
    <#
    .SYNOPSIS
        Returns this server's database copies (Get-MailboxDatabaseCopyStatus -Server), or $null.
    #>
    [CmdletBinding()]
    param ()

    try {
        return ConvertTo-CopyFacts -CopyStatus @(Get-MailboxDatabaseCopyStatus -Server $env:COMPUTERNAME) -Server $env:COMPUTERNAME
    }
    catch {
        Add-CollectionError -Section 'copies' -Reason $_
        return $null
    }
}

function Get-ClusterNodeFacts {
    <#
    .SYNOPSIS
        Returns the name and state of this server's failover cluster node, or $null.
    #>
    [CmdletBinding()]
    param ()

    try {
        Import-Module -Name 'FailoverClusters'
        $node = Get-ClusterNode -Name $env:COMPUTERNAME
        return [ordered]@{
            name  = [string]$node.Name
            state = [string]$node.State
        }
    }
    catch {
        Add-CollectionError -Section 'cluster_node' -Reason $_
        return $null
    }
}

function Enable-LocalhostCertificateBypass {
    <#
    .SYNOPSIS
        Compiles a certificate callback that accepts any certificate, for requests to localhost only.
    .DESCRIPTION
        The Exchange certificate does not name "localhost". A compiled callback is used because a
        script block callback can run on a thread without a runspace and then fails.
    #>
    [CmdletBinding()]
    param ()

    if ($null -eq ('ExchangePatchLocalhostCertificate' -as [type])) {
        Add-Type -TypeDefinition @'
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

public static class ExchangePatchLocalhostCertificate
{
    public static bool Accept(object sender, X509Certificate certificate, X509Chain chain, SslPolicyErrors errors)
    {
        return true;
    }
}
'@
    }
    return [System.Delegate]::CreateDelegate([System.Net.Security.RemoteCertificateValidationCallback], [ExchangePatchLocalhostCertificate].GetMethod('Accept'))
}

function Invoke-HealthCheckProbe {
    <#
    .SYNOPSIS
        Requests one healthcheck.htm on localhost and returns its HTTP status code (or the error).
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Name,

        [Parameter(Mandatory = $true)]
        [string]
        $Url,

        [Parameter(Mandatory = $true)]
        [System.Net.Security.RemoteCertificateValidationCallback]
        $Callback
    )

    $probe = [ordered]@{
        name        = $Name
        url         = $Url
        status_code = $null
        error       = $null
    }
    $response = $null
    try {
        $request = [System.Net.HttpWebRequest][System.Net.WebRequest]::Create($Url)
        $request.Method = 'GET'
        $request.Timeout = 60000
        $request.ServerCertificateValidationCallback = $Callback
        $response = $request.GetResponse()
        $probe.status_code = [int]$response.StatusCode
    }
    catch {
        # A 4xx/5xx answer is a WebException with the response; PowerShell may wrap it in a
        # MethodInvocationException, so the chain is searched for it.
        $exception = $_.Exception
        while ($null -ne $exception -and $exception -isnot [System.Net.WebException]) {
            $exception = $exception.InnerException
        }
        $errorResponse = $null
        if ($null -ne $exception) {
            $errorResponse = $exception.Response
        }
        if ($null -ne $errorResponse) {
            $probe.status_code = [int]$errorResponse.StatusCode
            $errorResponse.Close()
        }
        else {
            $probe.error = ($_.Exception.Message -replace '\s*[\r\n]+\s*', ' ').Trim()
        }
    }
    finally {
        if ($null -ne $response) {
            $response.Close()
        }
    }
    return $probe
}

function Get-WebHealthFacts {
    <#
    .SYNOPSIS
        Requests OWA and ECP healthcheck.htm on localhost; 500 there is the signature of an SU whose files were not updated.
    #>
    [CmdletBinding()]
    param ()

    try {
        $callback = Enable-LocalhostCertificateBypass
        return @(
            Invoke-HealthCheckProbe -Name 'owa' -Url 'https://localhost/owa/healthcheck.htm' -Callback $callback
            Invoke-HealthCheckProbe -Name 'ecp' -Url 'https://localhost/ecp/healthcheck.htm' -Callback $callback
        )
    }
    catch {
        Add-CollectionError -Section 'web' -Reason $_
        return $null
    }
}

$install = Get-ExchangeInstallFacts
$result = [ordered]@{
    collector    = 'Get-ExchangePatchPostcheckFacts'
    hostname     = $env:COMPUTERNAME
    collected_at = (Get-Date).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    exchange     = $install
    watermarks   = Get-SetupWatermarkFacts
}
if (-not $BuildOnly) {
    $cmdletsLoaded = Import-ExchangeSnapIn
    $result.cmdlets_loaded = $cmdletsLoaded
    $result.services = Get-ServiceFacts -Names $ServiceNames
    if ($cmdletsLoaded) {
        $install.admin_display_version = Get-AdminDisplayVersion
        $result.service_health = Get-ServiceHealthFacts
        $result.components = Get-ComponentStateFacts -Server $env:COMPUTERNAME -Section 'components'
        if ($Mode -eq 'dag') {
            $result.copies = Get-OwnCopyFacts
        }
    }
    if ($Mode -eq 'dag') {
        $result.cluster_node = Get-ClusterNodeFacts
    }
    if ($Mode -ne 'edge') {
        $result.web = Get-WebHealthFacts
    }
}
$result.errors = $script:CollectionErrors.ToArray()

if ($null -ne $ansibleContext) {
    $Ansible.Result = $result
}
else {
    $result
}
