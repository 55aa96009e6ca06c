<#
.SYNOPSIS
    Takes this Exchange server out of maintenance: DAG member, stand-alone server or Edge Transport.

.DESCRIPTION
    Implements patch-procedure.md section 2.3 on the local server. Every step runs even when an
    earlier one failed (each is wrapped on its own and its error collected), because a server
    half out of maintenance is worse than one that is fully in or fully out:

    1 ServerWideOffline Active (requester Maintenance)
    2 UMCallRouter Active (2013/2016, DAG member)
    3 StopDagServerMaintenance.ps1 -serverName (resumes the cluster node, activation policy
      Unrestricted, resumes copies; DAG member)
    4 HubTransport Active (requester Maintenance)
    5 restart MSExchangeTransport (and MSExchangeFrontEndTransport when it was restarted on entry)
    6 Monitoring and RecoveryActionsEnabled Active (requester Functional: an interrupted setup
      can leave them down)
    7 restore the recorded DatabaseCopyAutoActivationPolicy when it was not Unrestricted (DAG)
    8 optionally RedistributeActiveDatabases.ps1 -BalanceDbsByActivationPreference (DAG)

    Stand-alone servers skip 2, 3, 7 and 8; Edge Transport servers run 4 to 6. A step whose
    state is already reached is skipped, so a server that is not in maintenance is left as it
    is. Whether the server is back in service is read back by Get-ExchangeMaintenanceState.ps1
    and decided by patch_checks.py. Supports -WhatIf (check mode).

.PARAMETER Mode
    dag, standalone or edge.

.PARAMETER RestoreActivationPolicy
    The DatabaseCopyAutoActivationPolicy recorded on entry; empty when unknown.

.PARAMETER ActivateUMCallRouter
    Set UMCallRouter Active (Exchange 2013 and 2016).

.PARAMETER RestartFrontEndTransport
    Also restart MSExchangeFrontEndTransport.

.PARAMETER Rebalance
    Run RedistributeActiveDatabases.ps1 -BalanceDbsByActivationPreference for the DAG.

.OUTPUTS
    $Ansible.Result: mode, server, steps (name, command, status, detail) and errors.

.EXAMPLE
    .\Exit-ExchangeMaintenance.ps1 -Mode dag -RestoreActivationPolicy IntrasiteOnly
#>
[CmdletBinding(SupportsShouldProcess)]
param (
    [Parameter(Mandatory = $true)]
    [ValidateSet('dag', 'standalone', 'edge')]
    [string]
    $Mode,

    [Parameter()]
    [AllowEmptyString()]
    [string]
    $RestoreActivationPolicy = '',

    [Parameter()]
    [bool]
    $ActivateUMCallRouter = $false,

    [Parameter()]
    [bool]
    $RestartFrontEndTransport = $false,

    [Parameter()]
    [bool]
    $Rebalance = $false
)

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
$script:Steps = [System.Collections.Generic.List[object]]::new()
$script:StepErrors = [System.Collections.Generic.List[string]]::new()
$script:Changed = $false
$script:LastStepStatus = $null

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

function ConvertTo-OneLine {
    <#
    .SYNOPSIS
        Returns the message of an error record or exception as one trimmed line.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
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
        return 'unknown error'
    }
    return ($message -replace '\s*[\r\n]+\s*', ' ').Trim()
}

function Import-ExchangeSnapIn {
    <#
    .SYNOPSIS
        Loads the Exchange Management snap-in into this session; throws when its cmdlets are not usable.
    #>
    [CmdletBinding()]
    param ()

    if ($null -ne (Get-Command -Name 'Get-ExchangeServer' -ErrorAction SilentlyContinue)) {
        return
    }
    Add-PSSnapin -Name 'Microsoft.Exchange.Management.PowerShell.SnapIn'
    if ($null -eq (Get-Command -Name 'Get-ExchangeServer' -ErrorAction SilentlyContinue)) {
        throw 'the Exchange Management Shell cmdlets are not available after loading the snap-in'
    }
}

function Get-ExchangeScriptsFolder {
    <#
    .SYNOPSIS
        Returns the Exchange Scripts folder ($ExScripts of the Exchange Management Shell).
    #>
    [CmdletBinding()]
    param ()

    $setup = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\ExchangeServer\v15\Setup'
    $installPath = [string](Get-ObjectPropertyValue -InputObject $setup -Name 'MsiInstallPath')
    if ([string]::IsNullOrEmpty($installPath)) {
        throw 'MsiInstallPath is missing under HKLM:\SOFTWARE\Microsoft\ExchangeServer\v15\Setup'
    }
    return (Join-Path -Path $installPath -ChildPath 'Scripts')
}

function Get-ComponentState {
    <#
    .SYNOPSIS
        Returns the combined state (Active, Inactive, Draining) of one server component, or $null when it cannot be read.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Component
    )

    try {
        return [string](Get-ServerComponentState -Identity $env:COMPUTERNAME -Component $Component).State
    }
    catch {
        return $null
    }
}

