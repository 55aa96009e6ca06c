<#
.SYNOPSIS
    Turns MRSProxy on or off on the named EWS virtual directories of an on-premises Exchange server.

.DESCRIPTION
    Part of the m365_migration_stage role (m365-migration.md section 10: MRSProxy only for the
    migration window). Enable turns MRSProxyEnabled on for each named identity where it is off and
    returns exactly those in 'changed', so that clean-up can turn off only what this role turned on.
    Disable turns it off on the named identities only. Identities that do not exist are reported in
    'not_found'. $Ansible.Changed is true only when a virtual directory changed (or would, -WhatIf).

.PARAMETER Identity
    EWS virtual directory identities, e.g. 'EX01\EWS (Default Web Site)'.

.PARAMETER Enable
    $true turns MRSProxy on, $false turns it off.

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary with enable, check_mode, changed, unchanged,
    not_found, virtual_directories and errors.

.EXAMPLE
    .\Set-MrsProxyState.ps1 -Identity 'EX01\EWS (Default Web Site)' -Enable $true -WhatIf

.NOTES
    Runs in the Exchange Management Shell of an on-premises Exchange server.
#>
[CmdletBinding(SupportsShouldProcess)]
param (
    [Parameter(Mandatory = $true)]
    [AllowEmptyCollection()]
    [string[]]
    $Identity,

    [Parameter(Mandatory = $true)]
    [bool]
    $Enable
)

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
if ($null -ne $ansibleContext) {
    $Ansible.Changed = $false
}

$changed = [System.Collections.Generic.List[string]]::new()
$unchanged = [System.Collections.Generic.List[string]]::new()
$notFound = [System.Collections.Generic.List[string]]::new()
$errors = [System.Collections.Generic.List[object]]::new()
$readBack = [System.Collections.Generic.List[object]]::new()

foreach ($name in $Identity) {
    try {
        $directory = Get-WebServicesVirtualDirectory -Identity $name -ADPropertiesOnly -ErrorAction SilentlyContinue
        if ($null -eq $directory) {
            $notFound.Add($name)
            continue
        }
        if ([bool]$directory.MRSProxyEnabled -eq $Enable) {
            $unchanged.Add($name)
        } else {
            $action = if ($Enable) { 'Enable MRSProxy' } else { 'Disable MRSProxy' }
            if ($PSCmdlet.ShouldProcess($name, $action)) {
                Set-WebServicesVirtualDirectory -Identity $name -MRSProxyEnabled $Enable
            }
            $changed.Add($name)
        }
        $readBack.Add([ordered]@{ identity = $name; mrsproxy_enabled = [bool](Get-WebServicesVirtualDirectory -Identity $name -ADPropertiesOnly).MRSProxyEnabled })
    } catch {
        $errors.Add([ordered]@{ object = $name; message = $_.Exception.Message })
    }
}

if ($null -ne $ansibleContext) {
    $Ansible.Changed = $changed.Count -gt 0
}
[ordered]@{
    enable              = $Enable
    check_mode          = [bool]$WhatIfPreference
    changed             = @($changed)
    unchanged           = @($unchanged)
    not_found           = @($notFound)
    virtual_directories = @($readBack)
    errors              = @($errors)
}
