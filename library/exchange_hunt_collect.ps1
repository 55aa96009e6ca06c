#!powershell

# Read-only collector of hunt evidence on an Exchange server. Documentation: exchange_hunt_collect.py.
#
# It decides nothing. Which folders, file name patterns, literals and event channels matter is
# derived from the indicator rules on the controller (module_utils/exchange_remediation/
# hunt_collection_spec.py); this module only resolves the path tokens, reads, and reduces. It never
# writes on the server: files are opened for reading and shared with the processes that write them.

#AnsibleRequires -CSharpUtil Ansible.Basic

$pathSetOptions = @{
    stream = @{ type = 'str'; default = '' }
    root = @{ type = 'str'; required = $true }
    recurse = @{ type = 'bool'; default = $false }
    include = @{ type = 'str'; default = '*' }
}
$logSetOptions = $pathSetOptions.Clone()
$logSetOptions.literals = @{ type = 'list'; elements = 'str'; default = @() }

$spec = @{
    options = @{
        since = @{ type = 'str' }
        log_sets = @{ type = 'list'; elements = 'dict'; default = @(); options = $logSetOptions }
        file_sets = @{ type = 'list'; elements = 'dict'; default = @(); options = $pathSetOptions }
        event_sets = @{
            type = 'list'
            elements = 'dict'
            default = @()
            options = @{
                channel = @{ type = 'str'; required = $true }
                stream = @{ type = 'str'; default = '' }
                literals = @{ type = 'list'; elements = 'str'; default = @() }
                keep_all = @{ type = 'bool'; default = $false }
            }
        }
        max_bytes = @{ type = 'int'; default = 67108864 }
        max_file_bytes = @{ type = 'int'; default = 16777216 }
        max_events_per_channel = @{ type = 'int'; default = 20000 }
        max_script_bytes = @{ type = 'int'; default = 65536 }
        max_seconds = @{ type = 'int'; default = 0 }
    }
    supports_check_mode = $true
}

$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
$ErrorActionPreference = 'Stop'

$script:Invariant = [System.Globalization.CultureInfo]::InvariantCulture
$script:Utf8 = [System.Text.UTF8Encoding]::new($false)
$script:ShareAll = [System.IO.FileShare]'ReadWrite, Delete'
$script:ScriptExtensions = @('.aspx', '.ashx', '.asp', '.asmx', '.js', '.config', '.ps1', '.bat', '.cmd')
$script:Errors = [System.Collections.Generic.List[string]]::new()
$script:CapsHit = [System.Collections.Generic.List[object]]::new()
$script:Roots = [System.Collections.Generic.List[object]]::new()
$script:Matchers = @{}
# Bytes of content this server may still send back, and whether the total cap was reached.
$script:Remaining = [long]$module.Params.max_bytes
$script:TotalCapReached = $false
# When the time budget is spent, what was read so far is returned instead of the task timing out.
$script:Deadline = [datetime]::MaxValue
if ($module.Params.max_seconds -gt 0) {
    $script:Deadline = [datetime]::UtcNow.AddSeconds($module.Params.max_seconds)
}
$script:TimeUp = $false

function Add-CollectionError {
    <#
    .SYNOPSIS
        Records why one item could not be collected, as one line "section: reason".
    #>
    param ([string]$Section, [object]$Reason)

    $message = [string]$Reason
    if ($Reason -is [System.Management.Automation.ErrorRecord]) {
        $message = $Reason.Exception.Message
    }
    elseif ($Reason -is [System.Exception]) {
        $message = $Reason.Message
    }
    $script:Errors.Add(('{0}: {1}' -f $Section, ($message -replace '\s*[\r\n]+\s*', ' ').Trim()))
}

function Add-CapHit {
    <#
    .SYNOPSIS
        Records that a cap stopped the collection of one file, listing or channel.
    #>
    param ([string]$Cap, [string]$Stream, [string]$Source, [long]$Limit, [string]$Detail)

    $script:CapsHit.Add([ordered]@{ cap = $Cap; stream = $Stream; source = $Source; limit = $Limit; detail = $Detail })
}

function Test-TimeUp {
    <#
    .SYNOPSIS
        True once the time budget (max_seconds) is spent; it stays true, so later items are skipped at once.
    #>
    if (-not $script:TimeUp -and [datetime]::UtcNow -gt $script:Deadline) {
        $script:TimeUp = $true
    }
    return $script:TimeUp
}

