<#
.SYNOPSIS
    Stages Exchange Online remote-move migration batches: endpoint, batches, optional start; never completes unless asked.

.DESCRIPTION
    Change step of the m365_migration_stage role (m365-migration.md section 3, states 3 to 6 and
    clean-up). Runs on a management host (Windows PowerShell 5.1 or PowerShell 7) with the
    ExchangeOnlineManagement module, connected app-only with a certificate (section 8).

    present: the migration endpoint is reused when one with the same name exists (differing
    settings are reported, never changed), otherwise MRSProxy availability is tested and the
    endpoint is created. Each batch is reused when it exists (its status is reported), otherwise
    it is created from its CSV without -AutoStart and without -AutoComplete, then started only
    with -Start (with a far-future CompleteAfter so that it syncs and does not complete).
    Complete-MigrationBatch and skipped-item approval run only with their own switches.

    absent: removes only the batches named in -Batches, then the endpoint; missing ones are skipped.

    Errors are collected per object, never thrown for one batch. $Ansible.Changed is true only when
    something was created, started, completed, approved or removed. No secret is written to any output.

.PARAMETER Batches
    Array of hashtables @{ Name = '<=64 chars'; CsvPath = '<file>' } or @{ Name; CsvBase64 }.

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary with state, check_mode, endpoint {name, action,
    differences}, batches [{name, action, status}], changed and errors.

