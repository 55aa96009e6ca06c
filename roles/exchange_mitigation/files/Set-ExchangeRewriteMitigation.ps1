<#
.SYNOPSIS
    Adds, verifies or removes the URL Rewrite rules of the Exchange interim mitigations on one IIS site.

.DESCRIPTION
    Change step of the exchange_mitigation role (mitigations.md section 6). The rules arrive as
    parameters, built by the Python core from data/cves.yml; this script holds no rule of its own.

    Each rule is keyed by its name. A rule that exists and matches its definition is left alone;
    one that exists and differs is removed (Clear-WebConfiguration) and added again; a missing one
    is added with Add-WebConfigurationProperty and Set-WebConfigurationProperty, the way EOMT and
    EOMTv2 add it. Every rule named in -RemoveRuleName is removed, and when that leaves no rule
    under the site the empty system.webServer/rewrite/rules element is cleared too (rollback).

    Check mode: win_powershell runs the script with -WhatIf, so ShouldProcess reports each change
    instead of making it. $Ansible.Changed is true only when something changed (or would).

    After the change every rule of the site is read back in the RULE shape (name, enabled,
    pattern_syntax, stop_processing, match_url, conditions, action_type). The controller decides
    from that read-back whether each mitigation is in place; this script decides nothing more.

.PARAMETER SiteName
    The IIS site that carries the Exchange front end, normally 'Default Web Site'.

.PARAMETER Rule
    Rule definitions in the RULE shape, in the order they are added. Each has exactly one condition.

.PARAMETER RemoveRuleName
    Names of rules to remove (rule sets no longer needed, or exchange_mitigation_state=absent).

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary with site, check_mode, added, replaced,
    unchanged, removed, not_present, rules_element_cleared, changed, rewrite_rules and errors.

.EXAMPLE
    $rules = Get-Content -Raw -Path .\rules.json | ConvertFrom-Json
    .\Set-ExchangeRewriteMitigation.ps1 -SiteName 'Default Web Site' -Rule $rules -WhatIf

    Shows which of the rules in rules.json (the definitions the role passes) would be added or replaced.

.NOTES
    Requires Windows PowerShell 5.1, the WebAdministration module and the IIS URL Rewrite module.
    Run elevated. Changes only the site's rewrite configuration (its web.config).
#>
[CmdletBinding(SupportsShouldProcess)]
param (
    [Parameter(Mandatory = $true)]
    [ValidateNotNullOrEmpty()]
    [string]
    $SiteName,

    [Parameter()]
    [AllowEmptyCollection()]
    [object[]]
    $Rule = @(),

    [Parameter()]
    [AllowEmptyCollection()]
    [string[]]
    $RemoveRuleName = @()
)

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
if ($null -ne $ansibleContext) {
    # win_powershell assumes a change unless told otherwise; set at the end from what happened.
    $Ansible.Changed = $false
}

$script:RulesSection = 'system.webServer/rewrite/rules'
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

function ConvertTo-ConfigurationScalar {
    <#
    .SYNOPSIS
        Returns the plain value of one Get-WebConfigurationProperty result: a ConfigurationAttribute's Value, or the value itself.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $InputObject
    )

    if ($null -eq $InputObject) {
        return $null
    }
    if ($null -ne $InputObject.PSObject.Properties['Value'] -and $InputObject -isnot [string]) {
        return Get-ObjectPropertyValue -InputObject $InputObject -Name 'Value'
    }
    return $InputObject
}

function ConvertTo-NullableBoolean {
    <#
    .SYNOPSIS
        Converts a configuration value (a Boolean or the text true/false) to $true or $false; anything else is $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $Value
    )

    if ($Value -is [bool]) {
        return $Value
    }
    $text = ([string]$Value).Trim()
    if ($text -eq 'true') {
        return $true
    }
    if ($text -eq 'false') {
        return $false
    }
    return $null
}