function ConvertTo-IsoTime {
    <#
    .SYNOPSIS
        Formats a time as ISO 8601 UTC with milliseconds, e.g. 2021-03-03T06:49:46.210Z.
    #>
    param ([object]$Time)

    if ($null -eq $Time) {
        return $null
    }
    return ([datetime]$Time).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", $script:Invariant)
}

function Get-RegistryString {
    <#
    .SYNOPSIS
        Reads one registry value as a string, or $null when the key or the value is absent.
    #>
    param ([string]$Path, [string]$Name)

    if (-not (Test-Path -LiteralPath $Path)) {
        return $null
    }
    $property = (Get-ItemProperty -LiteralPath $Path).PSObject.Properties[$Name]
    if ($null -eq $property) {
        return $null
    }
    return [string]$property.Value
}

function Get-ExchangeInstallPath {
    <#
    .SYNOPSIS
        The Exchange install folder with a trailing backslash (v15, else v14 for Exchange 2010), or $null.
    #>
    foreach ($version in @('v15', 'v14')) {
        $key = 'HKLM:\SOFTWARE\Microsoft\ExchangeServer\{0}\Setup' -f $version
        $value = Get-RegistryString -Path $key -Name 'MsiInstallPath'
        if (-not [string]::IsNullOrWhiteSpace($value)) {
            return $value.Trim().TrimEnd('\') + '\'
        }
    }
    return $null
}

function Get-IisFolder {
    <#
    .SYNOPSIS
        The Default Web Site's root folder and the IIS log folder, read from applicationHost.config.
    .DESCRIPTION
        Read as XML so that no IIS module has to be loaded. Folders IIS does not configure keep
        their defaults under the system drive; %SystemDrive% and other variables are expanded.
    #>
    param ([string]$SystemDrive)

    $folders = @{ www = $SystemDrive + '\inetpub\wwwroot'; log = $SystemDrive + '\inetpub\logs\LogFiles' }
    $config = Join-Path -Path $env:SystemRoot -ChildPath 'System32\inetsrv\config\applicationHost.config'
    if (-not (Test-Path -LiteralPath $config)) {
        return $folders
    }
    try {
        $document = [System.Xml.XmlDocument]::new()
        $document.XmlResolver = $null
        $stream = [System.IO.FileStream]::new($config, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $script:ShareAll)
        try {
            $document.Load($stream)
        }
        finally {
            $stream.Dispose()
        }
        $sites = $document.SelectSingleNode('/configuration/system.applicationHost/sites')
        $site = $sites.SelectSingleNode("site[@name='Default Web Site']")
        if ($null -eq $site) {
            $site = $sites.SelectSingleNode("site[@id='1']")
        }
        $logFolder = $sites.SelectSingleNode('siteDefaults/logFile/@directory')
        if ($null -ne $site) {
            $physical = $site.SelectSingleNode("application[@path='/']/virtualDirectory[@path='/']/@physicalPath")
            if ($null -ne $physical) {
                $folders.www = [System.Environment]::ExpandEnvironmentVariables($physical.Value).TrimEnd('\')
            }
            $siteLog = $site.SelectSingleNode('logFile/@directory')
            if ($null -ne $siteLog) {
                $logFolder = $siteLog
            }
        }
        if ($null -ne $logFolder) {
            $folders.log = [System.Environment]::ExpandEnvironmentVariables($logFolder.Value).TrimEnd('\')
        }
    }
    catch {
        Add-CollectionError -Section 'tokens.iis' -Reason $_
    }
    return $folders
}

function Resolve-TokenPath {
    <#
    .SYNOPSIS
        Replaces the tokens (<EX>, <SYS>, ...) of a folder with this server's values; throws when one is unknown.
    #>
    param ([string]$Path)

    $resolved = $Path
    foreach ($token in $script:Tokens.Keys) {
        if ($resolved.Contains($token)) {
            if ([string]::IsNullOrEmpty($script:Tokens[$token])) {
                throw ('{0} is not known on this server' -f $token)
            }
            $resolved = $resolved.Replace($token, $script:Tokens[$token])
        }
    }
    if ($resolved -match '<[A-Za-z]+>') {
        throw ('unknown token in {0}' -f $Path)
    }
    if ($resolved -match '^[A-Za-z]:$') {
        $resolved += '\'
    }
    return $resolved
}

function Get-SetFile {
    <#
    .SYNOPSIS
        The files of one set (folder, recursion, file name pattern); records the folder in 'roots'.
    #>
    param ([string]$Kind, [object]$Set)

    $summary = [ordered]@{ kind = $Kind; stream = $Set.stream; root = $Set.root; path = $null; found = $false; files = 0 }
    $script:Roots.Add($summary)
    try {
        $folder = Resolve-TokenPath -Path $Set.root
    }
    catch {
        Add-CollectionError -Section ('{0} {1}' -f $Kind, $Set.root) -Reason $_
        return @()
    }
    $summary.path = $folder
    if (-not (Test-Path -LiteralPath $folder -PathType Container)) {
        return @()
    }
    $summary.found = $true
    $problems = $null
    # -Filter is fast but also matches 8.3 short names (*.asp finds .aspx): -like decides.
    $files = @(Get-ChildItem -LiteralPath $folder -File -Force -Recurse:$Set.recurse -Filter $Set.include `
            -ErrorAction SilentlyContinue -ErrorVariable problems | Where-Object -FilterScript { $_.Name -like $Set.include })
    foreach ($problem in @($problems)) {
        Add-CollectionError -Section ('{0} {1}' -f $Kind, $folder) -Reason $problem
    }
    $summary.files = $files.Count
    return $files
}

function Get-LiteralMatcher {
    <#
    .SYNOPSIS
        A case-insensitive matcher for "the text contains one of these literals", or $null for none.
    .DESCRIPTION
        One regular expression of escaped literals tests a line in one call, where a loop of
        IndexOf(literal, OrdinalIgnoreCase) would cost one call per literal on every line.
    #>
    param ([string[]]$Literal)

    $escaped = @($Literal | Where-Object -FilterScript { -not [string]::IsNullOrEmpty($_) } |
            ForEach-Object -Process { [regex]::Escape($_) } | Sort-Object -Unique)
    if ($escaped.Count -eq 0) {
        return $null
    }
    $pattern = $escaped -join '|'
    if (-not $script:Matchers.ContainsKey($pattern)) {
        $options = [System.Text.RegularExpressions.RegexOptions]'IgnoreCase, CultureInvariant, Compiled'
        $script:Matchers[$pattern] = [regex]::new($pattern, $options)
    }
    return $script:Matchers[$pattern]
}

function Get-LogExcerpt {
    <#
    .SYNOPSIS
        Streams one log and keeps line 1, every '#' line, the first and last data line and the lines
        that contain a literal, up to Budget bytes.
    .DESCRIPTION
        The file is opened with FileShare ReadWrite, so logs that Exchange or IIS hold open are read.
        After the budget is spent the rest is still counted, and the last data line (the end of
        the file's coverage) is still kept. When the time budget is spent the file is left early
        ('stopped'): its line count is then that of the part read.
    #>
    param ([System.IO.FileInfo]$File, [object]$Matcher, [long]$Budget)

    $ordinal = [System.StringComparison]::Ordinal
    $utf8 = $script:Utf8
    $kept = [System.Collections.Generic.List[string]]::new()
    $numbers = [System.Collections.Generic.List[int]]::new()
    $keptBytes = [long]0
    $capped = $false
    $lineNumber = 0
    $firstData = 0
    $lastData = $null
    $lastDataNumber = 0
    $stopped = $false
    $stream = [System.IO.FileStream]::new($File.FullName, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $script:ShareAll)
    try {
        $reader = [System.IO.StreamReader]::new($stream, $script:Utf8, $true, 65536)
        while ($null -ne ($line = $reader.ReadLine())) {
            $lineNumber++
            if (($lineNumber % 65536) -eq 0 -and (Test-TimeUp)) {
                $stopped = $true
                break
            }
            $directive = $line.StartsWith('#', $ordinal)
            $keep = $directive -or $lineNumber -eq 1
            if (-not $directive -and $lineNumber -gt 1) {
                $lastData = $line
                $lastDataNumber = $lineNumber
                if ($firstData -eq 0) {
                    $firstData = $lineNumber
                    $keep = $true
                }
                elseif ($null -ne $Matcher -and $Matcher.IsMatch($line)) {
                    $keep = $true
                }
            }
            if ($keep -and -not $capped) {
                $size = $utf8.GetByteCount($line) + 2
                if ($keptBytes + $size -gt $Budget) {
                    $capped = $true
                }
                else {
                    $kept.Add($line)
                    $numbers.Add($lineNumber)
                    $keptBytes += $size
                }
            }
        }
    }
    finally {
        $stream.Dispose()
    }
    $lastKept = $numbers.Count -gt 0 -and $numbers[$numbers.Count - 1] -eq $lastDataNumber
    if ($lastDataNumber -gt 0 -and -not $lastKept) {
        $size = $utf8.GetByteCount($lastData) + 2
        if ($size -le 65536 -or $keptBytes + $size -le $Budget) {
            $kept.Add($lastData)
            $numbers.Add($lastDataNumber)
            $keptBytes += $size
        }
    }
    if ($stopped) {
        $lineNumber--
    }
    return @{ lines = $lineNumber; kept = $kept; numbers = $numbers; bytes = $keptBytes; capped = $capped; stopped = $stopped }
}

function Get-LogFile {
    <#
    .SYNOPSIS
        Reduces every log file of the log sets modified since Since; each file is read once.
    #>
    param ([object[]]$Sets, [object]$Since, [long]$MaxFileBytes)

    $wanted = [System.Collections.Generic.Dictionary[string, object]]::new([System.StringComparer]::OrdinalIgnoreCase)
    foreach ($set in $Sets) {
        foreach ($file in (Get-SetFile -Kind 'log' -Set $set)) {
            if ($null -ne $Since -and $file.LastWriteTimeUtc -lt [datetime]$Since) {
                continue
            }
            if (-not $wanted.ContainsKey($file.FullName)) {
                $wanted[$file.FullName] = @{ file = $file; stream = $set.stream; literals = [System.Collections.Generic.List[string]]::new() }
            }
            foreach ($literal in @($set.literals)) {
                $wanted[$file.FullName].literals.Add([string]$literal)
            }
        }
    }

    $entries = [System.Collections.Generic.List[object]]::new()
    $unread = @{}
    foreach ($item in $wanted.Values) {
        $file = $item.file
        $entry = [ordered]@{
            path = $file.FullName; stream = $item.stream; lines = 0; bytes = $file.Length; kept = 0
            capped = $false; read = $false; content = ''; line_numbers = @()
        }
        $entries.Add($entry)
        $skip = $null
        if ($script:TotalCapReached) {
            $skip = 'max_bytes'
        }
        elseif (Test-TimeUp) {
            $skip = 'max_seconds'
        }
        if ($null -ne $skip) {
            $entry.capped = $true
            $key = '{0}|{1}' -f $skip, $item.stream
            $unread[$key] = 1 + [int]$unread[$key]
            continue
        }
        $budget = [Math]::Min($MaxFileBytes, $script:Remaining)
        try {
            $excerpt = Get-LogExcerpt -File $file -Matcher (Get-LiteralMatcher -Literal $item.literals.ToArray()) -Budget $budget
        }
        catch {
            Add-CollectionError -Section ('log {0}' -f $file.FullName) -Reason $_
            continue
        }
        $entry.read = $true
        $entry.lines = $excerpt.lines
        $entry.kept = $excerpt.kept.Count
        $entry.capped = $excerpt.capped
        $entry.content = [string]::Join("`r`n", $excerpt.kept)
        $entry.line_numbers = $excerpt.numbers.ToArray()
        $script:Remaining -= $excerpt.bytes
        if ($excerpt.stopped) {
            $entry.capped = $true
            Add-CapHit -Cap 'max_seconds' -Stream $item.stream -Source $file.FullName -Limit $module.Params.max_seconds `
                -Detail ('stopped after {0} lines' -f $excerpt.lines)
        }
        elseif ($excerpt.capped) {
            if ($budget -lt $MaxFileBytes) {
                $script:TotalCapReached = $true
                Add-CapHit -Cap 'max_bytes' -Stream $item.stream -Source $file.FullName -Limit $module.Params.max_bytes `
                    -Detail ('kept {0} of {1} lines before the total cap' -f $excerpt.kept.Count, $excerpt.lines)
            }
            else {
                Add-CapHit -Cap 'max_file_bytes' -Stream $item.stream -Source $file.FullName -Limit $MaxFileBytes `
                    -Detail ('kept {0} of {1} lines' -f $excerpt.kept.Count, $excerpt.lines)
            }
        }
    }
    foreach ($key in @($unread.Keys | Sort-Object)) {
        $cap, $stream = $key -split '\|', 2
        Add-CapHit -Cap $cap -Stream $stream -Source $null -Limit $module.Params[$cap] `
            -Detail ('{0} log files not read' -f $unread[$key])
    }
    return $entries
}

function Get-FileListing {
    <#
    .SYNOPSIS
        Lists the files of the file sets with size, SHA-256, time, the first 16 bytes, and the
        first MaxScriptBytes of script files (base64).
    #>
    param ([object[]]$Sets, [int]$MaxScriptBytes)

    $seen = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::OrdinalIgnoreCase)
    $listing = [System.Collections.Generic.List[object]]::new()
    foreach ($set in $Sets) {
        foreach ($file in (Get-SetFile -Kind 'file' -Set $set)) {
            if (-not $seen.Add($file.FullName)) {
                continue
            }
            if (Test-TimeUp) {
                Add-CapHit -Cap 'max_seconds' -Stream $set.stream -Source $file.FullName -Limit $module.Params.max_seconds `
                    -Detail 'listing stopped'
                return $listing
            }
            $metadataBytes = $script:Utf8.GetByteCount($file.FullName) + 256
            if ($script:Remaining -lt $metadataBytes) {
                $script:TotalCapReached = $true
                Add-CapHit -Cap 'max_bytes' -Stream $set.stream -Source $file.FullName -Limit $module.Params.max_bytes `
                    -Detail 'listing stopped'
                return $listing
            }
            $script:Remaining -= $metadataBytes
            $isScript = $script:ScriptExtensions -contains $file.Extension.ToLowerInvariant()
            $entry = [ordered]@{
                path = $file.FullName; stream = $set.stream; type = 'file'; size = $file.Length; sha256 = $null
                modified = ConvertTo-IsoTime -Time $file.LastWriteTimeUtc; head_hex = $null; head_base64 = $null; truncated = $false
            }
            $listing.Add($entry)
            try {
                $want = 16
                if ($isScript) {
                    $want = [Math]::Max(16, $MaxScriptBytes)
                }
                $head = [byte[]]::new([int][Math]::Min([long]$want, $file.Length))
                $stream = [System.IO.FileStream]::new($file.FullName, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $script:ShareAll)
                try {
                    $filled = 0
                    while ($filled -lt $head.Length) {
                        $read = $stream.Read($head, $filled, $head.Length - $filled)
                        if ($read -le 0) {
                            break
                        }
                        $filled += $read
                    }
                    $stream.Position = 0
                    $sha = [System.Security.Cryptography.SHA256]::Create()
                    $entry.sha256 = [System.BitConverter]::ToString($sha.ComputeHash($stream)).Replace('-', '').ToLowerInvariant()
                }
                finally {
                    $stream.Dispose()
                }
                $entry.head_hex = [System.BitConverter]::ToString($head, 0, [Math]::Min(16, $filled)).Replace('-', '').ToLowerInvariant()
                if ($isScript) {
                    $copy = [System.Convert]::ToBase64String($head, 0, [Math]::Min($filled, $MaxScriptBytes))
                    if ($copy.Length -le $script:Remaining) {
                        $entry.head_base64 = $copy
                        $entry.truncated = $file.Length -gt $MaxScriptBytes
                        $script:Remaining -= $copy.Length
                    }
                    else {
                        $script:TotalCapReached = $true
                        Add-CapHit -Cap 'max_bytes' -Stream $set.stream -Source $file.FullName -Limit $module.Params.max_bytes `
                            -Detail 'script head not copied'
                    }
                }
            }
            catch {
                Add-CollectionError -Section ('file {0}' -f $file.FullName) -Reason $_
            }
        }
    }
    return $listing
}

