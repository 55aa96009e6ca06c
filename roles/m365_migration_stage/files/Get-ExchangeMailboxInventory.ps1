<#
.SYNOPSIS
    Collects the read-only on-premises mailbox inventory (mailboxes.json, schema 1).

.DESCRIPTION
    Read-only collector for state 1 of the Microsoft 365 migration staging
    (inventory and plan). Run in the Exchange Management Shell, or through
    ansible.windows.win_powershell on a server that has the Exchange
    management tools. It reads, per mailbox: RecipientTypeDetails,
    PrimarySmtpAddress, UserPrincipalName, ExchangeGuid, Database, the
    department (Get-User), every SMTP proxy address, whether an archive
    exists, TotalItemSize, TotalDeletedItemSize and ItemCount of the primary
    mailbox and of the archive (Get-MailboxStatistics), and the permissions
    that tie mailboxes together: FullAccess (Get-MailboxPermission), Send-As
    (Get-ADPermission), GrantSendOnBehalfTo and the calendar folder
    permissions (Get-MailboxFolderPermission on the folder that
    Get-MailboxFolderStatistics -FolderScope Calendar reports, whatever its
    localised name). It also reads the EWS virtual directories (MRSProxy
    state and URLs) and the accepted domains, and lists every domain used in
    an SMTP address.

    Permission entries that are inherited, granted to NT AUTHORITY\SELF, Deny
    entries, unresolved SIDs (S-1-5-...) and the Default and Anonymous
    calendar entries are not links: they are counted per reason in
    skipped_permissions. A permission holder that is not a mailbox is kept
    under the name Exchange reports; the planner reports it.

    It decides nothing and changes nothing: only Get-* cmdlets are called.
    A mailbox that cannot be read is reported in 'errors' and the others are
    still collected; the script does not throw.

    When run by ansible.windows.win_powershell the result is placed in
    $Ansible.Result and $Ansible.Changed is set to $false. Run by hand, the
    same object is written to the output stream.

.PARAMETER ResultSize
    Passed to Get-Mailbox: 'Unlimited' (default) or a number, to try the
    collector on a few mailboxes first.

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary with the keys schema,
    collector, organisation, collected_at, mailboxes, permissions,
    skipped_permissions, ews_virtual_directories, accepted_domains,
    address_domains and errors (docs/migration-inventory.md).

.EXAMPLE
    .\Get-ExchangeMailboxInventory.ps1 | ConvertTo-Json -Depth 6

.NOTES
    Requires Windows PowerShell 5.1 and the Exchange management tools.
#>
[CmdletBinding()]
param (
    [Parameter()]
    [string]
    $ResultSize = 'Unlimited'
)

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
if ($null -ne $ansibleContext) {
    # Read-only collector: it never reports a change.
    $Ansible.Changed = $false
}

$script:CollectionErrors = [System.Collections.Generic.List[string]]::new()
$script:Skipped = [ordered]@{
    inherited         = 0
    self              = 0
    deny              = 0
    unresolved_sid    = 0
    default_anonymous = 0
}
$script:RecipientIds = @{}

function Add-CollectionError {
    <#
    .SYNOPSIS
        Records why something could not be collected, as one line "section: reason".
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
    .DESCRIPTION
        Set-StrictMode -Version 2 throws on a reference to a property that does not exist;
        deserialised objects of a remote session lack some properties.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
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
    return $property.Value
}