function ConvertTo-RewriteEnumName {
    <#
    .SYNOPSIS
        Returns the schema name of a URL Rewrite enumeration value (patternSyntax, matchType, action type) when IIS hands back its number.
    .DESCRIPTION
        Numbers of the URL Rewrite configuration schema: patternSyntax ECMAScript 0, Wildcard 1,
        ExactMatch 2; matchType Pattern 0, IsFile 1, IsDirectory 2; action type None 0, Rewrite 1,
        Redirect 2, CustomResponse 3, AbortRequest 4. A name is returned as it is; $null stays $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Attribute,

        [Parameter()]
        [AllowNull()]
        [object]
        $Value
    )

    if ($null -eq $Value) {
        return $null
    }
    $names = @{
        patternSyntax = @('ECMAScript', 'Wildcard', 'ExactMatch')
        matchType     = @('Pattern', 'IsFile', 'IsDirectory')
        type          = @('None', 'Rewrite', 'Redirect', 'CustomResponse', 'AbortRequest')
    }
    $text = ([string]$Value).Trim()
    $number = 0
    if ($names.ContainsKey($Attribute) -and [int]::TryParse($text, [ref]$number)) {
        if ($number -ge 0 -and $number -lt $names[$Attribute].Count) {
            return $names[$Attribute][$number]
        }
    }
    return $text
}

function ConvertTo-RuleFilterLiteral {
    <#
    .SYNOPSIS
        Quotes a rule name for an IIS configuration filter ([@name='...']); $null when the name holds both quote characters.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    if (-not $Name.Contains("'")) {
        return "'{0}'" -f $Name
    }
    if (-not $Name.Contains('"')) {
        return '"{0}"' -f $Name
    }
    return $null
}

function Get-WebConfigurationValues {
    <#
    .SYNOPSIS
        Returns one attribute of every element an IIS configuration filter selects, in document order, as plain values.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath,

        [Parameter(Mandatory = $true)]
        [string]
        $Filter,

        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    $values = [System.Collections.Generic.List[object]]::new()
    foreach ($item in @(Get-WebConfigurationProperty -PSPath $PSPath -Filter $Filter -Name $Name)) {
        if ($null -ne $item) {
            $values.Add((ConvertTo-ConfigurationScalar -InputObject $item))
        }
    }
    return , $values.ToArray()
}

function Get-RewriteRuleNames {
    <#
    .SYNOPSIS
        Returns the names of the URL Rewrite rules of one configuration section at one IIS configuration path.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath,

        [Parameter(Mandatory = $true)]
        [string]
        $Filter
    )

    $names = [System.Collections.Generic.List[string]]::new()
    $values = @(Get-WebConfigurationProperty -PSPath $PSPath -Filter $Filter -Name 'name')
    foreach ($value in $values) {
        if ($null -eq $value) {
            continue
        }
        $name = Get-ObjectPropertyValue -InputObject $value -Name 'Value'
        if ($null -eq $name) {
            $name = $value
        }
        if (-not [string]::IsNullOrEmpty([string]$name)) {
            $names.Add([string]$name)
        }
    }
    return , $names.ToArray()
}