function ConvertTo-EventRecord {
    <#
    .SYNOPSIS
        One event as the bundle's .jsonl record: TimeCreated (ISO 8601 UTC), Id, ProviderName,
        LevelDisplayName, Level, Message, Properties (values as strings).
    #>
    param ([object]$WinEvent)

    $message = $null
    $levelName = $null
    # Both are formatted from the provider's message files, which may be missing.
    try {
        $message = $WinEvent.Message
    }
    catch {
        $message = $null
    }
    try {
        $levelName = $WinEvent.LevelDisplayName
    }
    catch {
        $levelName = $null
    }
    $values = @(foreach ($property in @($WinEvent.Properties)) {
            $value = $property.Value
            if ($value -is [byte[]]) {
                [System.BitConverter]::ToString($value).Replace('-', '')
            }
            elseif ($value -is [datetime]) {
                ConvertTo-IsoTime -Time $value
            }
            else {
                [string]$value
            }
        })
    return [ordered]@{
        TimeCreated = ConvertTo-IsoTime -Time $WinEvent.TimeCreated
        Id = $WinEvent.Id
        ProviderName = $WinEvent.ProviderName
        LevelDisplayName = $levelName
        Level = [int]$WinEvent.Level
        Message = $message
        Properties = $values
    }
}

function Test-EventMatch {
    <#
    .SYNOPSIS
        True when the event's Message, ProviderName, LevelDisplayName or one of its Properties contains a literal.
    #>
    param ([object]$Record, [object]$Matcher)

    if ($null -eq $Matcher) {
        return $false
    }
    foreach ($text in @(@($Record.Message, $Record.ProviderName, $Record.LevelDisplayName) + $Record.Properties)) {
        if ($null -ne $text -and $Matcher.IsMatch([string]$text)) {
            return $true
        }
    }
    return $false
}

