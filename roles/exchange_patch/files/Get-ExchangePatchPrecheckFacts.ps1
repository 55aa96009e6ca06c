<#
.SYNOPSIS
    Collects the read-only facts the patch pre-checks decide on (patch-procedure.md section 1).

.DESCRIPTION
    Thin, read-only collector for role exchange_patch. It reads the free space of the system
    and install drives, the three pending-reboot locations, the setup watermark values of the
    role keys, running setup and installer processes, the start mode and status of the
    Exchange, IIS and search services (recorded for the repair step), Test-ServiceHealth, the
    .NET Framework release, the ExSetup.exe FileVersion and AdminDisplayVersion, the Windows
    Installer cache files of the installed Exchange packages, the server component states and,
    on a DAG member, the copy status, ServerWideOffline state and cluster node of every member.

    It decides nothing: module_utils/exchange_remediation/patch_checks.py judges the facts on
    the controller. It changes nothing: registry, CIM and file reads and Get-*/Test-* cmdlets
    only. Every section runs in its own try/catch; a fact that cannot be read is returned as
    $null and the reason is added to 'errors' as "section: reason".

.PARAMETER ServiceNames
    Names or wildcard patterns of the services to record.

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary placed in $Ansible.Result (or written to
    the output stream when run by hand).

.EXAMPLE
    .\Get-ExchangePatchPrecheckFacts.ps1 -ServiceNames 'MSExchange*', 'W3SVC'

.NOTES
    Requires Windows PowerShell 5.1 and the Exchange Management Shell snap-in; cluster node
    states need the FailoverClusters module (RSAT-Clustering-PowerShell) on DAG members.