function Get-RewriteRuleBody {
    <#
    .SYNOPSIS
        Reads one URL Rewrite rule by name: name, enabled, pattern_syntax, stop_processing, match_url, conditions and action_type.
    .DESCRIPTION
        The shape is the RULE of the mitigation contract, which the Python core compares with the
        published definition (mitigations.md section 7). IIS returns attributes at their schema
        defaults too, so every condition has all five values.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath,

        [Parameter(Mandatory = $true)]
        [string]
        $Section,

        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    $literal = ConvertTo-RuleFilterLiteral -Name $Name
    if ($null -eq $literal) {
        throw 'the rule name holds both quote characters, so it cannot be selected by name'
    }
    $ruleFilter = '{0}/rule[@name={1}]' -f $Section, $literal
    $conditionFilter = '{0}/conditions/add' -f $ruleFilter
    $inputs = Get-WebConfigurationValues -PSPath $PSPath -Filter $conditionFilter -Name 'input'
    $patterns = Get-WebConfigurationValues -PSPath $PSPath -Filter $conditionFilter -Name 'pattern'
    $negates = Get-WebConfigurationValues -PSPath $PSPath -Filter $conditionFilter -Name 'negate'
    $ignoreCases = Get-WebConfigurationValues -PSPath $PSPath -Filter $conditionFilter -Name 'ignoreCase'
    $matchTypes = Get-WebConfigurationValues -PSPath $PSPath -Filter $conditionFilter -Name 'matchType'
    foreach ($count in @($patterns.Count, $negates.Count, $ignoreCases.Count, $matchTypes.Count)) {
        if ($count -ne $inputs.Count) {
            throw 'the attributes of its conditions were returned in different numbers'
        }
    }
    $conditions = [System.Collections.Generic.List[object]]::new()
    for ($index = 0; $index -lt $inputs.Count; $index++) {
        $conditions.Add([ordered]@{
                input       = [string]$inputs[$index]
                pattern     = [string]$patterns[$index]
                negate      = ConvertTo-NullableBoolean -Value $negates[$index]
                ignore_case = ConvertTo-NullableBoolean -Value $ignoreCases[$index]
                match_type  = ConvertTo-RewriteEnumName -Attribute 'matchType' -Value $matchTypes[$index]
            })
    }
    $enabled = @(Get-WebConfigurationValues -PSPath $PSPath -Filter $ruleFilter -Name 'enabled')
    $patternSyntax = @(Get-WebConfigurationValues -PSPath $PSPath -Filter $ruleFilter -Name 'patternSyntax')
    $stopProcessing = @(Get-WebConfigurationValues -PSPath $PSPath -Filter $ruleFilter -Name 'stopProcessing')
    $matchUrl = @(Get-WebConfigurationValues -PSPath $PSPath -Filter ('{0}/match' -f $ruleFilter) -Name 'url')
    $actionType = @(Get-WebConfigurationValues -PSPath $PSPath -Filter ('{0}/action' -f $ruleFilter) -Name 'type')
    $rule = [ordered]@{
        name            = $Name
        enabled         = $null
        pattern_syntax  = $null
        stop_processing = $null
        match_url       = $null
        conditions      = $conditions.ToArray()
        action_type     = $null
    }
    if ($enabled.Count -gt 0) {
        $rule.enabled = ConvertTo-NullableBoolean -Value $enabled[0]
    }
    if ($patternSyntax.Count -gt 0) {
        $rule.pattern_syntax = ConvertTo-RewriteEnumName -Attribute 'patternSyntax' -Value $patternSyntax[0]
    }
    if ($stopProcessing.Count -gt 0) {
        $rule.stop_processing = ConvertTo-NullableBoolean -Value $stopProcessing[0]
    }
    if ($matchUrl.Count -gt 0 -and $null -ne $matchUrl[0]) {
        $rule.match_url = [string]$matchUrl[0]
    }
    if ($actionType.Count -gt 0) {
        $rule.action_type = ConvertTo-RewriteEnumName -Attribute 'type' -Value $actionType[0]
    }
    return $rule
}

function Get-DefinitionValue {
    <#
    .SYNOPSIS
        Returns one field of a rule definition (a dictionary from Ansible, or an object when run by hand), or $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Definition,

        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    if ($Definition -is [System.Collections.IDictionary]) {
        if (@($Definition.Keys) -contains $Name) {
            return , $Definition[$Name]
        }
        return $null
    }
    return Get-ObjectPropertyValue -InputObject $Definition -Name $Name
}

function ConvertTo-ComparableText {
    <#
    .SYNOPSIS
        Normalises a rule attribute for comparison: trimmed, lower case, enumeration numbers and the
        IIS Manager label 'Regular Expressions' turned into schema names.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Attribute,

        [Parameter()]
        [AllowNull()]
        [object]
        $Value
    )

    if ($null -eq $Value) {
        return ''
    }
    $text = [string](ConvertTo-RewriteEnumName -Attribute $Attribute -Value $Value)
    if ($Attribute -eq 'patternSyntax' -and $text -eq 'Regular Expressions') {
        $text = 'ECMAScript'
    }
    return $text.Trim().ToLowerInvariant()
}

