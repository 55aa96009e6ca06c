"""Read-only Microsoft Graph client for the migration readiness check (m365-migration.md §7–§9).

* App-only token with MSAL ``ConfidentialClientApplication`` and a certificate credential
  (``{"private_key": PEM, "thumbprint": SHA-1 hex, "passphrase": optional}``), scope
  ``<graph host>/.default``. No client secret.
* ``GET`` with paging through ``@odata.nextLink`` (only ever followed on the Graph host, so the
  token is never sent elsewhere), a timeout on every request, and ``429``/``503``/``504`` retried
  a bounded number of times after ``Retry-After`` (capped).
* Every failure becomes a ``GraphError`` whose message names the cause: unreachable host, the
  application permission a 401/403 calls for, an unreadable or wrong certificate key. Neither the
  private key, its passphrase nor the access token ever appears in a message or a return value.

``check_tenant_readiness`` turns a ``GraphError`` into a not-ready report with the reason
("Graph unreachable: …"), never into an exception and never into "ready".
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msal
import msal.exceptions
import requests
from cryptography.hazmat.primitives import serialization

try:  # loaded by Ansible as ansible.module_utils.*
    from ansible.module_utils.exchange_remediation.graph_readiness import (
        MigrationMailbox,
        ReadinessReport,
        assess_graph_readiness,
        unavailable_report,
    )
except ImportError:  # tests and tools put module_utils/ on sys.path
    from exchange_remediation.graph_readiness import (
        MigrationMailbox,
        ReadinessReport,
        assess_graph_readiness,
        unavailable_report,
    )

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
RETRY_STATUSES = (429, 503, 504)
# Application permissions per Graph collection (m365-migration.md §7 and §9). The domain one is
# the name §7 gives and marks uncertain; it is not verified here against Microsoft's page, so an
# error naming it says what to check, not a confirmed least privilege.
PERMISSIONS = {
    "users": "User.Read.All",
    "subscribedSkus": "Organization.Read.All",
    "domains": "Domain.Read.All",
}
USER_FIELDS = ("id", "userPrincipalName", "mail", "proxyAddresses", "assignedLicenses", "usageLocation",
               "onPremisesSyncEnabled", "onPremisesImmutableId", "accountEnabled")


class GraphError(Exception):
    """A Graph or token request failed; ``kind`` is unreachable, permission, auth, certificate,
    throttled or http; ``str()`` is the reason to report."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class GraphSettings:
    tenant_id: str
    client_id: str
    certificate_thumbprint: str
    private_key_path: str
    private_key_passphrase: str | None = field(default=None, repr=False)
    authority_host: str = DEFAULT_AUTHORITY_HOST
    graph_base_url: str = DEFAULT_GRAPH_BASE_URL
    timeout: float = 30.0
    max_retries: int = 4
    max_retry_after: float = 120.0
    # CA bundle for TLS verification (a TLS-inspecting proxy, or a test server); None: system CAs.
    ca_bundle: str | None = None

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    @property
    def scope(self) -> str:
        parts = urlsplit(self.graph_base_url)
        return f"{parts.scheme}://{parts.netloc}/.default"


def _load_private_key(settings: GraphSettings) -> str:
    """The PEM text of the key, after checking that it opens with the passphrase given."""
    try:
        with open(settings.private_key_path, "rb") as handle:
            pem = handle.read()
    except OSError as err:
        raise GraphError("certificate", f"Bad certificate: cannot read private key file "
                                        f"{settings.private_key_path}: {err.strerror}") from None
    passphrase = settings.private_key_passphrase.encode() if settings.private_key_passphrase else None
    try:
        serialization.load_pem_private_key(pem, password=passphrase)
    except TypeError:
        reason = ("the key is encrypted and no passphrase was given" if passphrase is None
                  else "a passphrase was given but the key is not encrypted")
        raise GraphError("certificate", f"Bad certificate: private key {settings.private_key_path}: {reason}") from None
    except ValueError:
        raise GraphError("certificate", f"Bad certificate: private key {settings.private_key_path} is not a PEM "
                                        "private key or the passphrase is wrong (convert a PFX with "
                                        "openssl pkcs12 -nocerts)") from None
    return pem.decode("ascii")


