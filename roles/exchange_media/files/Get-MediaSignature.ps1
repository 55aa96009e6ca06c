<#
.SYNOPSIS
    Reads the Authenticode signature of staged Exchange media, without changing anything.

.DESCRIPTION
    Read-only helper of role exchange_media (entry points stage and verify). For every path in
    -FilePath (.msp, .msi, .exe) it reads Get-AuthenticodeSignature of the file itself. For every
    path in -ImagePath (an .ISO has no signature of its own) it mounts the image read-only with
    Mount-DiskImage -Access ReadOnly, reads the signature of -ImageEntry (Setup.exe) inside it,
    and dismounts the image again in a finally block; an image that was already mounted is read
    where it is and left mounted.

    For each file it returns the signature Status, the signer certificate's subject and
    thumbprint, and the subject and thumbprint of the root of the certificate chain built with
    X509Chain. It decides nothing: whether the status and the root are acceptable is decided on
    the controller (module_utils/exchange_remediation/media_signature.py).

    A file that is missing is returned with exists = $false; a file that cannot be read or an
    image that cannot be mounted is returned with the reason in 'error'. The script does not
    throw on either.

    When run by ansible.windows.win_powershell the result is placed in $Ansible.Result and
    $Ansible.Changed is set to $false. Run by hand, the same object is written to the output.

.PARAMETER FilePath
    Full paths of files whose own Authenticode signature is read.

.PARAMETER ImagePath
    Full paths of .ISO images to mount read-only; the signature of -ImageEntry inside is read.

.PARAMETER ImageEntry
    Path of the file inside each image whose signature is read (default Setup.exe).

.OUTPUTS
    System.Collections.Specialized.OrderedDictionary with the keys collector and files; each
    entry of files has path, exists, checked_path, status, status_message, signer_subject,
    signer_thumbprint, root_subject, root_thumbprint, error and warning.

.EXAMPLE
    .\Get-MediaSignature.ps1 -FilePath 'C:\ExchangeMedia\Exchange2019\CU15\Exchange2019-KB5049233-x64-en.msp'

.NOTES
    Requires Windows PowerShell 5.1 and the Storage module (Mount-DiskImage) for images, which
    need an elevated session.
#>
[CmdletBinding()]
param (
    [Parameter()]
    [AllowEmptyCollection()]
    [string[]]
    $FilePath = @(),

    [Parameter()]
    [AllowEmptyCollection()]
    [string[]]
    $ImagePath = @(),

    [Parameter()]
    [string]
    $ImageEntry = 'Setup.exe'
)

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ansibleContext = Get-Variable -Name 'Ansible' -ValueOnly -ErrorAction SilentlyContinue
if ($null -ne $ansibleContext) {
    # Read-only: a mounted image is dismounted again before the script ends.
    $Ansible.Changed = $false
}

function ConvertTo-OneLine {
    <#
    .SYNOPSIS
        Returns the message of an error record, exception or text on one line.
    #>
    [CmdletBinding()]
    param (
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
    return ($message -replace '\s*[\r\n]+\s*', ' ').Trim()
}

function New-SignatureEntry {
    <#
    .SYNOPSIS
        Returns the result object of one path with every fact absent.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Path
    )

    return [ordered]@{
        path              = $Path
        exists            = $null
        checked_path      = $null
        status            = $null
        status_message    = $null
        signer_subject    = $null
        signer_thumbprint = $null
        root_subject      = $null
        root_thumbprint   = $null
        error             = $null
        warning           = $null
    }
}

function Get-CertificateChainRoot {
    <#
    .SYNOPSIS
        Returns the subject and thumbprint of the last certificate of the signer's chain.
    .DESCRIPTION
        Revocation is not checked here: Get-AuthenticodeSignature has already judged trust, and
        a server without internet access would report every chain as revocation-unknown. A chain
        that does not end in a trusted root still lists its elements, so the root named here is
        whatever the chain ends in; the controller decides whether it is acceptable.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [System.Security.Cryptography.X509Certificates.X509Certificate2]
        $Certificate
    )

    $chain = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Chain
    try {
        $chain.ChainPolicy.RevocationMode = [System.Security.Cryptography.X509Certificates.X509RevocationMode]::NoCheck
        $null = $chain.Build($Certificate)
        $count = $chain.ChainElements.Count
        if ($count -eq 0) {
            return $null
        }
        $root = $chain.ChainElements[$count - 1].Certificate
        return [ordered]@{
            subject    = $root.Subject
            thumbprint = $root.Thumbprint
        }
    }
    finally {
        $chain.Reset()
    }
}