function Get-DefinitionConditions {
    <#
    .SYNOPSIS
        Returns the conditions of a rule definition as an array; the mitigation rules have exactly one, anything else is refused.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Definition
    )

    $name = [string](Get-DefinitionValue -Definition $Definition -Name 'name')
    # Assigned first: piping the function's output would hand Where-Object the list as one item.
    $listed = Get-DefinitionValue -Definition $Definition -Name 'conditions'
    $conditions = @($listed | Where-Object { $null -ne $_ })
    if ($conditions.Count -ne 1) {
        throw ('rule definition {0} has {1} conditions; a mitigation rule has exactly one' -f $name, $conditions.Count)
    }
    return , $conditions
}

function Test-RewriteRuleMatch {
    <#
    .SYNOPSIS
        Returns $true when a rule read from IIS has exactly the attributes, condition and action of its definition.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $Current,

        [Parameter(Mandatory = $true)]
        [object]
        $Definition
    )

    # A rule whose body could not be read comes back as its name only: treat it as different.
    if ($Current -isnot [System.Collections.IDictionary]) {
        return $false
    }
    if ((ConvertTo-NullableBoolean -Value $Current['enabled']) -ne $true) {
        return $false
    }
    if ((ConvertTo-ComparableText -Attribute 'patternSyntax' -Value $Current['pattern_syntax']) -ne
        (ConvertTo-ComparableText -Attribute 'patternSyntax' -Value (Get-DefinitionValue -Definition $Definition -Name 'pattern_syntax'))) {
        return $false
    }
    if ((ConvertTo-NullableBoolean -Value $Current['stop_processing']) -ne
        (ConvertTo-NullableBoolean -Value (Get-DefinitionValue -Definition $Definition -Name 'stop_processing'))) {
        return $false
    }
    if (([string]$Current['match_url']).Trim() -cne ([string](Get-DefinitionValue -Definition $Definition -Name 'match_url')).Trim()) {
        return $false
    }
    if ((ConvertTo-ComparableText -Attribute 'type' -Value $Current['action_type']) -ne
        (ConvertTo-ComparableText -Attribute 'type' -Value (Get-DefinitionValue -Definition $Definition -Name 'action_type'))) {
        return $false
    }
    $wanted = Get-DefinitionConditions -Definition $Definition
    $found = @($Current['conditions'])
    if ($found.Count -ne $wanted.Count) {
        return $false
    }
    for ($index = 0; $index -lt $wanted.Count; $index++) {
        $have = $found[$index]
        $want = $wanted[$index]
        if (([string]$have['input']).Trim() -cne ([string](Get-DefinitionValue -Definition $want -Name 'input')).Trim()) {
            return $false
        }
        if (([string]$have['pattern']).Trim() -cne ([string](Get-DefinitionValue -Definition $want -Name 'pattern')).Trim()) {
            return $false
        }
        if ((ConvertTo-NullableBoolean -Value $have['negate']) -ne (ConvertTo-NullableBoolean -Value (Get-DefinitionValue -Definition $want -Name 'negate'))) {
            return $false
        }
        if ((ConvertTo-NullableBoolean -Value $have['ignore_case']) -ne (ConvertTo-NullableBoolean -Value (Get-DefinitionValue -Definition $want -Name 'ignore_case'))) {
            return $false
        }
        if ((ConvertTo-ComparableText -Attribute 'matchType' -Value $have['match_type']) -ne
            (ConvertTo-ComparableText -Attribute 'matchType' -Value (Get-DefinitionValue -Definition $want -Name 'match_type'))) {
            return $false
        }
    }
    return $true
}