function ConvertTo-ByteCount {
    <#
    .SYNOPSIS
        Converts a ByteQuantifiedSize (or its text, "1.2 GB (1,234,567 bytes)") to a byte count.
    .DESCRIPTION
        In the Exchange Management Shell the value has a ToBytes() method; in a remote
        session it arrives as text, whose "(N bytes)" part is exact. Returns $null for
        'Unlimited', $null or text without a byte count.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [AllowNull()]
        [object]
        $Size
    )

    if ($null -eq $Size) {
        return $null
    }
    $inner = Get-ObjectPropertyValue -InputObject $Size -Name 'Value'
    if ($null -ne $inner -and $null -ne $inner.PSObject.Methods['ToBytes']) {
        return [long]$inner.ToBytes()
    }
    if ($null -ne $Size.PSObject.Methods['ToBytes']) {
        return [long]$Size.ToBytes()
    }
    $match = [regex]::Match([string]$Size, '\(([\d,.\s\u00a0]+) bytes\)')
    if (-not $match.Success) {
        return $null
    }
    return [long]($match.Groups[1].Value -replace '[^\d]', '')
}

function Import-ExchangeSnapIn {
    <#
    .SYNOPSIS
        Makes the Exchange cmdlets available in this runspace; returns $true when they are.
    #>
    [CmdletBinding()]
    param ()

    if ($null -ne (Get-Command -Name 'Get-Mailbox' -ErrorAction SilentlyContinue)) {
        return $true
    }
    try {
        Add-PSSnapin -Name 'Microsoft.Exchange.Management.PowerShell.SnapIn' -ErrorAction Stop
        return $true
    }
    catch {
        Add-CollectionError -Section 'exchange.cmdlets' -Reason $_
        return $false
    }
}

function Add-RecipientKey {
    <#
    .SYNOPSIS
        Remembers the names under which permissions may refer to a mailbox (in memory only).
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Mailbox,

        [Parameter(Mandatory = $true)]
        [string]
        $Id
    )

    $keys = @(
        (Get-ObjectPropertyValue -InputObject $Mailbox -Name 'Alias'),
        (Get-ObjectPropertyValue -InputObject $Mailbox -Name 'Name'),
        (Get-ObjectPropertyValue -InputObject $Mailbox -Name 'DisplayName'),
        (Get-ObjectPropertyValue -InputObject $Mailbox -Name 'SamAccountName'),
        (Get-ObjectPropertyValue -InputObject $Mailbox -Name 'DistinguishedName'),
        (Get-ObjectPropertyValue -InputObject $Mailbox -Name 'PrimarySmtpAddress'),
        (Get-ObjectPropertyValue -InputObject $Mailbox -Name 'UserPrincipalName'),
        (Get-ObjectPropertyValue -InputObject $Mailbox -Name 'Identity')
    )
    foreach ($key in $keys) {
        $text = [string]$key
        if (-not [string]::IsNullOrWhiteSpace($text) -and -not $script:RecipientIds.ContainsKey($text)) {
            $script:RecipientIds[$text] = $Id
        }
    }
}

function Resolve-PermissionHolder {
    <#
    .SYNOPSIS
        The mailbox id a permission holder stands for, its own name when it is no mailbox,
        or $null when the entry is skipped (SELF, unresolved SID); skips are counted.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [AllowNull()]
        [object]
        $Holder
    )

    $name = ([string]$Holder).Trim()
    if ([string]::IsNullOrWhiteSpace($name)) {
        $script:Skipped['unresolved_sid'] += 1
        return $null
    }
    if ($name -eq 'NT AUTHORITY\SELF') {
        $script:Skipped['self'] += 1
        return $null
    }
    if ($name -match '^S-1-5-[\d-]+$') {
        $script:Skipped['unresolved_sid'] += 1
        return $null
    }
    # DOMAIN\sam (permissions) or a canonical name contoso.local/Users/Name (remote sessions).
    $account = ($name -split '\\')[-1]
    $leaf = ($name -split '/')[-1]
    foreach ($key in @($name, $account, $leaf)) {
        if ($script:RecipientIds.ContainsKey($key)) {
            return $script:RecipientIds[$key]
        }
    }
    return $name
}