function Invoke-MicrosoftScript {
    <#
    .SYNOPSIS
        Runs one of Microsoft's Exchange scripts ($ExScripts) with its own defaults for strict mode and errors.
    .DESCRIPTION
        Set-StrictMode and $ErrorActionPreference are inherited by child scopes; Microsoft's DAG
        scripts are written for the Exchange Management Shell defaults (no strict mode, Continue),
        so they run in a child scope that restores those. Their fatal errors are terminating
        (Write-Error -ErrorAction Stop, Log-Error -Stop) and reach the caller's catch.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Path,

        [Parameter(Mandatory = $true)]
        [hashtable]
        $Arguments
    )

    if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) {
        throw ('{0} not found' -f $Path)
    }
    & {
        Set-StrictMode -Off
        $ErrorActionPreference = 'Continue'
        & $Path @Arguments
    } | Out-Null
}

function Invoke-MaintenanceStep {
    <#
    .SYNOPSIS
        Runs one maintenance step, honouring -WhatIf (check mode), and records what happened.
    .DESCRIPTION
        Returns $true unless the step failed. A step with a skip reason is recorded as skipped;
        under -WhatIf it is recorded as would_run and not run.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Name,

        [Parameter(Mandatory = $true)]
        [string]
        $Command,

        [Parameter(Mandatory = $true)]
        [scriptblock]
        $Action,

        [Parameter()]
        [AllowEmptyString()]
        [string]
        $SkipReason = ''
    )

    $record = [ordered]@{
        name    = $Name
        command = $Command
        status  = $null
        detail  = $null
    }
    if (-not [string]::IsNullOrEmpty($SkipReason)) {
        $record.status = 'skipped'
        $record.detail = $SkipReason
    }
    elseif (-not $PSCmdlet.ShouldProcess($env:COMPUTERNAME, $Command)) {
        # Check mode: reported as a change that would be made, like any Ansible module does.
        $record.status = 'would_run'
        $script:Changed = $true
    }
    else {
        try {
            # Whatever the step writes to the output stream is dropped: the function returns
            # only whether the step failed.
            $null = & $Action
            $record.status = 'done'
            $script:Changed = $true
        }
        catch {
            $record.status = 'failed'
            $record.detail = ConvertTo-OneLine -Reason $_
            $script:StepErrors.Add(('{0}: {1}' -f $Name, $record.detail))
        }
    }
    $script:Steps.Add($record)
    $script:LastStepStatus = $record.status
    return ($record.status -ne 'failed')
}

function Skip-MaintenanceStep {
    <#
    .SYNOPSIS
        Records a step that was not run because an earlier step failed.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Name,

        [Parameter(Mandatory = $true)]
        [string]
        $Command
    )

    $script:Steps.Add([ordered]@{
            name    = $Name
            command = $Command
            status  = 'not_run'
            detail  = 'an earlier step failed'
        })
}

function Get-ActiveSkipReason {
    <#
    .SYNOPSIS
        Returns "<component> is already Active" when it is, else an empty string (the step then runs).
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Component
    )

    if ((Get-ComponentState -Component $Component) -eq 'Active') {
        return ('{0} is already Active' -f $Component)
    }
    return ''
}

$server = $env:COMPUTERNAME
$result = [ordered]@{
    mode   = $Mode
    server = $server
    steps  = @()
    errors = @()
}
try {
    Import-ExchangeSnapIn
}
catch {
    # Every step below then fails on its own and says so; none is silently skipped.
    $script:StepErrors.Add(('exchange.cmdlets: {0}' -f (ConvertTo-OneLine -Reason $_)))
}

if ($Mode -ne 'edge') {
    [void](Invoke-MaintenanceStep -Name 'server_wide_offline_active' `
            -Command ('Set-ServerComponentState {0} -Component ServerWideOffline -State Active -Requester Maintenance' -f $server) `
            -SkipReason (Get-ActiveSkipReason -Component 'ServerWideOffline') -Action {
            Set-ServerComponentState -Identity $server -Component 'ServerWideOffline' -State 'Active' -Requester 'Maintenance'
        })
}

