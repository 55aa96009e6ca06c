<#
.SYNOPSIS
    Reads whether this Exchange server is in maintenance: components, activation policy, cluster node, queues, copies.

.DESCRIPTION
    Read-only companion of Enter-ExchangeMaintenance.ps1 and Exit-ExchangeMaintenance.ps1 (role
    exchange_maintenance). patch-procedure.md section 2.1 says to verify, not assume, because the
    maintenance scripts are not always fully effective (nodes left Up). It returns:

    - every server component with its state and the requesters that hold it not Active;
    - DAG member: DatabaseCopyAutoActivationPolicy, the cluster node state and this server's
      database copies (an active copy is Mounted);
    - DAG member and stand-alone server and Edge: the transport queues (Get-Queue) with their
      delivery type and message count.

    It decides nothing (patch_checks.maintenance_problems and maintenance_exit_problems do)
    and changes nothing. A fact that cannot be read is $null with the reason in 'errors'.

.PARAMETER Mode
    dag, standalone or edge: which facts apply.

.OUTPUTS
    $Ansible.Result: components, activation_policy, cluster_node, queues, copies and errors.

.EXAMPLE
    .\Get-ExchangeMaintenanceState.ps1 -Mode standalone
#>
[CmdletBinding()]
param (
    [Parameter(Mandatory = $true)]
    [ValidateSet('dag', 'standalone', 'edge')]
    [string]
    $Mode
)

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
if ($null -ne $ansibleContext) {
    # Read-only: it never reports a change.
    $Ansible.Changed = $false
}

$script:CollectionErrors = [System.Collections.Generic.List[string]]::new()

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

function Get-QueueFacts {
    <#
    .SYNOPSIS
        Returns this server's transport queues: identity, delivery type and message count.
    #>
    [CmdletBinding()]
    param ()

    $queues = [System.Collections.Generic.List[object]]::new()
    try {
        foreach ($queue in @(Get-Queue -Server $env:COMPUTERNAME)) {
            $queues.Add([ordered]@{
                    identity      = [string](Get-ObjectPropertyValue -InputObject $queue -Name 'Identity')
                    delivery_type = [string](Get-ObjectPropertyValue -InputObject $queue -Name 'DeliveryType')
                    message_count = Get-ObjectPropertyValue -InputObject $queue -Name 'MessageCount'
                })
        }
    }
    catch {
        Add-CollectionError -Section 'queues' -Reason $_
        return $null
    }
    return , $queues.ToArray()
}

function Get-ActivationPolicy {
    <#
    .SYNOPSIS
        Returns this server's DatabaseCopyAutoActivationPolicy, or $null.
    #>
    [CmdletBinding()]
    param ()

    try {
        return [string](Get-MailboxServer -Identity $env:COMPUTERNAME).DatabaseCopyAutoActivationPolicy
    }
    catch {
        Add-CollectionError -Section 'activation_policy' -Reason $_
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

$result = [ordered]@{
    collector         = 'Get-ExchangeMaintenanceState'
    mode              = $Mode
    server            = $env:COMPUTERNAME
    components        = $null
    activation_policy = $null
    cluster_node      = $null
    queues            = $null
    copies            = $null
}
if (Import-ExchangeSnapIn) {
    $result.components = Get-ComponentStateFacts -Server $env:COMPUTERNAME -Section 'components'
    $result.queues = Get-QueueFacts
    if ($Mode -eq 'dag') {
        $result.activation_policy = Get-ActivationPolicy
        $result.copies = Get-OwnCopyFacts
    }
}
if ($Mode -eq 'dag') {
    $result.cluster_node = Get-ClusterNodeFacts
}
$result.errors = $script:CollectionErrors.ToArray()

if ($null -ne $ansibleContext) {
    $Ansible.Result = $result
}
else {
    $result
}