function Get-MailboxSizeFacts {
    <#
    .SYNOPSIS
        TotalItemSize, TotalDeletedItemSize and ItemCount of the primary mailbox or the archive.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Identity,

        [Parameter()]
        [switch]
        $Archive
    )

    $statistics = Get-MailboxStatistics -Identity $Identity -Archive:$Archive -ErrorAction Stop
    $itemCount = Get-ObjectPropertyValue -InputObject $statistics -Name 'ItemCount'
    return [ordered]@{
        total_item_size_bytes         = ConvertTo-ByteCount -Size (Get-ObjectPropertyValue -InputObject $statistics -Name 'TotalItemSize')
        total_deleted_item_size_bytes = ConvertTo-ByteCount -Size (Get-ObjectPropertyValue -InputObject $statistics -Name 'TotalDeletedItemSize')
        item_count                    = if ($null -ne $itemCount) { [long]$itemCount } else { $null }
    }
}

function Get-MailboxRow {
    <#
    .SYNOPSIS
        One mailboxes.json row: identity, addresses, department, archive and sizes.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Mailbox,

        [Parameter(Mandatory = $true)]
        [string]
        $Id
    )

    $identity = [string]$Mailbox.ExchangeGuid
    $addresses = @(
        foreach ($address in @(Get-ObjectPropertyValue -InputObject $Mailbox -Name 'EmailAddresses')) {
            $text = [string]$address
            if ($text -match '^smtp:') {
                $text
            }
        }
    )
    $primary = [string](Get-ObjectPropertyValue -InputObject $Mailbox -Name 'PrimarySmtpAddress')
    $department = $null
    try {
        $user = Get-User -Identity $identity -ErrorAction Stop
        $department = [string](Get-ObjectPropertyValue -InputObject $user -Name 'Department')
    }
    catch {
        Add-CollectionError -Section ('mailbox {0}: department' -f $Id) -Reason $_
    }
    $archiveGuid = [string](Get-ObjectPropertyValue -InputObject $Mailbox -Name 'ArchiveGuid')
    $hasArchive = -not [string]::IsNullOrEmpty($archiveGuid) -and $archiveGuid -ne [guid]::Empty.ToString()
    $primarySize = [ordered]@{ total_item_size_bytes = $null; total_deleted_item_size_bytes = $null; item_count = $null }
    try {
        $primarySize = Get-MailboxSizeFacts -Identity $identity
    }
    catch {
        Add-CollectionError -Section ('mailbox {0}: statistics' -f $Id) -Reason $_
    }
    $archiveSize = [ordered]@{ total_item_size_bytes = $null; total_deleted_item_size_bytes = $null; item_count = $null }
    if ($hasArchive) {
        try {
            $archiveSize = Get-MailboxSizeFacts -Identity $identity -Archive
        }
        catch {
            Add-CollectionError -Section ('mailbox {0}: archive statistics' -f $Id) -Reason $_
        }
    }
    return [ordered]@{
        id                            = $Id
        display_name                  = [string](Get-ObjectPropertyValue -InputObject $Mailbox -Name 'DisplayName')
        recipient_type_details        = [string](Get-ObjectPropertyValue -InputObject $Mailbox -Name 'RecipientTypeDetails')
        primary_smtp_address          = if ([string]::IsNullOrWhiteSpace($primary)) { $null } else { $primary }
        user_principal_name           = [string](Get-ObjectPropertyValue -InputObject $Mailbox -Name 'UserPrincipalName')
        exchange_guid                 = $identity
        database                      = [string](Get-ObjectPropertyValue -InputObject $Mailbox -Name 'Database')
        server                        = [string](Get-ObjectPropertyValue -InputObject $Mailbox -Name 'ServerName')
        department                    = if ([string]::IsNullOrWhiteSpace($department)) { $null } else { $department }
        email_addresses               = $addresses
        archive                       = $hasArchive
        total_item_size_bytes         = $primarySize.total_item_size_bytes
        total_deleted_item_size_bytes = $primarySize.total_deleted_item_size_bytes
        item_count                    = $primarySize.item_count
        archive_size_bytes            = $archiveSize.total_item_size_bytes
        archive_item_count            = $archiveSize.item_count
    }
}

