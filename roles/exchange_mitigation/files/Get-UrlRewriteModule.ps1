<#
.SYNOPSIS
    Tells whether the IIS URL Rewrite module is installed, the way EOMT detects it, and which IIS version runs.

.DESCRIPTION
    Read-only check of the exchange_mitigation role (mitigations.md section 5). URL Rewrite counts
    as installed when an Uninstall entry's DisplayName matches *IIS*, *URL* and *2* in
    HKLM, HKLM\SOFTWARE\Wow6432Node or the Uninstall key of any user SID under HKEY_USERS, which
    is how EOMT and EOMTv2 find it. Also reported: the version the module records under
    HKLM\SOFTWARE\Microsoft\IIS Extensions\URL Rewrite and the IIS major version
    (HKLM\SOFTWARE\Microsoft\InetStp MajorVersion), because URL Rewrite 2.1 on IIS below 10 needs
    KB2999226 and can make IIS unstable.

    It changes nothing and decides nothing; a value it cannot read is returned as $null with the
    reason in 'errors'. $Ansible.Changed is always $false.

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary with installed, display_name, version,
    registry_version, iis_major_version and errors.

.EXAMPLE
    .\Get-UrlRewriteModule.ps1
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

function Get-UninstallKeyPaths {
    <#
    .SYNOPSIS
        Lists the Uninstall keys EOMT searches: HKLM, its Wow6432Node twin and the Uninstall key of every user SID under HKEY_USERS.
    #>
    [CmdletBinding()]
    param ()

    $paths = [System.Collections.Generic.List[string]]::new()
    $paths.Add('HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall')
    $paths.Add('HKLM:\SOFTWARE\Wow6432Node\Microsoft\Windows\CurrentVersion\Uninstall')
    try {
        foreach ($userKey in (Get-ChildItem -LiteralPath 'Registry::HKEY_USERS')) {
            if ($userKey.PSChildName -match '^S-\d-\d+-(\d+-){1,14}\d+$') {
                $paths.Add(('Registry::HKEY_USERS\{0}\Software\Microsoft\Windows\CurrentVersion\Uninstall' -f $userKey.PSChildName))
            }
        }
    }
    catch {
        Add-ReadError -Section 'uninstall_keys' -Reason $_
    }
    return , $paths.ToArray()
}

function Get-UrlRewriteUninstallEntry {
    <#
    .SYNOPSIS
        Returns the DisplayName and DisplayVersion of the first Uninstall entry named like *IIS*, *URL* and *2*, or $null.
    #>
    [CmdletBinding()]
    param ()

    foreach ($path in (Get-UninstallKeyPaths)) {
        try {
            if (-not (Test-Path -LiteralPath $path)) {
                continue
            }
            foreach ($entry in (Get-ChildItem -LiteralPath $path)) {
                $item = Get-ItemProperty -LiteralPath $entry.PSPath
                $displayName = [string](Get-ObjectPropertyValue -InputObject $item -Name 'DisplayName')
                if ($displayName -like '*IIS*' -and $displayName -like '*URL*' -and $displayName -like '*2*') {
                    return [ordered]@{
                        display_name = $displayName
                        version      = [string](Get-ObjectPropertyValue -InputObject $item -Name 'DisplayVersion')
                    }
                }
            }
        }
        catch {
            Add-ReadError -Section $path -Reason $_
        }
    }
    return $null
}

function Get-RegistryText {
    <#
    .SYNOPSIS
        Reads one registry value as trimmed text, or $null when the key, the value or its text is absent.
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

    try {
        if (-not (Test-Path -LiteralPath $Path)) {
            return $null
        }
        $value = Get-ObjectPropertyValue -InputObject (Get-ItemProperty -LiteralPath $Path) -Name $Name
        if ([string]::IsNullOrWhiteSpace([string]$value)) {
            return $null
        }
        return ([string]$value).Trim()
    }
    catch {
        Add-ReadError -Section ('{0}\{1}' -f $Path, $Name) -Reason $_
        return $null
    }
}

$uninstallEntry = Get-UrlRewriteUninstallEntry
$registryVersion = Get-RegistryText -Path 'HKLM:\SOFTWARE\Microsoft\IIS Extensions\URL Rewrite' -Name 'Version'
$iisMajor = Get-RegistryText -Path 'HKLM:\SOFTWARE\Microsoft\InetStp' -Name 'MajorVersion'

$result = [ordered]@{
    installed         = ($null -ne $uninstallEntry)
    display_name      = $null
    version           = $registryVersion
    registry_version  = $registryVersion
    iis_major_version = $null
    errors            = $null
}
if ($null -ne $uninstallEntry) {
    $result.display_name = $uninstallEntry.display_name
    if (-not [string]::IsNullOrWhiteSpace($uninstallEntry.version)) {
        $result.version = $uninstallEntry.version
    }
}
$major = 0
if ($null -ne $iisMajor -and [int]::TryParse($iisMajor, [ref]$major)) {
    $result.iis_major_version = $major
}
$result.errors = $script:ReadErrors.ToArray()

if ($null -ne $ansibleContext) {
    $Ansible.Result = $result
}
else {
    $result
}