def _retry_after(value: str | None, attempt: int, cap: float) -> float:
    """Seconds to wait: Retry-After as seconds or HTTP date, else exponential back-off; at most ``cap``."""
    wait = float(2 ** attempt)
    if value:
        value = value.strip()
        if value.isdigit():
            wait = float(value)
        else:
            with contextlib.suppress(TypeError, ValueError):  # unparsable: keep the back-off
                wait = max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    return min(wait, cap)


def _cause(err: requests.RequestException) -> str:
    """'ConnectionError ([Errno 111] Connection refused)': the exception and, when found, the OS or TLS reason."""
    found = re.search(r"(\[Errno -?\d+\][^'\")]*|\[SSL[^\]]*\][^'\")(]*|timed out)", str(err))
    return f"{type(err).__name__} ({found.group(1).strip()})" if found else type(err).__name__


def _graph_error_text(response: requests.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return ""
    if not isinstance(error, dict):
        return ""
    text = ": ".join(str(part) for part in (error.get("code"), error.get("message")) if part)
    return f" ({text})" if text else ""


class _Session(requests.Session):
    """A session whose timeout and CA bundle hold for every request, MSAL's included: a bundle given
    per request is the only one that wins over REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in requests."""

    def __init__(self, timeout: float, ca_bundle: str | None):
        super().__init__()
        self._timeout = timeout
        self._ca_bundle = ca_bundle

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self._timeout)
        if self._ca_bundle:
            kwargs["verify"] = self._ca_bundle
        return super().request(method, url, **kwargs)