function Get-ChannelEvent {
    <#
    .SYNOPSIS
        The events of one channel since Since that contain a literal (or all, with keep_all), plus
        the first and the last event for coverage, up to MaxEvents records.
    #>
    param ([object]$Set, [object]$Since, [int]$MaxEvents)

    $channel = [string]$Set.channel
    $stream = [string]$Set.stream
    if ([string]::IsNullOrEmpty($stream)) {
        $stream = $channel
    }
    $result = [ordered]@{ stream = $stream; count = 0; kept = 0; capped = $false; first = $null; last = $null; records = @() }
    $records = [System.Collections.Generic.List[object]]::new()
    $matcher = Get-LiteralMatcher -Literal @($Set.literals)
    $filter = @{ LogName = $channel }
    if ($null -ne $Since) {
        $filter.StartTime = [datetime]$Since
    }
    # Updated inside the ForEach-Object block; 'seen', not 'count', which every dictionary has as a property.
    $state = @{ seen = 0; last = $null; lastKept = $false; capped = $false; timeUp = $false }
    try {
        Get-WinEvent -FilterHashtable $filter -Oldest -ErrorAction Stop | ForEach-Object -Process {
            $state.seen++
            if ($state.timeUp -or (($state.seen % 500) -eq 0 -and (Test-TimeUp))) {
                # Out of time: the rest of the channel is only counted (return = next event).
                if (-not $state.timeUp) {
                    $state.timeUp = $true
                    $state.capped = $true
                    Add-CapHit -Cap 'max_seconds' -Stream $stream -Source ('eventlog:{0}' -f $channel) `
                        -Limit $module.Params.max_seconds -Detail 'later events not read'
                }
                return
            }
            $record = ConvertTo-EventRecord -WinEvent $_
            $state.last = $record
            $state.lastKept = $false
            $keep = $state.seen -eq 1 -or $Set.keep_all -or (Test-EventMatch -Record $record -Matcher $matcher)
            if ($keep -and -not $state.capped) {
                $size = $script:Utf8.GetByteCount([string]$record.Message) + 64 * $record.Properties.Count + 256
                if ($records.Count -ge $MaxEvents) {
                    $state.capped = $true
                    Add-CapHit -Cap 'max_events_per_channel' -Stream $stream -Source ('eventlog:{0}' -f $channel) `
                        -Limit $MaxEvents -Detail 'later matching events not kept'
                }
                elseif ($size -gt $script:Remaining) {
                    $state.capped = $true
                    $script:TotalCapReached = $true
                    Add-CapHit -Cap 'max_bytes' -Stream $stream -Source ('eventlog:{0}' -f $channel) `
                        -Limit $module.Params.max_bytes -Detail 'later matching events not kept'
                }
                else {
                    $records.Add($record)
                    $script:Remaining -= $size
                    $state.lastKept = $true
                }
            }
        }
    }
    catch {
        if ([string]$_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') {
            Add-CollectionError -Section ('eventlog {0}' -f $channel) -Reason $_
            $result.error = ($_.Exception.Message -replace '\s*[\r\n]+\s*', ' ').Trim()
        }
    }
    # The last event dates the end of the channel's coverage: kept even after a cap.
    if ($null -ne $state.last -and -not $state.lastKept) {
        $records.Add($state.last)
    }
    $result['count'] = $state.seen
    $result.kept = $records.Count
    $result.capped = $state.capped
    if ($records.Count -gt 0) {
        $result.first = $records[0].TimeCreated
        $result.last = $records[$records.Count - 1].TimeCreated
    }
    $result.records = $records.ToArray()
    return $result
}

$collectedAt = [datetime]::UtcNow
$since = $null
if (-not [string]::IsNullOrWhiteSpace($module.Params.since)) {
    $formats = [string[]]@('yyyy-MM-dd', "yyyy-MM-dd'T'HH:mm:ss'Z'", "yyyy-MM-dd'T'HH:mm:ss.fff'Z'")
    $styles = [System.Globalization.DateTimeStyles]'AssumeUniversal, AdjustToUniversal'
    $parsed = [datetime]::MinValue
    if (-not [datetime]::TryParseExact($module.Params.since, $formats, $script:Invariant, $styles, [ref]$parsed)) {
        $module.FailJson(('since must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, got {0}' -f $module.Params.since))
    }
    $since = $parsed
}

$systemDrive = $env:SystemDrive
if ([string]::IsNullOrEmpty($systemDrive)) {
    $systemDrive = 'C:'
}
$exchangePath = $null
try {
    $exchangePath = Get-ExchangeInstallPath
}
catch {
    Add-CollectionError -Section 'tokens.<EX>' -Reason $_
}
if ($null -eq $exchangePath) {
    Add-CollectionError -Section 'tokens.<EX>' -Reason 'no Exchange install path (MsiInstallPath) in the registry'
}
$iis = Get-IisFolder -SystemDrive $systemDrive
$script:Tokens = [ordered]@{
    '<EX>' = $exchangePath
    '<SYS>' = $systemDrive
    '<WWW>' = $iis.www
    '<IISLOG>' = $iis.log
    '<WINDIR>' = $env:SystemRoot
    '<PROGRAMDATA>' = $env:ProgramData
}

# Web folders first, then events, then logs: when the total cap is reached, the small and decisive
# evidence is already in.
$listing = @(Get-FileListing -Sets @($module.Params.file_sets) -MaxScriptBytes $module.Params.max_script_bytes)
$events = [ordered]@{}
foreach ($set in @($module.Params.event_sets)) {
    $events[[string]$set.channel] = Get-ChannelEvent -Set $set -Since $since -MaxEvents $module.Params.max_events_per_channel
}
$files = @(Get-LogFile -Sets @($module.Params.log_sets) -Since $since -MaxFileBytes $module.Params.max_file_bytes)

if ($script:CapsHit.Count -gt 0) {
    $module.Warn(('{0} collection caps were hit (see caps_hit); the hunt cannot call this server clean' -f $script:CapsHit.Count))
}

$module.Result.changed = $false
$module.Result.collected_at = ConvertTo-IsoTime -Time $collectedAt
$module.Result.since = ConvertTo-IsoTime -Time $since
$module.Result.tokens = $script:Tokens
$module.Result.roots = $script:Roots.ToArray()
$module.Result.files = $files
$module.Result.listing = $listing
$module.Result.events = $events
$module.Result.caps_hit = $script:CapsHit.ToArray()
$module.Result.errors = $script:Errors.ToArray()
$module.Result.limits = @{
    max_seconds = $module.Params.max_seconds
    max_bytes = $module.Params.max_bytes
    max_file_bytes = $module.Params.max_file_bytes
    max_events_per_channel = $module.Params.max_events_per_channel
    max_script_bytes = $module.Params.max_script_bytes
}
$module.ExitJson()