.EXAMPLE
    .\Set-ExoMigrationStaging.ps1 -AppId $id -Organization contoso.onmicrosoft.com -CertificateThumbprint $tp `
        -EndpointName 'Hybrid MRS' -RemoteServer mail.contoso.com -EndpointCredentialUser 'CONTOSO\svc-mig' `
        -EndpointCredentialPassword $pw -TargetDeliveryDomain contoso.mail.onmicrosoft.com `
        -Batches @(@{ Name = 'wave-01'; CsvPath = 'C:\staging\wave-01.csv' }) -WhatIf

.NOTES
    Requires the ExchangeOnlineManagement module (v3) and an app with Exchange.ManageAsApp and the
    Migration and Move Mailboxes roles (section 9).
#>
[CmdletBinding(SupportsShouldProcess)]
param (
    [Parameter(Mandatory = $true)]
    [ValidateNotNullOrEmpty()]
    [string]
    $AppId,

    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[A-Za-z0-9-]+\.onmicrosoft\.com$')]
    [string]
    $Organization,

    [Parameter()]
    [string]
    $CertificateThumbprint = '',

    [Parameter()]
    [string]
    $CertificateFilePath = '',

    [Parameter()]
    [string]
    $CertificatePassword = '',

    [Parameter()]
    [ValidateSet('present', 'absent')]
    [string]
    $State = 'present',

    [Parameter(Mandatory = $true)]
    [ValidateNotNullOrEmpty()]
    [string]
    $EndpointName,

    [Parameter()]
    [string]
    $RemoteServer = '',

    [Parameter()]
    [string]
    $EndpointCredentialUser = '',

    [Parameter()]
    [string]
    $EndpointCredentialPassword = '',

    [Parameter()]
    [int]
    $MaxConcurrentMigrations = 0,

    [Parameter()]
    [string]
    $TargetDeliveryDomain = '',

    [Parameter()]
    [AllowEmptyCollection()]
    [object[]]
    $Batches = @(),

    [Parameter()]
    [bool]
    $Start = $true,

    [Parameter()]
    [bool]
    $Complete = $false,

    [Parameter()]
    [bool]
    $ApproveSkippedItems = $false,

    [Parameter()]
    [string]
    $CreatedBy = 'm365_migration_stage'
)

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
if ($null -ne $ansibleContext) {
    # win_powershell assumes a change unless told otherwise; set at the end from what happened.
    $Ansible.Changed = $false
}

$script:Changed = $false
$script:Errors = [System.Collections.Generic.List[object]]::new()
# Far enough ahead that a started batch syncs and never completes on its own (section 3, state 5).
$script:FarFuture = [datetime]::UtcNow.AddYears(5)

function Get-BatchValue {
    <#
    .SYNOPSIS
        Returns a key of a batch definition (hashtable or object), or '' when it is absent.
    #>
    param ([object] $Batch, [string] $Key)
    if ($Batch -is [System.Collections.IDictionary]) {
        if ($Batch.Contains($Key)) { return [string]$Batch[$Key] }
        return ''
    }
    $property = $Batch.PSObject.Properties[$Key]
    if ($null -eq $property) { return '' }
    return [string]$property.Value
}

function Add-StagingError {
    <#
    .SYNOPSIS
        Records one object's error; the message carries no parameter value that could be a secret.
    #>
    param ([string] $Object, [string] $Step, [System.Management.Automation.ErrorRecord] $Record)
    $script:Errors.Add([ordered]@{ object = $Object; step = $Step; message = $Record.Exception.Message })
}

function Get-ExistingObject {
    <#
    .SYNOPSIS
        Runs Get-MigrationEndpoint or Get-MigrationBatch for one identity; $null when it does not exist.
    .DESCRIPTION
        The REST cmdlets report a missing object as an error (ManagementObjectNotFoundException);
        that one means "absent", any other error (permissions, throttling) is rethrown.
    #>
    param ([string] $CommandName, [string] $Identity)
    try {
        return & $CommandName -Identity $Identity -ErrorAction Stop
    } catch {
        $typeName = $_.Exception.GetType().Name
        if ($typeName -like '*NotFound*' -or [string]$_.FullyQualifiedErrorId -like '*NotFound*' -or
            $_.Exception.Message -like "*couldn't be found*") {
            return $null
        }
        throw
    }
}

function Get-BatchCsvData {
    <#
    .SYNOPSIS
        Returns the CSV bytes of a batch definition (CsvPath read with ReadAllBytes, or CsvBase64).
    #>
    param ([object] $Batch)
    $path = Get-BatchValue -Batch $Batch -Key 'CsvPath'
    if ($path -ne '') {
        return , [System.IO.File]::ReadAllBytes($path)
    }
    $encoded = Get-BatchValue -Batch $Batch -Key 'CsvBase64'
    if ($encoded -ne '') {
        return , [System.Convert]::FromBase64String($encoded)
    }
    throw 'The batch has neither CsvPath nor CsvBase64.'
}

function Invoke-EndpointPresent {
    <#
    .SYNOPSIS
        Reuses the named endpoint (reporting differing settings) or tests availability and creates it.
    #>
    $entry = [ordered]@{ name = $EndpointName; action = 'none'; differences = @() }
    try {
        $existing = Get-ExistingObject -CommandName 'Get-MigrationEndpoint' -Identity $EndpointName
        if ($null -ne $existing) {
            $entry.action = 'reused'
            $differences = [System.Collections.Generic.List[string]]::new()
            if ($RemoteServer -ne '' -and [string]$existing.RemoteServer -ne $RemoteServer) {
                $differences.Add("RemoteServer is '$($existing.RemoteServer)', requested '$RemoteServer'")
            }
            if ($MaxConcurrentMigrations -gt 0 -and [int]$existing.MaxConcurrentMigrations -ne $MaxConcurrentMigrations) {
                $differences.Add("MaxConcurrentMigrations is $($existing.MaxConcurrentMigrations), requested $MaxConcurrentMigrations")
            }
            $entry.differences = @($differences)
            return $entry
        }
        $securePassword = ConvertTo-SecureString -String $EndpointCredentialPassword -AsPlainText -Force
        $credential = [System.Management.Automation.PSCredential]::new($EndpointCredentialUser, $securePassword)
        if ($PSCmdlet.ShouldProcess($EndpointName, "Create migration endpoint to $RemoteServer")) {
            $null = Test-MigrationServerAvailability -ExchangeRemoteMove -RemoteServer $RemoteServer -Credentials $credential
            $endpointParameters = @{
                ExchangeRemoteMove = $true
                Name               = $EndpointName
                RemoteServer       = $RemoteServer
                Credentials        = $credential
            }
            if ($MaxConcurrentMigrations -gt 0) {
                $endpointParameters.MaxConcurrentMigrations = $MaxConcurrentMigrations
            }
            $null = New-MigrationEndpoint @endpointParameters
            $script:Changed = $true
            $entry.action = 'created'
        } else {
            $entry.action = 'would_create'
            $script:Changed = $true
        }
    } catch {
        $entry.action = 'failed'
        Add-StagingError -Object $EndpointName -Step 'endpoint' -Record $_
    }
    return $entry
}

function Invoke-BatchPresent {
    <#
    .SYNOPSIS
        Reuses or creates one batch (never auto-started or auto-completed), then starts/completes per flags.
    #>
    param ([object] $Batch)
    $name = Get-BatchValue -Batch $Batch -Key 'Name'
    $entry = [ordered]@{ name = $name; action = 'none'; status = '' }
    try {
        $existing = Get-ExistingObject -CommandName 'Get-MigrationBatch' -Identity $name
        if ($null -ne $existing) {
            $entry.action = 'reused'
            $entry.status = [string]$existing.Status
        } else {
            if ($PSCmdlet.ShouldProcess($name, 'Create migration batch (not started)')) {
                # Read only when creating: under -WhatIf (check mode) the CSV was not copied.
                $csvData = Get-BatchCsvData -Batch $Batch
                $created = New-MigrationBatch -Name $name -SourceEndpoint $EndpointName `
                    -TargetDeliveryDomain $TargetDeliveryDomain -CSVData $csvData
                $entry.action = 'created'
                $entry.status = [string]$created.Status
            } else {
                $entry.action = 'would_create'
                $entry.status = 'Created'
            }
            $script:Changed = $true
        }
        $stoppedStates = @('Created', 'Stopped', 'Failed')
        if ($Start -and $stoppedStates -contains $entry.status) {
            if ($PSCmdlet.ShouldProcess($name, 'Start migration batch (CompleteAfter far in the future)')) {
                Set-MigrationBatch -Identity $name -CompleteAfter $script:FarFuture
                Start-MigrationBatch -Identity $name
                $entry.status = 'Syncing'
            }
            $entry.action = "$($entry.action)+started"
            $script:Changed = $true
        }
        if ($ApproveSkippedItems) {
            if ($PSCmdlet.ShouldProcess($name, 'Approve skipped items (accepts data loss)')) {
                Set-MigrationBatch -Identity $name -ApproveSkippedItems
            }
            $entry.action = "$($entry.action)+approved"
            $script:Changed = $true
        }
        if ($Complete -and @('Completing', 'Completed') -notcontains $entry.status) {
            if ($PSCmdlet.ShouldProcess($name, 'Complete migration batch (switches the mailboxes over)')) {
                Complete-MigrationBatch -Identity $name -Confirm:$false
                $entry.status = 'Completing'
            }
            $entry.action = "$($entry.action)+completed"
            $script:Changed = $true
        }
    } catch {
        $entry.action = 'failed'
        Add-StagingError -Object $name -Step 'batch' -Record $_
    }
    return $entry
}

