<#
.SYNOPSIS
    Tells where the setup logs of a failed patch step are and quotes their last error lines.

.DESCRIPTION
    Read-only helper of the rescue section of role exchange_patch. For the Exchange setup log
    (C:\ExchangeSetupLogs\ExchangeSetup.log) and the Windows Installer log of the security
    update it returns whether the file exists, when it was last written, and the last lines
    that report an error ([ERROR] in the setup log; "Return value 3", "Error 1xxx" or the
    engine's return code in the MSI log), so the outcome can say where to read on.

    Parsing the setup log in depth is CSS-Exchange SetupLogReviewer's job; this only points at
    it. Every file is read in its own try/catch; nothing is changed.

.PARAMETER SetupLogPath
    Full path of the Exchange setup log.

.PARAMETER MsiLogPath
    Full path of the Windows Installer log of the security update, when one was written.

.PARAMETER TailLines
    How many lines from the end of each log are searched for errors.

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary placed in $Ansible.Result.

.EXAMPLE
    .\Get-ExchangePatchLogInfo.ps1 -MsiLogPath 'C:\ExchangeSetupLogs\KB5121576.msp.log'
#>
[CmdletBinding()]
param (
    [Parameter()]
    [string]
    $SetupLogPath = 'C:\ExchangeSetupLogs\ExchangeSetup.log',

    [Parameter()]
    [AllowEmptyString()]
    [string]
    $MsiLogPath = '',

    [Parameter()]
    [ValidateRange(100, 100000)]
    [int]
    $TailLines = 4000
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

function Get-LogFileFacts {
    <#
    .SYNOPSIS
        Returns whether a log exists, when it was last written, and its last lines that match an error pattern.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Path,

        [Parameter(Mandatory = $true)]
        [string]
        $ErrorPattern,

        [Parameter(Mandatory = $true)]
        [int]
        $Tail
    )

    $facts = [ordered]@{
        path        = $Path
        exists      = $false
        last_write  = $null
        error_lines = @()
    }
    try {
        if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) {
            return $facts
        }
        $facts.exists = $true
        $facts.last_write = (Get-Item -LiteralPath $Path).LastWriteTimeUtc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
        # -Tail reads from the end of the file: setup logs grow to tens of megabytes.
        $lines = @(Get-Content -LiteralPath $Path -Tail $Tail | Where-Object { $_ -match $ErrorPattern })
        $facts.error_lines = @($lines | Select-Object -Last 5 | ForEach-Object { ([string]$_).Trim() })
    }
    catch {
        Add-CollectionError -Section $Path -Reason $_
    }
    return $facts
}

$result = [ordered]@{
    setup_log = Get-LogFileFacts -Path $SetupLogPath -ErrorPattern '\[ERROR\]' -Tail $TailLines
    msi_log   = $null
}
if (-not [string]::IsNullOrEmpty($MsiLogPath)) {
    $result.msi_log = Get-LogFileFacts -Path $MsiLogPath -ErrorPattern 'Return value 3|Error 1[0-9]{3}|MainEngineThread is returning [1-9]' -Tail $TailLines
}
$result.errors = $script:CollectionErrors.ToArray()

if ($null -ne $ansibleContext) {
    $Ansible.Result = $result
}
else {
    $result
}