function Get-FullAccessLinks {
    <#
    .SYNOPSIS
        Explicit FullAccess grants on one mailbox (Get-MailboxPermission).
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Mailbox,

        [Parameter(Mandatory = $true)]
        [string]
        $Id
    )

    foreach ($entry in @(Get-MailboxPermission -Identity ([string]$Mailbox.ExchangeGuid) -ErrorAction Stop)) {
        $rights = [string](Get-ObjectPropertyValue -InputObject $entry -Name 'AccessRights')
        if ($rights -notmatch 'FullAccess') {
            continue
        }
        if ((Get-ObjectPropertyValue -InputObject $entry -Name 'IsInherited') -eq $true) {
            $script:Skipped['inherited'] += 1
            continue
        }
        if ((Get-ObjectPropertyValue -InputObject $entry -Name 'Deny') -eq $true) {
            $script:Skipped['deny'] += 1
            continue
        }
        $grantee = Resolve-PermissionHolder -Holder (Get-ObjectPropertyValue -InputObject $entry -Name 'User')
        if ($null -ne $grantee -and $grantee -ne $Id) {
            [ordered]@{ grantor = $Id; grantee = $grantee; kind = 'FullAccess'; access_rights = $rights }
        }
    }
}

function Get-SendAsLinks {
    <#
    .SYNOPSIS
        Explicit Send-As grants on one mailbox's AD object (Get-ADPermission).
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Mailbox,

        [Parameter(Mandatory = $true)]
        [string]
        $Id
    )

    $distinguishedName = [string](Get-ObjectPropertyValue -InputObject $Mailbox -Name 'DistinguishedName')
    foreach ($entry in @(Get-ADPermission -Identity $distinguishedName -ErrorAction Stop)) {
        $rights = [string](Get-ObjectPropertyValue -InputObject $entry -Name 'ExtendedRights')
        if ($rights -notmatch 'Send-As') {
            continue
        }
        if ((Get-ObjectPropertyValue -InputObject $entry -Name 'IsInherited') -eq $true) {
            $script:Skipped['inherited'] += 1
            continue
        }
        if ((Get-ObjectPropertyValue -InputObject $entry -Name 'Deny') -eq $true) {
            $script:Skipped['deny'] += 1
            continue
        }
        $grantee = Resolve-PermissionHolder -Holder (Get-ObjectPropertyValue -InputObject $entry -Name 'User')
        if ($null -ne $grantee -and $grantee -ne $Id) {
            [ordered]@{ grantor = $Id; grantee = $grantee; kind = 'SendAs'; access_rights = 'Send-As' }
        }
    }
}

function Get-SendOnBehalfLinks {
    <#
    .SYNOPSIS
        The GrantSendOnBehalfTo entries of one mailbox.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Mailbox,

        [Parameter(Mandatory = $true)]
        [string]
        $Id
    )

    foreach ($holder in @(Get-ObjectPropertyValue -InputObject $Mailbox -Name 'GrantSendOnBehalfTo')) {
        if ($null -eq $holder) {
            continue
        }
        $name = Get-ObjectPropertyValue -InputObject $holder -Name 'DistinguishedName'
        if ([string]::IsNullOrWhiteSpace([string]$name)) {
            $name = [string]$holder
        }
        $grantee = Resolve-PermissionHolder -Holder $name
        if ($null -ne $grantee -and $grantee -ne $Id) {
            [ordered]@{ grantor = $Id; grantee = $grantee; kind = 'SendOnBehalf'; access_rights = 'GrantSendOnBehalfTo' }
        }
    }
}