function Invoke-BatchAbsent {
    <#
    .SYNOPSIS
        Removes one named batch; a missing batch is reported as not_present.
    #>
    param ([object] $Batch)
    $name = Get-BatchValue -Batch $Batch -Key 'Name'
    $entry = [ordered]@{ name = $name; action = 'not_present'; status = '' }
    try {
        $existing = Get-ExistingObject -CommandName 'Get-MigrationBatch' -Identity $name
        if ($null -ne $existing) {
            $entry.status = [string]$existing.Status
            if ($PSCmdlet.ShouldProcess($name, 'Remove migration batch')) {
                Remove-MigrationBatch -Identity $name -Confirm:$false
            }
            $entry.action = 'removed'
            $script:Changed = $true
        }
    } catch {
        $entry.action = 'failed'
        Add-StagingError -Object $name -Step 'batch' -Record $_
    }
    return $entry
}

function Invoke-EndpointAbsent {
    <#
    .SYNOPSIS
        Removes the named endpoint; a missing endpoint is reported as not_present.
    #>
    $entry = [ordered]@{ name = $EndpointName; action = 'not_present'; differences = @() }
    try {
        $existing = Get-ExistingObject -CommandName 'Get-MigrationEndpoint' -Identity $EndpointName
        if ($null -ne $existing) {
            if ($PSCmdlet.ShouldProcess($EndpointName, 'Remove migration endpoint')) {
                Remove-MigrationEndpoint -Identity $EndpointName -Confirm:$false
            }
            $entry.action = 'removed'
            $script:Changed = $true
        }
    } catch {
        $entry.action = 'failed'
        Add-StagingError -Object $EndpointName -Step 'endpoint' -Record $_
    }
    return $entry
}

$result = [ordered]@{
    state      = $State
    check_mode = [bool]$WhatIfPreference
    created_by = $CreatedBy
    endpoint   = [ordered]@{ name = $EndpointName; action = 'none'; differences = @() }
    batches    = @()
    changed    = $false
    errors     = @()
}

$connected = $false
try {
    $connectParameters = @{
        AppId        = $AppId
        Organization = $Organization
        ShowBanner   = $false
        CommandName  = @('Get-MigrationEndpoint', 'New-MigrationEndpoint', 'Remove-MigrationEndpoint',
            'Test-MigrationServerAvailability', 'Get-MigrationBatch', 'New-MigrationBatch', 'Set-MigrationBatch',
            'Start-MigrationBatch', 'Complete-MigrationBatch', 'Remove-MigrationBatch')
    }
    if ($CertificateThumbprint -ne '') {
        $connectParameters.CertificateThumbprint = $CertificateThumbprint
    } elseif ($CertificateFilePath -ne '') {
        $connectParameters.CertificateFilePath = $CertificateFilePath
        $connectParameters.CertificatePassword = ConvertTo-SecureString -String $CertificatePassword -AsPlainText -Force
    } else {
        throw 'Either CertificateThumbprint or CertificateFilePath is required.'
    }
    Connect-ExchangeOnline @connectParameters
    $connected = $true

    $batchEntries = [System.Collections.Generic.List[object]]::new()
    if ($State -eq 'present') {
        $result.endpoint = Invoke-EndpointPresent
        if ($result.endpoint.action -ne 'failed') {
            foreach ($batch in $Batches) {
                $batchEntries.Add((Invoke-BatchPresent -Batch $batch))
            }
        }
    } else {
        foreach ($batch in $Batches) {
            $batchEntries.Add((Invoke-BatchAbsent -Batch $batch))
        }
        $result.endpoint = Invoke-EndpointAbsent
    }
    $result.batches = @($batchEntries)
} catch {
    Add-StagingError -Object $Organization -Step 'connect' -Record $_
} finally {
    if ($connected) {
        Disconnect-ExchangeOnline -Confirm:$false
    }
}

$result.changed = $script:Changed
$result.errors = @($script:Errors)
if ($null -ne $ansibleContext) {
    $Ansible.Changed = $script:Changed
}
$result