#>
[CmdletBinding()]
param (
    [Parameter()]
    [string[]]
    $ServiceNames = @('MSExchange*', 'W3SVC', 'WAS', 'IISADMIN', 'HostControllerService', 'FMS')
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

function Get-DiskFacts {
    <#
    .SYNOPSIS
        Returns free and total bytes of the system drive and of the drive Exchange is installed on.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [string]
        $InstallPath
    )

    $systemDrive = ([string]$env:SystemDrive).ToUpperInvariant()
    $installDrive = $null
    if (-not [string]::IsNullOrEmpty($InstallPath)) {
        $installDrive = ([System.IO.Path]::GetPathRoot($InstallPath)).TrimEnd('\').ToUpperInvariant()
    }
    $disks = [System.Collections.Generic.List[object]]::new()
    try {
        foreach ($drive in @($systemDrive, $installDrive) | Where-Object { $_ } | Select-Object -Unique) {
            $disk = Get-CimInstance -ClassName 'Win32_LogicalDisk' -Filter ("DeviceID='{0}'" -f $drive)
            if ($null -eq $disk) {
                Add-CollectionError -Section 'disks' -Reason ('drive {0} not found' -f $drive)
                continue
            }
            $disks.Add([ordered]@{
                    drive      = $drive
                    free_bytes = [long]$disk.FreeSpace
                    size_bytes = [long]$disk.Size
                    system     = ($drive -eq $systemDrive)
                    install    = ($drive -eq $installDrive)
                })
        }
    }
    catch {
        Add-CollectionError -Section 'disks' -Reason $_
        return $null
    }
    return , $disks.ToArray()
}

function Get-PendingRebootFacts {
    <#
    .SYNOPSIS
        Reads the three pending-reboot locations of patch-procedure.md section 1.
    #>
    [CmdletBinding()]
    param ()

    try {
        $renames = Get-RegistryValue -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -Name 'PendingFileRenameOperations'
        return [ordered]@{
            component_based_servicing = Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending'
            windows_update            = Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
            pending_file_rename       = (@($renames | Where-Object { -not [string]::IsNullOrWhiteSpace([string]$_) }).Count -gt 0)
        }
    }
    catch {
        Add-CollectionError -Section 'pending_reboot' -Reason $_
        return $null
    }
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

function Get-SetupProcessFacts {
    <#
    .SYNOPSIS
        Lists running ExSetup, Setup and msiexec processes with their command lines.
    #>
    [CmdletBinding()]
    param ()

    $processes = [System.Collections.Generic.List[object]]::new()
    try {
        $filter = "Name LIKE 'ExSetup%' OR Name = 'Setup.exe' OR Name = 'msiexec.exe'"
        foreach ($process in @(Get-CimInstance -ClassName 'Win32_Process' -Filter $filter)) {
            $processes.Add([ordered]@{
                    name         = ([string]$process.Name) -replace '\.exe$', ''
                    id           = [int]$process.ProcessId
                    command_line = [string]$process.CommandLine
                })
        }
    }
    catch {
        Add-CollectionError -Section 'setup_processes' -Reason $_
        return $null
    }
    return , $processes.ToArray()
}

function Get-InstallerInProgress {
    <#
    .SYNOPSIS
        Returns $true while Windows Installer records an installation in progress (the InProgress key).
    #>
    [CmdletBinding()]
    param ()

    try {
        return (Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Installer\InProgress')
    }
    catch {
        Add-CollectionError -Section 'installer_in_progress' -Reason $_
        return $null
    }
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

function Get-InstallerCacheFacts {
    <#
    .SYNOPSIS
        Checks that the cached .msi and .msp of every installed Exchange package exist in %WINDIR%\Installer.
    .DESCRIPTION
        Products come from the Windows Installer registry of the machine (UserData\S-1-5-18), filtered by
        display name like CSS-Exchange SetupAssist Test-MsiCacheFiles; the patches applied to them are
        listed under each product's Patches key and their cache file is the LocalPackage of the patch.
    #>
    [CmdletBinding()]
    param ()

    $userData = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Installer\UserData\S-1-5-18'
    $displayNames = @('*Exchange*', 'Microsoft Server Speech*', 'Microsoft Unified Communications*', 'Microsoft Lync Server*')
    $packages = [System.Collections.Generic.List[object]]::new()
    try {
        $productsKey = Join-Path -Path $userData -ChildPath 'Products'
        if (-not (Test-Path -LiteralPath $productsKey)) {
            Add-CollectionError -Section 'installer_cache' -Reason 'no Windows Installer product registry found'
            return $null
        }
        foreach ($product in (Get-ChildItem -LiteralPath $productsKey)) {
            $propertiesKey = Join-Path -Path $product.PSPath -ChildPath 'InstallProperties'
            if (-not (Test-Path -LiteralPath $propertiesKey)) {
                continue
            }
            $properties = Get-ItemProperty -LiteralPath $propertiesKey
            $displayName = [string](Get-ObjectPropertyValue -InputObject $properties -Name 'DisplayName')
            if (-not ($displayNames | Where-Object { $displayName -like $_ })) {
                continue
            }
            $localPackage = [string](Get-ObjectPropertyValue -InputObject $properties -Name 'LocalPackage')
            $packages.Add([ordered]@{
                    name          = $displayName
                    kind          = 'msi'
                    local_package = $localPackage
                    present       = (-not [string]::IsNullOrEmpty($localPackage)) -and (Test-Path -LiteralPath $localPackage -PathType Leaf)
                })
            $patchesKey = Join-Path -Path $product.PSPath -ChildPath 'Patches'
            if (-not (Test-Path -LiteralPath $patchesKey)) {
                continue
            }
            foreach ($patch in (Get-ChildItem -LiteralPath $patchesKey)) {
                $patchProperties = Get-ItemProperty -LiteralPath $patch.PSPath
                $patchName = [string](Get-ObjectPropertyValue -InputObject $patchProperties -Name 'DisplayName')
                $patchKey = Join-Path -Path $userData -ChildPath ('Patches\{0}' -f $patch.PSChildName)
                $patchPackage = [string](Get-RegistryValue -Path $patchKey -Name 'LocalPackage')
                $packages.Add([ordered]@{
                        name          = $(if ($patchName) { $patchName } else { '{0} patch {1}' -f $displayName, $patch.PSChildName })
                        kind          = 'msp'
                        local_package = $patchPackage
                        present       = (-not [string]::IsNullOrEmpty($patchPackage)) -and (Test-Path -LiteralPath $patchPackage -PathType Leaf)
                    })
            }
        }
    }
    catch {
        Add-CollectionError -Section 'installer_cache' -Reason $_
        return $null
    }
    return , $packages.ToArray()
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

function Get-DagFacts {
    <#
    .SYNOPSIS
        Returns the DAG of this server with every member's copy status, ServerWideOffline state and cluster node state.
    .DESCRIPTION
        Returns $null on a server that is not a DAG member. A member that cannot be read is reported
        in 'errors' as dag.<section>.<member>, so it is never taken for healthy.
    #>
    [CmdletBinding()]
    param ()

    try {
        $mailboxServer = Get-MailboxServer -Identity $env:COMPUTERNAME
        $dagId = Get-ObjectPropertyValue -InputObject $mailboxServer -Name 'DatabaseAvailabilityGroup'
        if ($null -eq $dagId -or [string]::IsNullOrEmpty([string]$dagId)) {
            return $null
        }
        $dag = Get-DatabaseAvailabilityGroup -Identity ([string]$dagId)
    }
    catch {
        Add-CollectionError -Section 'dag' -Reason $_
        return $null
    }

    $members = [System.Collections.Generic.List[string]]::new()
    $servers = Get-ObjectPropertyValue -InputObject $dag -Name 'Servers'
    foreach ($member in @($servers)) {
        if ($null -ne $member) {
            $memberName = Get-ObjectPropertyValue -InputObject $member -Name 'Name'
            if ($null -eq $memberName) {
                $memberName = [string]$member
            }
            $members.Add([string]$memberName)
        }
    }
    $copies = [System.Collections.Generic.List[object]]::new()
    $serverWideOffline = [ordered]@{}
    foreach ($member in $members) {
        try {
            $status = @(Get-MailboxDatabaseCopyStatus -Server $member)
            foreach ($copy in (ConvertTo-CopyFacts -CopyStatus $status -Server $member)) {
                $copies.Add($copy)
            }
        }
        catch {
            Add-CollectionError -Section ('dag.copies.{0}' -f $member) -Reason $_
        }
        if ($member -eq $env:COMPUTERNAME) {
            continue
        }
        try {
            $serverWideOffline[$member] = [string](Get-ServerComponentState -Identity $member -Component 'ServerWideOffline').State
        }
        catch {
            Add-CollectionError -Section ('dag.server_wide_offline.{0}' -f $member) -Reason $_
        }
    }
    $nodes = [System.Collections.Generic.List[object]]::new()
    try {
        Import-Module -Name 'FailoverClusters'
        foreach ($node in @(Get-ClusterNode)) {
            $nodes.Add([ordered]@{
                    name  = [string]$node.Name
                    state = [string]$node.State
                })
        }
    }
    catch {
        Add-CollectionError -Section 'dag.cluster_nodes' -Reason $_
    }
    return [ordered]@{
        name                = [string](Get-ObjectPropertyValue -InputObject $dag -Name 'Name')
        members             = $members.ToArray()
        cluster_nodes       = $nodes.ToArray()
        server_wide_offline = $serverWideOffline
        copies              = $copies.ToArray()
    }
}

$install = Get-ExchangeInstallFacts
$cmdletsLoaded = Import-ExchangeSnapIn
$components = $null
$serviceHealth = $null
$dag = $null
if ($cmdletsLoaded) {
    $install.admin_display_version = Get-AdminDisplayVersion
    $components = Get-ComponentStateFacts -Server $env:COMPUTERNAME -Section 'components'
    $serviceHealth = Get-ServiceHealthFacts
    if (-not $install.edge) {
        $dag = Get-DagFacts
    }
}

$result = [ordered]@{
    collector             = 'Get-ExchangePatchPrecheckFacts'
    hostname              = $env:COMPUTERNAME
    collected_at          = (Get-Date).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    cmdlets_loaded        = $cmdletsLoaded
    exchange              = $install
    disks                 = Get-DiskFacts -InstallPath ([string]$install.install_path)
    pending_reboot        = Get-PendingRebootFacts
    watermarks            = Get-SetupWatermarkFacts
    setup_processes       = Get-SetupProcessFacts
    installer_in_progress = Get-InstallerInProgress
    services              = Get-ServiceFacts -Names $ServiceNames
    service_health        = $serviceHealth
    dotnet_release        = Get-DotNetFrameworkRelease
    installer_cache       = Get-InstallerCacheFacts
    components            = $components
    dag                   = $dag
    errors                = $script:CollectionErrors.ToArray()
}

if ($null -ne $ansibleContext) {
    $Ansible.Result = $result
}
else {
    $result
}