function Read-AuthenticodeSignature {
    <#
    .SYNOPSIS
        Fills status, signer and chain root of a result object from Get-AuthenticodeSignature.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [System.Collections.Specialized.OrderedDictionary]
        $Entry,

        [Parameter(Mandatory = $true)]
        [string]
        $LiteralPath
    )

    $signature = Get-AuthenticodeSignature -LiteralPath $LiteralPath
    $Entry.status = [string]$signature.Status
    $Entry.status_message = $signature.StatusMessage
    $signer = $signature.SignerCertificate
    if ($null -ne $signer) {
        $Entry.signer_subject = $signer.Subject
        $Entry.signer_thumbprint = $signer.Thumbprint
        $root = Get-CertificateChainRoot -Certificate $signer
        if ($null -ne $root) {
            $Entry.root_subject = $root.subject
            $Entry.root_thumbprint = $root.thumbprint
        }
    }
}

function Get-FileSignature {
    <#
    .SYNOPSIS
        Returns the signature facts of one file (.msp, .msi, .exe).
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Path
    )

    $entry = New-SignatureEntry -Path $Path
    try {
        $entry.exists = Test-Path -LiteralPath $Path -PathType Leaf
        if ($entry.exists) {
            $entry.checked_path = $Path
            Read-AuthenticodeSignature -Entry $entry -LiteralPath $Path
        }
    }
    catch {
        $entry.error = ConvertTo-OneLine -Reason $_
    }
    return $entry
}

function Get-ImageDriveRoot {
    <#
    .SYNOPSIS
        Returns the root folder (E:\) of a mounted disk image, or $null when it has no drive letter.
    .DESCRIPTION
        Windows assigns the drive letter a moment after the image is attached, so the volume is
        asked again for up to ten seconds.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $ImagePath
    )

    for ($attempt = 0; $attempt -lt 20; $attempt++) {
        $volume = Get-DiskImage -ImagePath $ImagePath | Get-Volume -ErrorAction SilentlyContinue | Select-Object -First 1
        if ($null -ne $volume) {
            # Only a letter counts: a volume without one may report $null or the NUL character.
            $letter = [string]$volume.DriveLetter
            if ($letter -match '^[A-Za-z]$') {
                return ('{0}:\' -f $letter)
            }
        }
        Start-Sleep -Milliseconds 500
    }
    return $null
}

function Get-ImageSignature {
    <#
    .SYNOPSIS
        Returns the signature facts of the file -Entry inside an .ISO image mounted read-only.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $Path,

        [Parameter(Mandatory = $true)]
        [string]
        $Entry
    )

    $result = New-SignatureEntry -Path $Path
    $mountedHere = $false
    try {
        $result.exists = Test-Path -LiteralPath $Path -PathType Leaf
        if ($result.exists) {
            $image = Get-DiskImage -ImagePath $Path
            if (-not $image.Attached) {
                $null = Mount-DiskImage -ImagePath $Path -Access ReadOnly -StorageType ISO
                $mountedHere = $true
            }
            $root = Get-ImageDriveRoot -ImagePath $Path
            if ($null -eq $root) {
                $result.error = 'the mounted image has no drive letter'
            }
            else {
                $inside = Join-Path -Path $root -ChildPath $Entry
                $result.checked_path = $inside
                if (Test-Path -LiteralPath $inside -PathType Leaf) {
                    Read-AuthenticodeSignature -Entry $result -LiteralPath $inside
                }
                else {
                    $result.error = ('{0} is not in the image' -f $Entry)
                }
            }
        }
    }
    catch {
        $result.error = ConvertTo-OneLine -Reason $_
    }
    finally {
        if ($mountedHere) {
            try {
                $null = Dismount-DiskImage -ImagePath $Path
            }
            catch {
                $result.warning = ('could not dismount the image: {0}' -f (ConvertTo-OneLine -Reason $_))
            }
        }
    }
    return $result
}

$files = [System.Collections.Generic.List[object]]::new()
foreach ($path in $FilePath) {
    if (-not [string]::IsNullOrWhiteSpace($path)) {
        $files.Add((Get-FileSignature -Path $path))
    }
}
foreach ($path in $ImagePath) {
    if (-not [string]::IsNullOrWhiteSpace($path)) {
        $files.Add((Get-ImageSignature -Path $path -Entry $ImageEntry))
    }
}

$result = [ordered]@{
    collector = 'Get-MediaSignature'
    files     = $files.ToArray()
}

if ($null -ne $ansibleContext) {
    $Ansible.Result = $result
}
else {
    $result
}
