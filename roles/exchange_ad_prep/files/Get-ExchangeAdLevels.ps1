<#
.SYNOPSIS
    Reads the Exchange Active Directory levels: the schema version (rangeUpper of
    ms-Exch-Schema-Version-Pt), the organisation's objectVersion and the objectVersion of the
    Microsoft Exchange System Objects container of this server's domain.
.DESCRIPTION
    Read-only. A level that cannot be read is returned as $null with the reason in errors; the
    caller decides what a missing level means. Values and their meaning: exchange-builds.md,
    "AD levels per target CU" (CSS-Exchange Get-ExchangeBuildVersionInformation.ps1).
#>
[CmdletBinding()]
param ()

$ErrorActionPreference = 'Stop'
$errors = [System.Collections.Generic.List[string]]::new()

function Get-FirstValue {
    <#
    .SYNOPSIS
        Returns the first value of a directory property collection as an integer, or $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $false)]
        [object]
        $Values
    )

    if ($null -eq $Values -or $Values.Count -eq 0) {
        return $null
    }
    return [int]$Values[0]
}

$levels = [ordered]@{
    schema       = $null
    organization = $null
    meso         = $null
    domain       = $null
}

try {
    $rootDse = [ADSI]'LDAP://RootDSE'
    $schemaNc = [string]$rootDse.Properties['schemaNamingContext'].Value
    $configNc = [string]$rootDse.Properties['configurationNamingContext'].Value
    $defaultNc = [string]$rootDse.Properties['defaultNamingContext'].Value
    $levels.domain = $defaultNc
}
catch {
    $errors.Add("RootDSE: $($_.Exception.Message)")
}

if ($errors.Count -eq 0) {
    try {
        $schemaObject = [ADSI]"LDAP://CN=ms-Exch-Schema-Version-Pt,$schemaNc"
        $levels.schema = Get-FirstValue -Values $schemaObject.Properties['rangeUpper']
    }
    catch {
        $errors.Add("schema (ms-Exch-Schema-Version-Pt): $($_.Exception.Message)")
    }
    try {
        $servicesRoot = [ADSI]"LDAP://CN=Microsoft Exchange,CN=Services,$configNc"
        $searcher = [System.DirectoryServices.DirectorySearcher]::new($servicesRoot, '(objectClass=msExchOrganizationContainer)', [string[]]@('objectVersion'), [System.DirectoryServices.SearchScope]::OneLevel)
        $organization = $searcher.FindOne()
        if ($null -ne $organization) {
            $levels.organization = Get-FirstValue -Values $organization.Properties['objectversion']
        }
        else {
            $errors.Add('organization: no msExchOrganizationContainer under CN=Microsoft Exchange,CN=Services')
        }
    }
    catch {
        $errors.Add("organization: $($_.Exception.Message)")
    }
    try {
        $meso = [ADSI]"LDAP://CN=Microsoft Exchange System Objects,$defaultNc"
        $levels.meso = Get-FirstValue -Values $meso.Properties['objectVersion']
    }
    catch {
        $errors.Add("Microsoft Exchange System Objects: $($_.Exception.Message)")
    }
}

$result = [ordered]@{
    levels = $levels
    errors = $errors.ToArray()
}
if ($null -ne (Get-Variable -Name 'Ansible' -ErrorAction SilentlyContinue)) {
    $Ansible.Changed = $false
    $Ansible.Result = $result
}
else {
    $result
}
