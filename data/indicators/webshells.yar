/*
  Webshell content signatures for Exchange web folders (docs/hunt-rules.md, "The YARA file").

  Written for this project from the published descriptions of the shells (Microsoft, Volexity,
  CISA AA21-062A, Mandiant, Huntress, GTSC; summarised in words, with short literals, in the
  project's indicator reference, section 6). No third-party rule bodies are reproduced.

  Every rule carries meta 'severity' ("critical" = a working shell, "high" = strong artefact)
  and 'description'. Rule WEBSHELL-CONTENT reports the highest severity among the matches; its
  severity_when list names the critical rules (a test keeps both in step). Strings are matched
  without regard to case, in ASCII and, where Exchange writes UTF-16 (the OAB virtual-directory
  dump written through Set-OabVirtualDirectory), in UTF-16LE too ('wide'). The engine scans the
  head of each file (webshells are small); filesize limits follow the size hints of the published
  shells, generously, so a padded copy still matches.
*/

rule exchange_jscript_china_chopper
{
    meta:
        severity = "critical"
        description = "China Chopper one-liner: a server-side JScript block that evaluates a request value"
    strings:
        $script = /<script[^>]{0,80}language\s*=\s*["']?jscript["']?[^>]{0,80}runat\s*=\s*["']?server/ nocase ascii wide
        $page = /<%@\s*page\s+language\s*=\s*["']?jscript/ nocase ascii wide
        $eval = "eval(Request" nocase ascii wide
    condition:
        filesize < 64KB and ($script or $page) and $eval
}

rule exchange_oab_config_dump_shell
{
    meta:
        severity = "critical"
        description = "OAB virtual-directory property dump carrying script (CVE-2021-27065 shell written by Set-OabVirtualDirectory)"
    strings:
        $url_external = "ExternalUrl" nocase ascii wide
        $url_internal = "InternalUrl" nocase ascii wide
        $auth = "InternalAuthenticationMethods" nocase ascii wide
        $epa = "ExtendedProtectionTokenChecking" nocase ascii wide
        $code_script = "script language" nocase ascii wide
        $code_page = "page language" nocase ascii wide
        $code_runat = "runat=\"server\"" nocase ascii wide
        $code_close = "</script" nocase ascii wide
    condition:
        filesize < 256KB and any of ($url_*) and $auth and $epa and any of ($code_*)
}

rule exchange_form_writer_shell
{
    meta:
        severity = "critical"
        description = "Page that writes a posted form value into a file of a posted name"
    strings:
        $writer = "new System.IO.StreamWriter(Request.Form[" nocase ascii wide
        $write = ".Write(Request.Form[" nocase ascii wide
    condition:
        filesize < 256KB and $writer and $write
}

rule exchange_file_uploader_shell
{
    meta:
        severity = "critical"
        description = "C# page that saves an uploaded file to a path on the server"
    strings:
        $save = "Request.Files[0].SaveAs(" nocase ascii wide
        $map = "Server.MapPath(" nocase ascii wide
        $combine = "Path.Combine" nocase ascii wide
        $csharp = /<%@\s*page\s+language\s*=\s*["']?c#/ nocase ascii wide
    condition:
        filesize < 64KB and $save and ($map or $combine) and $csharp
}

rule exchange_base64_eval_shell
{
    meta:
        severity = "critical"
        description = "JScript page that base64-decodes a value and evaluates it"
    strings:
        $b64 = ".FromBase64String(" nocase ascii wide
        $eval = "eval(System.Text.Encoding." nocase ascii wide
    condition:
        filesize < 64KB and $b64 and $eval
}

rule exchange_obfuscated_chopper
{
    meta:
        severity = "critical"
        description = "China Chopper variant with obfuscated (_0x...) JScript"
    strings:
        $url = "http://f/<script language=\"JScript\" runat=\"server\">var _0x" nocase ascii wide
        $eval = ";eval(Request[_0x" nocase ascii wide
        $table = "','orange','unsafe','" nocase ascii wide
    condition:
        any of them
}

rule exchange_edr_checker
{
    meta:
        severity = "high"
        description = "SecChecker: page that probes for endpoint-protection agents before an intrusion goes on"
    strings:
        $open = "<%"
        $exists = "System.IO.File.Exists(" nocase ascii wide
        $fireeye = /fireeye\\{1,2}xagt\.exe/ nocase ascii wide
        $crowdstrike = "csfalconservice.exe" nocase ascii wide
    condition:
        filesize < 16KB and $open at 0 and $exists and ($fireeye or $crowdstrike)
}

rule exchange_sportsball_shell
{
    meta:
        severity = "critical"
        description = "SPORTSBALL: command shell keyed by the fqrspt cookie, or upload form feeding a process's stdin"
    strings:
        $cookie = "fqrspt" nocase ascii wide
        $form = "Request.Form" nocase ascii wide
        $upload = "multipart/form-data" nocase ascii wide
        $stdin = "StandardInput.WriteLine(" nocase ascii wide
    condition:
        filesize < 256KB and (($cookie and $form) or ($upload and $stdin))
}

rule exchange_regeorg_tunnel
{
    meta:
        severity = "critical"
        description = "reGeorg-style socket tunnel driven by base64 request headers"
    strings:
        $sockets = "System.Net.Sockets" nocase ascii wide
        $b64 = "Convert.FromBase64String(" nocase ascii wide
        $header = "Request.Headers.Get" nocase ascii wide
    condition:
        filesize < 256KB and $sockets and $b64 and $header
}

rule exchange_proxyshell_eval_marker
{
    meta:
        severity = "critical"
        description = "ProxyShell-era shell: eval hidden behind a /*...*/ comment"
    strings:
        $asf = ");eval/*asf" nocase ascii wide
        $eval_comment = "eval/*" nocase ascii wide
        $appcache = "AppcacheVer" nocase ascii wide
        $error_word = "function getErrorWord" nocase ascii wide
    condition:
        $asf or ($eval_comment and ($appcache or $error_word))
}

rule exchange_xsl_transform_shell
{
    meta:
        severity = "critical"
        description = "Page that loads base64-decoded XSL from a request value and runs the transform"
    strings:
        $load = ".LoadXml(" nocase ascii wide
        $b64 = "FromBase64String(" nocase ascii wide
        $request = "Request[" nocase ascii wide
        $transform = "Transform(" nocase ascii wide
    condition:
        filesize < 256KB and $load and $b64 and $request and $transform
}

rule exchange_pst_export_shell
{
    meta:
        severity = "critical"
        description = "Mailbox exported as a page (PST header) carrying a known ProxyShell payload marker"
    strings:
        $gold = "gold8899" nocase ascii wide
        $exec = "exec_code" nocase ascii wide
        $orange = "orangenb" nocase ascii wide
    condition:
        uint32(0) == 0x4e444221 and any of them
}

rule exchange_compiled_page_shell
{
    meta:
        severity = "high"
        description = "Compiled ASP.NET page (App_Web_*.dll) for a page under ~/aspnet_client/ or ~/auth/ that evaluates input, decodes payloads or runs processes"
    strings:
        $path_client = "~/aspnet_client/" nocase ascii wide
        $path_auth = "~/auth/" nocase ascii wide
        $use_jscript = "JScriptEvaluate" ascii
        $use_base64 = "FromBase64String" ascii
        $use_process = "ProcessStartInfo" ascii
        $use_save = "SaveAs" ascii
    condition:
        uint16(0) == 0x5a4d and any of ($path_*) and any of ($use_*)
}

rule exchange_generic_eval_page
{
    meta:
        severity = "high"
        description = "Generic page that evaluates request input (Request.Item with \"unsafe\", or <%eval()"
    strings:
        $page = "Page Language=" nocase ascii wide
        $item = "Request.Item[" nocase ascii wide
        $unsafe = "\"unsafe\")" nocase ascii wide
        $inline = "<%eval(" nocase ascii wide
    condition:
        ($page and $item and $unsafe) or $inline
}
