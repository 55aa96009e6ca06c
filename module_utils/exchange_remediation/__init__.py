"""Pure Python core of exchange-remediation.

No Ansible imports and no I/O to servers: everything here is a decision made from data that a
caller passes in, so it can be unit-tested on Linux. Imports inside the package are relative
because the same files are loaded as ``ansible.module_utils.exchange_remediation`` by modules
and as ``exchange_remediation`` by the tests.
"""
