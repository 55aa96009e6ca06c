<#
.SYNOPSIS
    Puts this Exchange server into maintenance: DAG member, stand-alone server or Edge Transport.

.DESCRIPTION
    Implements patch-procedure.md section 2.1 (DAG member) and 2.2 (stand-alone), and the Edge
    path (drain transport only), on the local server, in this order:

    DAG member:  record DatabaseCopyAutoActivationPolicy; HubTransport Draining; restart
                 MSExchangeTransport (and MSExchangeFrontEndTransport when asked); UMCallRouter
                 Draining (2013/2016, when asked); StartDagServerMaintenance.ps1 -serverName
                 -MoveComment Maintenance -pauseClusterNode [-overrideMinimumTwoCopies];
                 Redirect-Message to the target; ServerWideOffline Inactive.
    Stand-alone: HubTransport Draining; restart transport; Redirect-Message when another Mailbox
                 server of the site is given (else the queues stay: an outage window);
                 ServerWideOffline Inactive.
    Edge:        HubTransport Draining; restart MSExchangeTransport.

    A step stops the sequence when it fails; the failure is returned in 'errors' (the exit
    entry point undoes a partial entry). Steps whose state is already reached are skipped, so a
    second run changes nothing. Whether the server really is in maintenance is not assumed:
    Get-ExchangeMaintenanceState.ps1 reads it back and patch_checks.py decides.

    Supports -WhatIf: ansible.windows.win_powershell runs it that way in check mode and no
    step runs.

.PARAMETER Mode
    dag, standalone or edge.

.PARAMETER RedirectTarget
    FQDN of another Mailbox server (same AD site first) that receives the queued messages.

.PARAMETER OverrideMinimumTwoCopies
    Pass -overrideMinimumTwoCopies to StartDagServerMaintenance.ps1 (two-member DAG).

.PARAMETER DrainUMCallRouter
    Set UMCallRouter Draining (Exchange 2013 and 2016, where Unified Messaging exists).

.PARAMETER RestartFrontEndTransport
    Also restart MSExchangeFrontEndTransport after draining.

.OUTPUTS
    $Ansible.Result: mode, server, original_activation_policy, steps (name, command, status,
    detail) and errors.

.EXAMPLE
    .\Enter-ExchangeMaintenance.ps1 -Mode dag -RedirectTarget ex16-dag2.contoso.local -OverrideMinimumTwoCopies $true
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
    $RedirectTarget = '',

    [Parameter()]
    [bool]
    $OverrideMinimumTwoCopies = $false,

    [Parameter()]
    [bool]
    $DrainUMCallRouter = $false,

    [Parameter()]
    [bool]
    $RestartFrontEndTransport = $false
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

$server = $env:COMPUTERNAME
$result = [ordered]@{
    mode                       = $Mode
    server                     = $server
    original_activation_policy = $null
    steps                      = @()
    errors                     = @()
}
$ok = $true
try {
    Import-ExchangeSnapIn
}
catch {
    $script:StepErrors.Add(('exchange.cmdlets: {0}' -f (ConvertTo-OneLine -Reason $_)))
    $ok = $false
}

$hubState = $null
$offlineState = $null
$nodeState = $null
if ($ok) {
    $hubState = Get-ComponentState -Component 'HubTransport'
    $offlineState = Get-ComponentState -Component 'ServerWideOffline'
}
if ($ok -and $Mode -eq 'dag') {
    # Recorded before anything changes, so the exit can restore a policy that was not Unrestricted.
    try {
        $result.original_activation_policy = [string](Get-MailboxServer -Identity $server).DatabaseCopyAutoActivationPolicy
        Import-Module -Name 'FailoverClusters'
        $nodeState = [string](Get-ClusterNode -Name $server).State
    }
    catch {
        $script:StepErrors.Add(('read_state: {0}' -f (ConvertTo-OneLine -Reason $_)))
        $ok = $false
    }
}

$drainCommand = ('Set-ServerComponentState {0} -Component HubTransport -State Draining -Requester Maintenance' -f $server)
$transportServices = @('MSExchangeTransport')
if ($RestartFrontEndTransport -and $Mode -ne 'edge') {
    $transportServices += 'MSExchangeFrontEndTransport'
}
$restartCommand = 'Restart-Service {0}' -f ($transportServices -join ', ')
$drained = $false
if ($ok) {
    $skip = ''
    if ($hubState -eq 'Draining' -or $hubState -eq 'Inactive') {
        $skip = 'HubTransport is already {0}' -f $hubState
    }
    $ok = Invoke-MaintenanceStep -Name 'drain_hub_transport' -Command $drainCommand -SkipReason $skip -Action {
        Set-ServerComponentState -Identity $server -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'
    }
    $drained = ($script:LastStepStatus -eq 'done')
}
else {
    Skip-MaintenanceStep -Name 'drain_hub_transport' -Command $drainCommand
}

