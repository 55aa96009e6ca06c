<#
.SYNOPSIS
    Turns on the organisation and server switches of the Exchange Emergency Mitigation Service.

.DESCRIPTION
    Change step of the exchange_mitigation role, run only when exchange_mitigation_enable_service
    is true (mitigations.md section 9): both switches must be on for the service to act.
    Set-OrganizationConfig -MitigationsEnabled $true runs only when the organisation switch is
    off, Set-ExchangeServer -MitigationsEnabled $true only when this server's switch is off. The
    MSExchangeMitigation Windows service itself is set by ansible.windows.win_service.

    Check mode: win_powershell runs the script with -WhatIf, so ShouldProcess reports each change
    instead of making it. $Ansible.Changed is true only when a switch was (or would be) turned on.
    A build without the service (no MitigationsEnabled property) or a session without the
    Exchange cmdlets is an error: the script throws with the reason.

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary with organization_changed, server_changed,
    changed and check_mode.

.EXAMPLE
    .\Set-ExchangeMitigationService.ps1 -WhatIf
#>
[CmdletBinding(SupportsShouldProcess)]
param ()

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
if ($null -ne $ansibleContext) {
    # win_powershell assumes a change unless told otherwise; set at the end from what happened.
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

function Get-MitigationSwitch {
    <#
    .SYNOPSIS
        Returns the MitigationsEnabled value of an Exchange object, or throws when the build has no such property.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $InputObject,

        [Parameter(Mandatory = $true)]
        [string]
        $Scope
    )

    $value = Get-ObjectPropertyValue -InputObject $InputObject -Name 'MitigationsEnabled'
    if ($null -eq $value) {
        throw ('the {0} has no MitigationsEnabled setting: this build has no Emergency Mitigation Service' -f $Scope)
    }
    return [bool]$value
}

function Enable-OrganizationMitigation {
    <#
    .SYNOPSIS
        Turns on the organisation switch when it is off; returns $true when it changed (or would).
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param ()

    if (Get-MitigationSwitch -InputObject (Get-OrganizationConfig) -Scope 'organisation') {
        return $false
    }
    if ($PSCmdlet.ShouldProcess('Exchange organisation', 'Set-OrganizationConfig -MitigationsEnabled $true')) {
        Set-OrganizationConfig -MitigationsEnabled $true
    }
    return $true
}

function Enable-ServerMitigation {
    <#
    .SYNOPSIS
        Turns on this server's switch when it is off; returns $true when it changed (or would).
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param ()

    if (Get-MitigationSwitch -InputObject (Get-ExchangeServer -Identity $env:COMPUTERNAME) -Scope 'server') {
        return $false
    }
    if ($PSCmdlet.ShouldProcess($env:COMPUTERNAME, 'Set-ExchangeServer -MitigationsEnabled $true')) {
        Set-ExchangeServer -Identity $env:COMPUTERNAME -MitigationsEnabled $true
    }
    return $true
}

if (-not (Import-ExchangeSnapIn)) {
    throw ('the Exchange Management Shell cmdlets are not available: {0}' -f ($script:ReadErrors.ToArray() -join '; '))
}

$result = [ordered]@{
    organization_changed = Enable-OrganizationMitigation
    server_changed       = $false
    changed              = $false
    check_mode           = [bool]$WhatIfPreference
}
$result.server_changed = Enable-ServerMitigation
$result.changed = $result.organization_changed -or $result.server_changed

if ($null -ne $ansibleContext) {
    $Ansible.Changed = $result.changed
    $Ansible.Result = $result
}
else {
    $result
}