function Get-CalendarLinks {
    <#
    .SYNOPSIS
        Calendar folder permissions of one mailbox, Default and Anonymous skipped.
    .DESCRIPTION
        The calendar folder has a localised name; Get-MailboxFolderStatistics -FolderScope
        Calendar gives its path, which Get-MailboxFolderPermission takes as mailbox:\path.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Mailbox,

        [Parameter(Mandatory = $true)]
        [string]
        $Id
    )

    $identity = [string]$Mailbox.ExchangeGuid
    $folders = @(Get-MailboxFolderStatistics -Identity $identity -FolderScope 'Calendar' -ErrorAction Stop |
        Where-Object { [string](Get-ObjectPropertyValue -InputObject $_ -Name 'FolderType') -eq 'Calendar' })
    if ($folders.Count -eq 0) {
        return
    }
    $folderPath = ([string]$folders[0].FolderPath) -replace '/', '\'
    $folderIdentity = '{0}:{1}' -f $identity, $folderPath
    foreach ($entry in @(Get-MailboxFolderPermission -Identity $folderIdentity -ErrorAction Stop)) {
        $user = Get-ObjectPropertyValue -InputObject $entry -Name 'User'
        $userText = [string]$user
        if ($userText -eq 'Default' -or $userText -eq 'Anonymous') {
            $script:Skipped['default_anonymous'] += 1
            continue
        }
        $recipient = Get-ObjectPropertyValue -InputObject $user -Name 'ADRecipient'
        $holder = Get-ObjectPropertyValue -InputObject $recipient -Name 'DistinguishedName'
        if ($null -eq $holder) {
            $holder = Get-ObjectPropertyValue -InputObject $user -Name 'DisplayName'
        }
        if ($null -eq $holder) {
            $holder = $userText
        }
        $grantee = Resolve-PermissionHolder -Holder $holder
        if ($null -ne $grantee -and $grantee -ne $Id) {
            $rights = [string](Get-ObjectPropertyValue -InputObject $entry -Name 'AccessRights')
            [ordered]@{ grantor = $Id; grantee = $grantee; kind = 'Calendar'; access_rights = $rights; folder = $folderPath }
        }
    }
}

function Get-EwsVirtualDirectoryFacts {
    <#
    .SYNOPSIS
        Every EWS virtual directory with its MRSProxy state and URLs.
    #>
    [CmdletBinding()]
    param ()

    try {
        foreach ($directory in @(Get-WebServicesVirtualDirectory -ADPropertiesOnly -ErrorAction Stop)) {
            [ordered]@{
                server            = [string](Get-ObjectPropertyValue -InputObject $directory -Name 'Server')
                identity          = [string](Get-ObjectPropertyValue -InputObject $directory -Name 'Identity')
                mrs_proxy_enabled = [bool](Get-ObjectPropertyValue -InputObject $directory -Name 'MRSProxyEnabled')
                external_url      = [string](Get-ObjectPropertyValue -InputObject $directory -Name 'ExternalUrl')
                internal_url      = [string](Get-ObjectPropertyValue -InputObject $directory -Name 'InternalUrl')
            }
        }
    }
    catch {
        Add-CollectionError -Section 'ews_virtual_directories' -Reason $_
    }
}

function Get-AcceptedDomainFacts {
    <#
    .SYNOPSIS
        The accepted domains of the organisation.
    #>
    [CmdletBinding()]
    param ()

    try {
        foreach ($domain in @(Get-AcceptedDomain -ErrorAction Stop)) {
            [ordered]@{
                domain_name = ([string](Get-ObjectPropertyValue -InputObject $domain -Name 'DomainName')).ToLowerInvariant()
                domain_type = [string](Get-ObjectPropertyValue -InputObject $domain -Name 'DomainType')
                default     = [bool](Get-ObjectPropertyValue -InputObject $domain -Name 'Default')
            }
        }
    }
    catch {
        Add-CollectionError -Section 'accepted_domains' -Reason $_
    }
}