function Get-SiteRewriteRule {
    <#
    .SYNOPSIS
        Returns every inbound rule of the site in the RULE shape, in document order; a rule whose body cannot be read is returned by name, with the reason kept.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath
    )

    $rules = [System.Collections.Generic.List[object]]::new()
    foreach ($name in (Get-RewriteRuleNames -PSPath $PSPath -Filter ('{0}/rule' -f $script:RulesSection))) {
        try {
            $rules.Add((Get-RewriteRuleBody -PSPath $PSPath -Section $script:RulesSection -Name $name))
        }
        catch {
            $script:ReadErrors.Add(('rule {0}: {1}' -f $name, $_.Exception.Message))
            $rules.Add($name)
        }
    }
    return , $rules.ToArray()
}

function Get-RuleFilter {
    <#
    .SYNOPSIS
        Returns the IIS configuration filter that selects one inbound rule of the site by name.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    $literal = ConvertTo-RuleFilterLiteral -Name $Name
    if ($null -eq $literal) {
        throw ('rule name {0} holds both quote characters and cannot be selected by name' -f $Name)
    }
    return '{0}/rule[@name={1}]' -f $script:RulesSection, $literal
}

function ConvertTo-ConfigurationFlag {
    <#
    .SYNOPSIS
        Writes a Boolean the way EOMT writes it to IIS configuration: 'True' or 'False'.
    #>
    [CmdletBinding()]
    param (
        [Parameter()]
        [AllowNull()]
        [object]
        $Value
    )

    if ((ConvertTo-NullableBoolean -Value $Value) -eq $true) {
        return 'True'
    }
    return 'False'
}

function Remove-RewriteRule {
    <#
    .SYNOPSIS
        Removes one inbound rule from the site (Clear-WebConfiguration on its filter).
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath,

        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    $filter = Get-RuleFilter -Name $Name
    if ($PSCmdlet.ShouldProcess($PSPath, ('remove URL Rewrite rule {0}' -f $Name))) {
        Clear-WebConfiguration -PSPath $PSPath -Filter $filter
    }
}

function Add-RewriteRule {
    <#
    .SYNOPSIS
        Adds one inbound rule to the site from its definition: the rule, its match URL, its condition and its action.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath,

        [Parameter(Mandatory = $true)]
        [object]
        $Definition
    )

    $name = [string](Get-DefinitionValue -Definition $Definition -Name 'name')
    $filter = Get-RuleFilter -Name $name
    $condition = (Get-DefinitionConditions -Definition $Definition)[0]
    if (-not $PSCmdlet.ShouldProcess($PSPath, ('add URL Rewrite rule {0}' -f $name))) {
        return
    }
    $ruleValue = @{
        name           = $name
        patternSyntax  = [string](Get-DefinitionValue -Definition $Definition -Name 'pattern_syntax')
        stopProcessing = ConvertTo-ConfigurationFlag -Value (Get-DefinitionValue -Definition $Definition -Name 'stop_processing')
    }
    $conditionValue = @{
        input      = [string](Get-DefinitionValue -Definition $condition -Name 'input')
        matchType  = [string](Get-DefinitionValue -Definition $condition -Name 'match_type')
        pattern    = [string](Get-DefinitionValue -Definition $condition -Name 'pattern')
        ignoreCase = ConvertTo-ConfigurationFlag -Value (Get-DefinitionValue -Definition $condition -Name 'ignore_case')
        negate     = ConvertTo-ConfigurationFlag -Value (Get-DefinitionValue -Definition $condition -Name 'negate')
    }
    Add-WebConfigurationProperty -PSPath $PSPath -Filter $script:RulesSection -Name '.' -Value $ruleValue
    Set-WebConfigurationProperty -PSPath $PSPath -Filter ('{0}/match' -f $filter) -Name 'url' -Value ([string](Get-DefinitionValue -Definition $Definition -Name 'match_url'))
    Set-WebConfigurationProperty -PSPath $PSPath -Filter ('{0}/conditions' -f $filter) -Name '.' -Value $conditionValue
    Set-WebConfigurationProperty -PSPath $PSPath -Filter ('{0}/action' -f $filter) -Name 'type' -Value ([string](Get-DefinitionValue -Definition $Definition -Name 'action_type'))
}