if ($Mode -eq 'dag') {
    $skip = 'no Unified Messaging on this version'
    if ($ActivateUMCallRouter) {
        $skip = Get-ActiveSkipReason -Component 'UMCallRouter'
    }
    [void](Invoke-MaintenanceStep -Name 'um_call_router_active' `
            -Command ('Set-ServerComponentState {0} -Component UMCallRouter -State Active -Requester Maintenance' -f $server) `
            -SkipReason $skip -Action {
            Set-ServerComponentState -Identity $server -Component 'UMCallRouter' -State 'Active' -Requester 'Maintenance'
        })

    $skip = ''
    try {
        Import-Module -Name 'FailoverClusters'
        $nodeState = [string](Get-ClusterNode -Name $server).State
        $policy = [string](Get-MailboxServer -Identity $server).DatabaseCopyAutoActivationPolicy
        $highAvailability = Get-ComponentState -Component 'HighAvailability'
        if ($nodeState -eq 'Up' -and $policy -ne 'Blocked' -and $highAvailability -eq 'Active') {
            $skip = 'cluster node Up, activation not Blocked, HighAvailability Active'
        }
    }
    catch {
        # State unknown: run the script, which is safe on a server that is not in maintenance.
        $skip = ''
    }
    [void](Invoke-MaintenanceStep -Name 'stop_dag_server_maintenance' `
            -Command ('StopDagServerMaintenance.ps1 -serverName {0}' -f $server) -SkipReason $skip -Action {
            Invoke-MicrosoftScript -Path (Join-Path -Path (Get-ExchangeScriptsFolder) -ChildPath 'StopDagServerMaintenance.ps1') -Arguments @{ serverName = $server }
        })
}

[void](Invoke-MaintenanceStep -Name 'hub_transport_active' `
        -Command ('Set-ServerComponentState {0} -Component HubTransport -State Active -Requester Maintenance' -f $server) `
        -SkipReason (Get-ActiveSkipReason -Component 'HubTransport') -Action {
        Set-ServerComponentState -Identity $server -Component 'HubTransport' -State 'Active' -Requester 'Maintenance'
    })
$transportChanged = ($script:LastStepStatus -eq 'done')

$transportServices = @('MSExchangeTransport')
if ($RestartFrontEndTransport -and $Mode -ne 'edge') {
    $transportServices += 'MSExchangeFrontEndTransport'
}
$skip = ''
if (-not $transportChanged) {
    $skip = 'HubTransport was not changed'
}
[void](Invoke-MaintenanceStep -Name 'restart_transport' -Command ('Restart-Service {0}' -f ($transportServices -join ', ')) `
        -SkipReason $skip -Action {
        foreach ($name in $transportServices) {
            Restart-Service -Name $name
        }
    })

foreach ($component in @('Monitoring', 'RecoveryActionsEnabled')) {
    [void](Invoke-MaintenanceStep -Name ('{0}_active' -f $component.ToLowerInvariant()) `
            -Command ('Set-ServerComponentState {0} -Component {1} -State Active -Requester Functional' -f $server, $component) `
            -SkipReason (Get-ActiveSkipReason -Component $component) -Action {
            Set-ServerComponentState -Identity $server -Component $component -State 'Active' -Requester 'Functional'
        })
}

if ($Mode -eq 'dag') {
    $skip = ''
    if ([string]::IsNullOrEmpty($RestoreActivationPolicy) -or $RestoreActivationPolicy -eq 'Unrestricted') {
        $skip = 'the recorded policy is Unrestricted (or unknown): StopDagServerMaintenance.ps1 set it'
    }
    else {
        try {
            if ([string](Get-MailboxServer -Identity $server).DatabaseCopyAutoActivationPolicy -eq $RestoreActivationPolicy) {
                $skip = 'DatabaseCopyAutoActivationPolicy is already {0}' -f $RestoreActivationPolicy
            }
        }
        catch {
            $skip = ''
        }
    }
    [void](Invoke-MaintenanceStep -Name 'restore_activation_policy' `
            -Command ('Set-MailboxServer {0} -DatabaseCopyAutoActivationPolicy {1}' -f $server, $RestoreActivationPolicy) `
            -SkipReason $skip -Action {
            Set-MailboxServer -Identity $server -DatabaseCopyAutoActivationPolicy $RestoreActivationPolicy
        })

    $skip = ''
    if (-not $Rebalance) {
        $skip = 'not asked for (PreferenceMoveFrequency rebalances on 2016 CU2 and later)'
    }
    [void](Invoke-MaintenanceStep -Name 'rebalance' `
            -Command 'RedistributeActiveDatabases.ps1 -DagName <DAG> -BalanceDbsByActivationPreference -Confirm:$false' `
            -SkipReason $skip -Action {
            $dagName = [string](Get-MailboxServer -Identity $server).DatabaseAvailabilityGroup
            $rebalanceArguments = @{
                DagName                          = $dagName
                BalanceDbsByActivationPreference = $true
                Confirm                          = $false
            }
            Invoke-MicrosoftScript -Path (Join-Path -Path (Get-ExchangeScriptsFolder) -ChildPath 'RedistributeActiveDatabases.ps1') -Arguments $rebalanceArguments
        })
}

$result.steps = $script:Steps.ToArray()
$result.errors = $script:StepErrors.ToArray()
if ($null -ne $ansibleContext) {
    $Ansible.Changed = $script:Changed
    $Ansible.Result = $result
}
else {
    $result
}