class GraphClient:
    def __init__(self, settings: GraphSettings, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self._session = session or _Session(settings.timeout, settings.ca_bundle)
        self._sleep = sleep
        self._app: msal.ConfidentialClientApplication | None = None
        self._graph = urlsplit(settings.graph_base_url)

    @property
    def _verify(self) -> str | bool:
        return self.settings.ca_bundle or True

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            settings = self.settings
            credential = {"thumbprint": settings.certificate_thumbprint, "private_key": _load_private_key(settings)}
            if settings.private_key_passphrase:
                credential["passphrase"] = settings.private_key_passphrase
            default_host = settings.authority_host.rstrip("/") == DEFAULT_AUTHORITY_HOST
            try:
                # MSAL reads <authority>/v2.0/.well-known/openid-configuration here. Instance discovery
                # (a call to login.microsoftonline.com about the host) only makes sense for Microsoft's hosts.
                self._app = msal.ConfidentialClientApplication(
                    settings.client_id, client_credential=credential, authority=settings.authority,
                    instance_discovery=None if default_host else False,
                    http_client=self._session, token_cache=msal.TokenCache())
            except requests.RequestException as err:
                raise GraphError("unreachable", f"Graph unreachable: sign-in authority {settings.authority}: "
                                                f"{_cause(err)}") from None
            except msal.exceptions.MsalError as err:  # e.g. a 5xx from OpenID discovery
                raise GraphError("unreachable", f"Graph unreachable: sign-in authority {settings.authority} "
                                                f"answered {err}") from None
            except ValueError as err:
                raise GraphError("auth", f"Sign-in authority {settings.authority} rejected: {err}") from None
        return self._app

    def _token(self) -> str:
        try:
            result = self._application().acquire_token_for_client(scopes=[self.settings.scope])
        except requests.RequestException as err:
            raise GraphError("unreachable", f"Graph unreachable: token endpoint of {self.settings.authority}: "
                                            f"{_cause(err)}") from None
        except msal.exceptions.MsalError as err:
            raise GraphError("unreachable", f"Graph unreachable: token endpoint of {self.settings.authority} "
                                            f"answered {err}") from None
        except ValueError as err:  # MSAL/PyJWT could not sign the assertion with this key
            raise GraphError("certificate", f"Bad certificate: cannot sign the client assertion: {err}") from None
        if "access_token" in result:
            return result["access_token"]
        error = str(result.get("error") or "unknown_error")
        description = str(result.get("error_description") or "").splitlines()[0:1]
        detail = f"{error}: {description[0]}" if description else error
        if error == "invalid_client":
            raise GraphError("certificate", f"Bad certificate: Entra ID refused the certificate credential of app "
                                            f"{self.settings.client_id} ({detail}); upload the certificate with "
                                            f"thumbprint {self.settings.certificate_thumbprint} to the app "
                                            "registration.")
        raise GraphError("auth", f"Token request for app {self.settings.client_id} failed ({detail}).")

    def _permission_for(self, url: str) -> str:
        path = urlsplit(url).path[len(self._graph.path.rstrip("/")):].strip("/")
        collection = path.split("/", 1)[0]
        return PERMISSIONS.get(collection, "the application permission for " + (collection or "this request"))

    def _get(self, url: str, token: str) -> dict[str, Any]:
        settings = self.settings
        attempt = 0
        while True:
            try:
                response = self._session.get(url, headers={"Authorization": f"Bearer {token}",
                                                           "Accept": "application/json"},
                                             timeout=settings.timeout, verify=self._verify)
            except requests.RequestException as err:
                raise GraphError("unreachable", f"Graph unreachable: GET {url}: {_cause(err)}") from None
            if response.status_code in RETRY_STATUSES and attempt < settings.max_retries:
                self._sleep(_retry_after(response.headers.get("Retry-After"), attempt, settings.max_retry_after))
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES:
                raise GraphError("throttled", f"Graph throttled: GET {url} still answered {response.status_code} "
                                              f"after {settings.max_retries} retries.")
            if response.status_code in (401, 403):
                permission = self._permission_for(url)
                check = ("check the tenant id and that the token carries the application permission"
                         if response.status_code == 401 else "grant the application permission")
                raise GraphError("permission", f"Graph refused GET {url} with {response.status_code}"
                                               f"{_graph_error_text(response)}: {check} {permission} "
                                               f"(app {settings.client_id}, admin consent required).")
            if response.status_code != 200:
                raise GraphError("http", f"Graph GET {url} answered {response.status_code}"
                                         f"{_graph_error_text(response)}.")
            try:
                return response.json()
            except ValueError:
                raise GraphError("http", f"Graph GET {url} answered with a body that is not JSON.") from None

    def get_all(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a Graph collection, following ``@odata.nextLink`` on the Graph host only."""
        token = self._token()
        url = self.settings.graph_base_url.rstrip("/") + "/" + path.lstrip("/")
        if params:
            url += "?" + "&".join(f"{key}={value}" for key, value in params.items())
        items: list[dict[str, Any]] = []
        while url:
            page = self._get(url, token)
            items.extend(page.get("value") or [])
            url = page.get("@odata.nextLink")
            if url and urlsplit(url).netloc != self._graph.netloc:
                raise GraphError("http", f"Graph paging link points to another host ({urlsplit(url).netloc}); "
                                         "refusing to send the token there.")
        return items

    def users(self) -> list[dict[str, Any]]:
        return self.get_all("users", {"$select": ",".join(USER_FIELDS), "$top": "999"})

    def subscribed_skus(self) -> list[dict[str, Any]]:
        return self.get_all("subscribedSkus")

    def domains(self) -> list[dict[str, Any]]:
        return self.get_all("domains")


def check_tenant_readiness(settings: GraphSettings, mailboxes: Sequence[MigrationMailbox], tenant: str, *,
                           client: GraphClient | None = None, expect_synced: bool = True,
                           licence_required: bool = True) -> ReadinessReport:
    """Fetch users, SKUs and domains from Graph and decide readiness; a Graph failure is a
    not-ready report with the reason, never an exception."""
    client = client or GraphClient(settings)
    try:
        users, skus, domains = client.users(), client.subscribed_skus(), client.domains()
    except GraphError as err:
        return unavailable_report(str(err), len(mailboxes))
    return assess_graph_readiness(mailboxes, tenant, users, skus, domains,
                                  expect_synced=expect_synced, licence_required=licence_required)