function Clear-EmptyRewriteRules {
    <#
    .SYNOPSIS
        Clears the site's system.webServer/rewrite/rules element when no rule remains under the site; returns $true when it did.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $PSPath
    )

    $remaining = @(Get-WebConfiguration -PSPath $PSPath -Filter ('{0}/rule' -f $script:RulesSection) -Recurse)
    if ($remaining.Count -gt 0) {
        return $false
    }
    if ($PSCmdlet.ShouldProcess($PSPath, 'clear the empty URL Rewrite rules element')) {
        Clear-WebConfiguration -PSPath $PSPath -Filter $script:RulesSection
        return $true
    }
    return $false
}

function Import-WebAdministrationModule {
    <#
    .SYNOPSIS
        Loads WebAdministration (IIS management tools) into this session, or throws why it cannot.
    #>
    [CmdletBinding()]
    param ()

    if ($null -eq (Get-Module -ListAvailable -Name 'WebAdministration')) {
        throw 'the WebAdministration module is not available (IIS management tools are not installed)'
    }
    Import-Module -Name 'WebAdministration'
}

Import-WebAdministrationModule
$psPath = 'IIS:\Sites\{0}' -f $SiteName
if (-not (Test-Path -LiteralPath $psPath)) {
    throw ('IIS site {0} not found' -f $SiteName)
}

$result = [ordered]@{
    site                  = $SiteName
    check_mode            = [bool]$WhatIfPreference
    added                 = [System.Collections.Generic.List[string]]::new()
    replaced              = [System.Collections.Generic.List[string]]::new()
    unchanged             = [System.Collections.Generic.List[string]]::new()
    removed               = [System.Collections.Generic.List[string]]::new()
    not_present           = [System.Collections.Generic.List[string]]::new()
    rules_element_cleared = $false
    changed               = $false
    rewrite_rules         = $null
    errors                = $null
}

$before = @{}
foreach ($current in (Get-SiteRewriteRule -PSPath $psPath)) {
    if ($current -is [System.Collections.IDictionary]) {
        $before[[string]$current['name']] = $current
    }
    else {
        $before[[string]$current] = $current
    }
}

foreach ($name in $RemoveRuleName) {
    if ($before.ContainsKey($name)) {
        Remove-RewriteRule -PSPath $psPath -Name $name
        $result.removed.Add($name)
    }
    else {
        $result.not_present.Add($name)
    }
}

foreach ($definition in $Rule) {
    $name = [string](Get-DefinitionValue -Definition $definition -Name 'name')
    if ([string]::IsNullOrWhiteSpace($name)) {
        throw 'a rule definition has no name'
    }
    if ($before.ContainsKey($name)) {
        if (Test-RewriteRuleMatch -Current $before[$name] -Definition $definition) {
            $result.unchanged.Add($name)
            continue
        }
        Remove-RewriteRule -PSPath $psPath -Name $name
        Add-RewriteRule -PSPath $psPath -Definition $definition
        $result.replaced.Add($name)
    }
    else {
        Add-RewriteRule -PSPath $psPath -Definition $definition
        $result.added.Add($name)
    }
}

if ($result.removed.Count -gt 0 -and $result.added.Count -eq 0 -and $result.replaced.Count -eq 0 -and -not $WhatIfPreference) {
    $result.rules_element_cleared = Clear-EmptyRewriteRules -PSPath $psPath
}

$result.changed = ($result.added.Count + $result.replaced.Count + $result.removed.Count) -gt 0
$result.rewrite_rules = Get-SiteRewriteRule -PSPath $psPath
$result.errors = $script:ReadErrors.ToArray()
foreach ($key in @('added', 'replaced', 'unchanged', 'removed', 'not_present')) {
    $result[$key] = $result[$key].ToArray()
}

if ($null -ne $ansibleContext) {
    $Ansible.Changed = $result.changed
    $Ansible.Result = $result
}
else {
    $result
}
