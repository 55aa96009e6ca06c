<#
.SYNOPSIS
    Reads the state of the Exchange Emergency Mitigation Service on this server.

.DESCRIPTION
    Read-only check of the exchange_mitigation role (mitigations.md section 9): the organisation
    switch (Get-OrganizationConfig MitigationsEnabled), the server switch and the mitigations the
    service applied or blocked (Get-ExchangeServer MitigationsEnabled, MitigationsApplied,
    MitigationsBlocked, DataCollectionEnabled), and the MSExchangeMitigation Windows service
    (status and start mode). The Exchange cmdlets come from the Exchange Management snap-in,
    loaded into this session the way the exchange_facts collector loads it.

    It changes nothing. A value it cannot read is returned as $null with the reason in 'errors'.
    $Ansible.Changed is always $false.

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary with enabled, organization_enabled,
    server_enabled, service_present, service_status, service_start_mode, applied, blocked,
    data_collection_enabled, cmdlets_loaded and errors.

.EXAMPLE
    .\Get-ExchangeMitigationService.ps1
#>
[CmdletBinding()]
param ()

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
if ($null -ne $ansibleContext) {
    # Read-only check: it never reports a change.
    $Ansible.Changed = $false
}

$script:ReadErrors = [System.Collections.Generic.List[string]]::new()

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

function Add-ReadError {
    <#
    .SYNOPSIS
        Records why a value could not be read, as one line "section: reason".
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Section,

        [Parameter(Mandatory = $true)]
        [object]
        $Reason
    )

    $message = [string]$Reason
    if ($Reason -is [System.Management.Automation.ErrorRecord]) {
        $message = $Reason.Exception.Message
    }
    $script:ReadErrors.Add(('{0}: {1}' -f $Section, ($message -replace '\s*[\r\n]+\s*', ' ').Trim()))
}

function Import-ExchangeSnapIn {
    <#
    .SYNOPSIS
        Loads the Exchange Management snap-in into this session; returns $true when Get-ExchangeServer is usable.
    #>
    [CmdletBinding()]
    param ()

    $snapInName = 'Microsoft.Exchange.Management.PowerShell.SnapIn'
    try {
        if ($null -ne (Get-Command -Name 'Get-ExchangeServer' -ErrorAction SilentlyContinue)) {
            return $true
        }
        if ($null -eq (Get-PSSnapin -Registered -Name $snapInName -ErrorAction SilentlyContinue)) {
            Add-ReadError -Section 'cmdlets' -Reason ('snap-in {0} is not registered' -f $snapInName)
            return $false
        }
        Add-PSSnapin -Name $snapInName
        return ($null -ne (Get-Command -Name 'Get-ExchangeServer' -ErrorAction SilentlyContinue))
    }
    catch {
        Add-ReadError -Section 'cmdlets' -Reason $_
        return $false
    }
}

function ConvertTo-NullableFlag {
    <#
    .SYNOPSIS
        Returns a property's value as $true or $false, or $null when the property is absent (a build without the service).
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

    $value = Get-ObjectPropertyValue -InputObject $InputObject -Name $Name
    if ($null -eq $value) {
        return $null
    }
    return [bool]$value
}

function Get-StringList {
    <#
    .SYNOPSIS
        Returns a multi-valued property as an array of strings, or $null when the property is absent.
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

    if ($null -eq $InputObject -or $null -eq $InputObject.PSObject.Properties[$Name]) {
        return $null
    }
    $strings = [System.Collections.Generic.List[string]]::new()
    foreach ($item in @($InputObject.PSObject.Properties[$Name].Value)) {
        if ($null -ne $item) {
            $strings.Add([string]$item)
        }
    }
    return , $strings.ToArray()
}

function Get-MitigationSwitches {
    <#
    .SYNOPSIS
        Reads the organisation and server switches of the Emergency Mitigation Service and what it applied or blocked.
    #>
    [CmdletBinding()]
    param ()

    $switches = [ordered]@{
        organization_enabled    = $null
        server_enabled          = $null
        applied                 = $null
        blocked                 = $null
        data_collection_enabled = $null
    }
    try {
        $switches.organization_enabled = ConvertTo-NullableFlag -InputObject (Get-OrganizationConfig) -Name 'MitigationsEnabled'
    }
    catch {
        Add-ReadError -Section 'organization' -Reason $_
    }
    try {
        $server = Get-ExchangeServer -Identity $env:COMPUTERNAME
        $switches.server_enabled = ConvertTo-NullableFlag -InputObject $server -Name 'MitigationsEnabled'
        $switches.applied = Get-StringList -InputObject $server -Name 'MitigationsApplied'
        $switches.blocked = Get-StringList -InputObject $server -Name 'MitigationsBlocked'
        $switches.data_collection_enabled = ConvertTo-NullableFlag -InputObject $server -Name 'DataCollectionEnabled'
    }
    catch {
        Add-ReadError -Section 'server' -Reason $_
    }
    return $switches
}

function Get-MitigationServiceState {
    <#
    .SYNOPSIS
        Returns whether the MSExchangeMitigation Windows service exists, its status and its start mode.
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
        Add-ReadError -Section 'service' -Reason $_
        $state.service_present = $null
    }
    return $state
}

$cmdletsLoaded = Import-ExchangeSnapIn
$switches = [ordered]@{
    organization_enabled    = $null
    server_enabled          = $null
    applied                 = $null
    blocked                 = $null
    data_collection_enabled = $null
}
if ($cmdletsLoaded) {
    $switches = Get-MitigationSwitches
}
$service = Get-MitigationServiceState

$enabled = $null
if ($switches.organization_enabled -eq $false -or $switches.server_enabled -eq $false) {
    $enabled = $false
}
elseif ($switches.organization_enabled -eq $true -and $switches.server_enabled -eq $true) {
    $enabled = $true
}

$result = [ordered]@{
    enabled                 = $enabled
    organization_enabled    = $switches.organization_enabled
    server_enabled          = $switches.server_enabled
    service_present         = $service.service_present
    service_status          = $service.service_status
    service_start_mode      = $service.service_start_mode
    applied                 = $switches.applied
    blocked                 = $switches.blocked
    data_collection_enabled = $switches.data_collection_enabled
    cmdlets_loaded          = $cmdletsLoaded
    errors                  = $script:ReadErrors.ToArray()
}

if ($null -ne $ansibleContext) {
    $Ansible.Result = $result
}
else {
    $result
}