if ($ok) {
    $skip = ''
    if (-not $drained) {
        $skip = 'HubTransport was not changed'
    }
    # The transport services pick up the new component state when they restart.
    $ok = Invoke-MaintenanceStep -Name 'restart_transport' -Command $restartCommand -SkipReason $skip -Action {
        foreach ($name in $transportServices) {
            Restart-Service -Name $name
        }
    }
}
else {
    Skip-MaintenanceStep -Name 'restart_transport' -Command $restartCommand
}

if ($Mode -eq 'dag') {
    $umCommand = ('Set-ServerComponentState {0} -Component UMCallRouter -State Draining -Requester Maintenance' -f $server)
    if ($ok) {
        $skip = ''
        if (-not $DrainUMCallRouter) {
            $skip = 'no Unified Messaging on this version'
        }
        elseif ((Get-ComponentState -Component 'UMCallRouter') -ne 'Active') {
            $skip = 'UMCallRouter is not Active'
        }
        $ok = Invoke-MaintenanceStep -Name 'drain_um_call_router' -Command $umCommand -SkipReason $skip -Action {
            Set-ServerComponentState -Identity $server -Component 'UMCallRouter' -State 'Draining' -Requester 'Maintenance'
        }
    }
    else {
        Skip-MaintenanceStep -Name 'drain_um_call_router' -Command $umCommand
    }

    $dagArguments = @{
        serverName       = $server
        MoveComment      = 'Maintenance'
        pauseClusterNode = $true
    }
    $dagCommand = ('StartDagServerMaintenance.ps1 -serverName {0} -MoveComment Maintenance -pauseClusterNode' -f $server)
    if ($OverrideMinimumTwoCopies) {
        # A two-member DAG: the script otherwise refuses to leave a single copy up.
        $dagArguments.overrideMinimumTwoCopies = $true
        $dagCommand += ' -overrideMinimumTwoCopies'
    }
    if ($ok) {
        $skip = ''
        if ($nodeState -eq 'Paused' -and $result.original_activation_policy -eq 'Blocked') {
            $skip = 'cluster node already Paused and activation Blocked'
        }
        $ok = Invoke-MaintenanceStep -Name 'start_dag_server_maintenance' -Command $dagCommand -SkipReason $skip -Action {
            Invoke-MicrosoftScript -Path (Join-Path -Path (Get-ExchangeScriptsFolder) -ChildPath 'StartDagServerMaintenance.ps1') -Arguments $dagArguments
        }
    }
    else {
        Skip-MaintenanceStep -Name 'start_dag_server_maintenance' -Command $dagCommand
    }
}

if ($Mode -ne 'edge') {
    $redirectCommand = ('Redirect-Message -Server {0} -Target {1} -Confirm:$false' -f $server, $RedirectTarget)
    if ($ok) {
        $skip = ''
        if ([string]::IsNullOrEmpty($RedirectTarget)) {
            $skip = 'no other Mailbox server to redirect to: queued messages wait for this server'
        }
        elseif ($null -ne $offlineState -and $offlineState -ne 'Active') {
            $skip = 'the server was already offline: nothing new was queued'
        }
        $ok = Invoke-MaintenanceStep -Name 'redirect_messages' -Command $redirectCommand -SkipReason $skip -Action {
            Redirect-Message -Server $server -Target $RedirectTarget -Confirm:$false
        }
    }
    else {
        Skip-MaintenanceStep -Name 'redirect_messages' -Command $redirectCommand
    }

    $offlineCommand = ('Set-ServerComponentState {0} -Component ServerWideOffline -State Inactive -Requester Maintenance' -f $server)
    if ($ok) {
        $skip = ''
        if ($null -ne $offlineState -and $offlineState -ne 'Active') {
            $skip = 'ServerWideOffline is already {0}' -f $offlineState
        }
        $ok = Invoke-MaintenanceStep -Name 'server_wide_offline' -Command $offlineCommand -SkipReason $skip -Action {
            Set-ServerComponentState -Identity $server -Component 'ServerWideOffline' -State 'Inactive' -Requester 'Maintenance'
        }
    }
    else {
        Skip-MaintenanceStep -Name 'server_wide_offline' -Command $offlineCommand
    }
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