function Get-OrganisationName {
    <#
    .SYNOPSIS
        The Exchange organisation name, or $null.
    #>
    [CmdletBinding()]
    param ()

    try {
        return [string](Get-OrganizationConfig -ErrorAction Stop).Name
    }
    catch {
        Add-CollectionError -Section 'organisation' -Reason $_
        return $null
    }
}

$mailboxRows = [System.Collections.Generic.List[object]]::new()
$permissionRows = [System.Collections.Generic.List[object]]::new()
$organisation = $null
$ewsDirectories = @()
$acceptedDomains = @()

if (Import-ExchangeSnapIn) {
    $organisation = Get-OrganisationName
    $mailboxes = @()
    try {
        $mailboxes = @(Get-Mailbox -ResultSize $ResultSize -ErrorAction Stop)
    }
    catch {
        Add-CollectionError -Section 'mailboxes' -Reason $_
    }
    $ids = @{}
    foreach ($mailbox in $mailboxes) {
        $alias = [string](Get-ObjectPropertyValue -InputObject $mailbox -Name 'Alias')
        $id = if ([string]::IsNullOrWhiteSpace($alias)) { [string]$mailbox.ExchangeGuid } else { $alias }
        $ids[[string]$mailbox.ExchangeGuid] = $id
        Add-RecipientKey -Mailbox $mailbox -Id $id
    }
    foreach ($mailbox in $mailboxes) {
        $id = $ids[[string]$mailbox.ExchangeGuid]
        try {
            $mailboxRows.Add((Get-MailboxRow -Mailbox $mailbox -Id $id))
        }
        catch {
            Add-CollectionError -Section ('mailbox {0}' -f $id) -Reason $_
            continue
        }
        try {
            foreach ($link in @(Get-FullAccessLinks -Mailbox $mailbox -Id $id)) { $permissionRows.Add($link) }
        }
        catch {
            Add-CollectionError -Section ('mailbox {0}: FullAccess' -f $id) -Reason $_
        }
        try {
            foreach ($link in @(Get-SendAsLinks -Mailbox $mailbox -Id $id)) { $permissionRows.Add($link) }
        }
        catch {
            Add-CollectionError -Section ('mailbox {0}: SendAs' -f $id) -Reason $_
        }
        try {
            foreach ($link in @(Get-SendOnBehalfLinks -Mailbox $mailbox -Id $id)) { $permissionRows.Add($link) }
        }
        catch {
            Add-CollectionError -Section ('mailbox {0}: SendOnBehalf' -f $id) -Reason $_
        }
        try {
            foreach ($link in @(Get-CalendarLinks -Mailbox $mailbox -Id $id)) { $permissionRows.Add($link) }
        }
        catch {
            Add-CollectionError -Section ('mailbox {0}: Calendar' -f $id) -Reason $_
        }
    }
    $ewsDirectories = @(Get-EwsVirtualDirectoryFacts)
    $acceptedDomains = @(Get-AcceptedDomainFacts)
}

$domainSet = [System.Collections.Generic.SortedSet[string]]::new([System.StringComparer]::OrdinalIgnoreCase)
foreach ($row in $mailboxRows) {
    foreach ($address in $row.email_addresses) {
        $domainName = ($address -split '@')[-1].ToLowerInvariant()
        [void]$domainSet.Add($domainName)
    }
}

$result = [ordered]@{
    schema                  = 1
    collector               = 'Get-ExchangeMailboxInventory'
    organisation            = $organisation
    collected_at            = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [System.Globalization.CultureInfo]::InvariantCulture)
    mailboxes               = $mailboxRows.ToArray()
    permissions             = $permissionRows.ToArray()
    skipped_permissions     = $script:Skipped
    ews_virtual_directories = $ewsDirectories
    accepted_domains        = $acceptedDomains
    address_domains         = @($domainSet)
    errors                  = $script:CollectionErrors.ToArray()
}

if ($null -ne $ansibleContext) {
    $Ansible.Result = $result
}
else {
    $result
}
