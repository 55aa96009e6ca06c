"""Read the facts of an evidence bundle (format version 1, DESIGN.md) from a local folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

SERVER_JSON = "server.json"
SUPPORTED_SCHEMA = 1
# A server.json is a few KB; anything this large is not one and must not be read into memory.
MAX_SERVER_JSON_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class BundleFacts:
    server: dict[str, Any] | None
    error: str | None


def read_bundle_facts(bundle_dir: str) -> BundleFacts:
    """server.json of a bundle, or the reason it cannot be used. Never raises."""
    if not bundle_dir:
        return BundleFacts(None, "no evidence bundle folder given")
    if not os.path.isdir(bundle_dir):
        return BundleFacts(None, f"evidence bundle folder {bundle_dir} does not exist")
    path = os.path.join(bundle_dir, SERVER_JSON)
    try:
        size = os.path.getsize(path)
        if size > MAX_SERVER_JSON_BYTES:
            return BundleFacts(None, f"{path} is {size} bytes, too large for a server.json")
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return BundleFacts(None, f"{path} is missing")
    except OSError as exc:
        return BundleFacts(None, f"cannot read {path}: {exc.strerror}")
    try:
        # utf-8-sig: files written by Windows PowerShell 5.1 start with a BOM.
        server = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return BundleFacts(None, f"{path} is not UTF-8 text (byte {exc.start})")
    except json.JSONDecodeError as exc:
        return BundleFacts(None, f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    return BundleFacts(*validate_server_facts(server, path))


def validate_server_facts(server: Any, where: str) -> tuple[dict[str, Any] | None, str | None]:
    """Check the keys the contract requires: schema, hostname, exchange.exsetup_version."""
    if not isinstance(server, dict):
        return None, f"{where} does not hold a JSON object"
    schema = server.get("schema")
    if type(schema) is not int or schema != SUPPORTED_SCHEMA:  # true == 1 in Python; not in the contract
        return None, f"{where} has schema {schema!r}; this version reads schema {SUPPORTED_SCHEMA}"
    if not isinstance(server.get("hostname"), str) or not server["hostname"].strip():
        return None, f"{where} has no hostname"
    exchange = server.get("exchange")
    if not isinstance(exchange, dict):
        return None, f"{where} has no exchange object"
    if "exsetup_version" not in exchange:
        return None, f"{where} has no exchange.exsetup_version"
    return server, None
