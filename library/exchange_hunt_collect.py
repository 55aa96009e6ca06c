#!/usr/bin/python
"""Documentation of the PowerShell module exchange_hunt_collect.ps1 (no code: it runs on Windows)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: exchange_hunt_collect
short_description: Collect an Exchange server's hunt evidence (reduced logs, web folder listing, events), read-only
description:
  - Runs on the Exchange server. Resolves the path tokens C(<EX>) (registry C(MsiInstallPath) of Exchange v15, else
    v14), C(<SYS>), C(<WWW>) and C(<IISLOG>) (Default Web Site root and IIS log folder from C(applicationHost.config)),
    C(<WINDIR>) and C(<PROGRAMDATA>).
  - Streams every log file of O(log_sets) modified since O(since), opened shared so that logs Exchange holds open
    are read, and keeps line 1, every line starting with C(#), the first and the last data line, and the lines that
    contain one of the set's literals (case-insensitive). A file that several sets reach is read once, with the
    union of their literals.
  - Lists the files of O(file_sets) with size, SHA-256, last write time and first 16 bytes, plus the first
    O(max_script_bytes) of script files (C(.aspx .ashx .asp .asmx .js .config .ps1 .bat .cmd)), base64-encoded.
  - Reads the events of each channel of O(event_sets) since O(since) and keeps those whose message, provider, level
    name or properties contain a literal (all of them with C(keep_all)), and the first and last event for coverage.
  - What one server sends back is capped by O(max_bytes), O(max_file_bytes) and O(max_events_per_channel), and the
    time it reads by O(max_seconds); every cap that was hit is listed in RV(caps_hit) and a warning is shown.
  - A file, folder or channel that cannot be read is listed in RV(errors); the module does not fail for it.
  - The folders, literals and channels come from the indicator rules on the controller (C(exchange_hunt) with
    C(collection_spec=true)); the module holds no rule logic.
  - Never writes anything on the server. Supports check mode (it runs the same way).
version_added: "0.2.0"
options:
  since:
    description:
      - Only log files written since, and events created since, this UTC date (C(YYYY-MM-DD)) or time
        (C(YYYY-MM-DDTHH:MM:SSZ)). Web folders are listed whatever their age. Unset means no limit.
    type: str
  log_sets:
    description: Log folders to reduce.
    type: list
    elements: dict
    default: []
    suboptions:
      stream:
        description: Statistics bucket of the files (C(HttpProxy), C(ECP), C(IIS) ...), reported with each file.
        type: str
        default: ""
      root:
        description: Folder without wildcards; may start with a token such as C(<EX>).
        type: str
        required: true
      recurse:
        description: Also read the subfolders.
        type: bool
        default: false
      include:
        description: File name pattern (C(*) and C(?), case-insensitive).
        type: str
        default: "*"
      literals:
        description: A data line is kept when it contains one of these strings (case-insensitive).
        type: list
        elements: str
        default: []
  file_sets:
    description: Folders whose files are listed with their hash (web folders, system locations).
    type: list
    elements: dict
    default: []
    suboptions:
      stream:
        description: Statistics bucket of the files (C(WebFolders), C(SystemFiles) ...).
        type: str
        default: ""
      root:
        description: Folder without wildcards; may start with a token such as C(<WWW>).
        type: str
        required: true
      recurse:
        description: Also list the subfolders.
        type: bool
        default: false
      include:
        description: File name pattern (C(*) and C(?), case-insensitive).
        type: str
        default: "*"
  event_sets:
    description: Event log channels to read.
    type: list
    elements: dict
    default: []
    suboptions:
      channel:
        description: Channel name, for example C(Application) or C(MSExchange Management).
        type: str
        required: true
      stream:
        description: Statistics bucket of the channel (C(Application), C(MSExchangeManagement) ...) for RV(caps_hit).
        type: str
        default: ""
      literals:
        description: An event is kept when its message, provider, level name or one of its properties contains one.
        type: list
        elements: str
        default: []
      keep_all:
        description: Keep every event of the channel (up to O(max_events_per_channel)).
        type: bool
        default: false
  max_bytes:
    description: Most bytes of content (kept log lines, script heads, events, listing) this server sends back.
    type: int
    default: 67108864
  max_file_bytes:
    description: Most bytes kept from one log file.
    type: int
    default: 16777216
  max_events_per_channel:
    description: Most events kept from one channel.
    type: int
    default: 20000
  max_script_bytes:
    description: How many bytes of the start of each script file are copied.
    type: int
    default: 65536
  max_seconds:
    description:
      - Time budget on the server. When it is spent, the files and events not yet read are skipped and recorded in
        RV(caps_hit), and what was read is returned, instead of the task running into its timeout and returning
        nothing. Set it below the task's C(timeout). C(0) means no limit.
    type: int
    default: 0
notes:
  - Files are opened with C(FileShare.ReadWrite) and C(FileShare.Delete), so the processes writing them are not
    disturbed; nothing is written, moved or locked exclusively.
  - A wildcard folder in the middle of a rule's glob is read recursively, so the module may return more files than
    the rule matches; the hunt applies the exact globs to the evidence bundle.
seealso:
  - module: exchange_hunt_bundle
author:
  - exchange-remediation maintainers
"""

EXAMPLES = r"""
- name: Collect the hunt evidence the rules ask for
  exchange_hunt_collect:
    since: "2021-01-01"
    log_sets:
      - stream: HttpProxy
        root: '<EX>Logging\HttpProxy'
        recurse: true
        include: '*.log'
        literals: ['ServerInfo~', '/ecp/']
    file_sets:
      - stream: WebFolders
        root: '<WWW>\aspnet_client'
        recurse: true
    event_sets:
      - channel: MSExchange Management
        literals: ['New-MailboxExportRequest']
  register: collected
"""

RETURN = r"""
collected_at:
  description: When the collection started on the server (ISO 8601 UTC).
  returned: always
  type: str
  sample: "2021-03-08T10:00:00.000Z"
since:
  description: The O(since) limit as ISO 8601 UTC, or null.
  returned: always
  type: str
tokens:
  description: The value of each path token on this server (null when unknown, for example C(<EX>) without Exchange).
  returned: always
  type: dict
  sample: {"<EX>": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\", "<SYS>": "C:"}
roots:
  description: Each set's folder, resolved, whether it exists and how many files matched.
  returned: always
  type: list
  elements: dict
files:
  description:
    - One entry per log file read (or not read because the total cap was reached, C(read=false)) with C(path),
      C(stream), C(lines) (all lines of the file), C(bytes) (size on the server), C(kept) (lines kept), C(capped),
      C(read), C(content) (kept lines joined with CRLF) and C(line_numbers) (the 1-based line number of each kept line).
  returned: always
  type: list
  elements: dict
listing:
  description:
    - One entry per file of the file sets with C(path), C(stream), C(type), C(size), C(sha256) (whole file),
      C(modified), C(head_hex) (first 16 bytes), C(head_base64) (start of a script file, or null) and C(truncated).
  returned: always
  type: list
  elements: dict
events:
  description:
    - Per channel C(stream), C(count) (events since O(since)), C(kept), C(capped), C(first), C(last), C(records), and
      C(error) when the channel could not be read.
  returned: always
  type: dict
caps_hit:
  description: Every cap that was hit, with C(cap), C(stream), C(source), C(limit) and C(detail).
  returned: always
  type: list
  elements: dict
errors:
  description: "Items that could not be read, one line each (C(section: reason))."
  returned: always
  type: list
  elements: str
limits:
  description: The caps used.
  returned: always
  type: dict
"""
