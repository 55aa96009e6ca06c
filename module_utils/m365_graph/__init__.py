"""Network side of the Microsoft 365 checks: Microsoft Graph through MSAL (certificate credentials).

Kept apart from ``exchange_remediation`` (the pure core, no network): this package fetches the
Graph payloads and hands them to ``exchange_remediation.graph_readiness`` for the decisions.
"""
