"""The Graph client against a local HTTPS server that plays both Entra ID (OpenID discovery and
the token endpoint) and Microsoft Graph, answering with the recorded responses in
tests/fixtures/graph/ (recorded-shape: real field names, SKU part numbers and service plan names,
GUID-shaped ids; written for these tests, not captured from a tenant).

MSAL only accepts an ``https://host/tenant`` authority, so the server speaks TLS with a throwaway
self-signed certificate for 127.0.0.1 (trusted through ``GraphSettings.ca_bundle``), and the client
turns MSAL's instance discovery off for a non-Microsoft authority host: MSAL then reads
``/<tenant>/v2.0/.well-known/openid-configuration`` from the server and posts the certificate-signed
client assertion to the token endpoint named there. The scope follows the Graph base URL
(``<graph host>/.default``, so the local host here). A second throwaway certificate is the app's
credential; the server checks the assertion's signature and SHA-1 thumbprint (``x5t``) with it.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from m365_graph.graph_client import (
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_GRAPH_BASE_URL,
    GraphClient,
    GraphError,
    GraphSettings,
    _retry_after,
    check_tenant_readiness,
)

from exchange_remediation.graph_readiness import MigrationMailbox

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "graph"
TENANT_ID = "3f2a8c1e-5b7d-4e9f-a1c3-6d8b0e2f4a6c"
CLIENT_ID = "8a1b2c3d-4e5f-4a6b-9c7d-0e1f2a3b4c5d"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.recorded-shape-access-token.signature"
PASSPHRASE = "correct horse battery staple"


def make_certificate(directory: Path, name: str, passphrase: str | None = None) -> tuple[Path, Path, str]:
    """A throwaway self-signed certificate for 127.0.0.1: (key PEM path, cert PEM path, SHA-1 hex)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    key_path, cert_path = directory / f"{name}.key.pem", directory / f"{name}.cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path, cert.fingerprint(hashes.SHA1()).hex().upper()


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


class FakeCloud:
    """State shared with the request handler: what to answer and what was asked."""

    def __init__(self, client_cert_path: Path):
        self.client_cert = x509.load_pem_x509_certificate(client_cert_path.read_bytes())
        self.base = ""
        self.requests: list[str] = []
        self.scopes: list[str] = []
        self.throttle_skus = 1  # answer /subscribedSkus with 429 this many times first
        self.retry_after = "1"
        self.forbidden: set[str] = set()  # Graph collections that answer 403
        self.unavailable_domains = 0  # answer /domains with 503 this many times first
        self.discovery_down = False  # OpenID discovery answers 503
        self.reject_tokens = False  # Graph answers 401 to every token

    def token_response(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        self.scopes.append(form.get("scope", [""])[0])
        assertion = form.get("client_assertion", [""])[0]
        expected_x5t = base64.urlsafe_b64encode(self.client_cert.fingerprint(hashes.SHA1())).decode().rstrip("=")
        try:
            header = jwt.get_unverified_header(assertion)
            jwt.decode(assertion, self.client_cert.public_key(), algorithms=["RS256", "PS256"],
                       audience=f"{self.base}/{TENANT_ID}/oauth2/v2.0/token")
        except jwt.PyJWTError:
            header = {}
        if (form.get("grant_type") != ["client_credentials"] or form.get("client_id") != [CLIENT_ID]
                or header.get("x5t", "").rstrip("=") != expected_x5t):
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS700027: The certificate with identifier used to sign the "
                                              "client assertion is not registered on application.\r\nTrace ID: "
                                              "0d6a2c1e-7f3b-4b9a-8e5d-2c1f0a9b8e7d",
                         "error_codes": [700027]}
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                     "access_token": ACCESS_TOKEN}


def make_handler(cloud: FakeCloud):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send_json(self, status: int, body, headers: dict[str, str] | None = None):
            data = (body if isinstance(body, str) else json.dumps(body)).replace("{graph}", cloud.base + "/v1.0")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data.encode())))
            self.end_headers()
            self.wfile.write(data.encode())

        def do_GET(self):
            parts = urlsplit(self.path)
            cloud.requests.append("GET " + self.path)
            if parts.path.endswith("/.well-known/openid-configuration") and cloud.discovery_down:
                return self.send_json(503, "<html><body>Service Unavailable</body></html>")
            if parts.path == f"/{TENANT_ID}/v2.0/.well-known/openid-configuration":
                root = f"{cloud.base}/{TENANT_ID}"
                return self.send_json(200, {"token_endpoint": f"{root}/oauth2/v2.0/token",
                                            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                                            "issuer": f"{cloud.base}/{TENANT_ID}/v2.0",
                                            "token_endpoint_auth_methods_supported": ["private_key_jwt"]})
            if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}" or cloud.reject_tokens:
                return self.send_json(401, {"error": {"code": "InvalidAuthenticationToken",
                                                      "message": "Access token validation failure."}})
            collection = parts.path.removeprefix("/v1.0/")
            if collection in cloud.forbidden:
                return self.send_json(403, fixture_text("error_403_domains.json"))
            if collection == "users":
                query = parse_qs(parts.query)
                page = "users_page2.json" if "$skiptoken" in query else "users_page1.json"
                return self.send_json(200, fixture_text(page))
            if collection == "subscribedSkus":
                if cloud.throttle_skus:
                    cloud.throttle_skus -= 1
                    return self.send_json(429, fixture_text("error_429.json"), {"Retry-After": cloud.retry_after})
                return self.send_json(200, fixture_text("subscribed_skus.json"))
            if collection == "domains" and cloud.unavailable_domains:
                cloud.unavailable_domains -= 1
                return self.send_json(503, {"error": {"code": "serviceNotAvailable",
                                                      "message": "Service unavailable."}}, {"Retry-After": "2"})
            if collection == "domains":
                return self.send_json(200, fixture_text("domains.json"))
            return self.send_json(404, {"error": {"code": "Request_ResourceNotFound", "message": "Not found."}})

        def do_POST(self):
            cloud.requests.append("POST " + self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if self.path != f"/{TENANT_ID}/oauth2/v2.0/token":
                return self.send_json(404, {"error": "not_found"})
            status, body = cloud.token_response(form)
            return self.send_json(status, body)

    return Handler


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("graph-certificates")
    server_key, server_cert, _ = make_certificate(tmp_path, "server")
    client_key, client_cert, thumbprint = make_certificate(tmp_path, "client", PASSPHRASE)
    return {"server_key": server_key, "server_cert": server_cert, "client_key": client_key,
            "client_cert": client_cert, "thumbprint": thumbprint, "dir": tmp_path}


@pytest.fixture
def cloud(certificates):
    state = FakeCloud(certificates["client_cert"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates["server_cert"], certificates["server_key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.base = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_for(cloud: FakeCloud, certificates, **changes) -> GraphSettings:
    values = {"tenant_id": TENANT_ID, "client_id": CLIENT_ID, "certificate_thumbprint": certificates["thumbprint"],
              "private_key_path": str(certificates["client_key"]), "private_key_passphrase": PASSPHRASE,
              "authority_host": cloud.base, "graph_base_url": cloud.base + "/v1.0", "timeout": 5.0,
              "ca_bundle": str(certificates["server_cert"]), "max_retries": 2}
    values.update(changes)
    return GraphSettings(**values)


MAILBOXES = [MigrationMailbox("Alice.Adams@contoso.com", "alice.adams@contoso.com"),
             MigrationMailbox("Carol.Clark@contoso.com", "carol.clark@contoso.com"),
             MigrationMailbox("Erin.Evans@contoso.com", "erin.evans@contoso.com")]


def test_defaults_point_at_microsoft():
    settings = GraphSettings(TENANT_ID, CLIENT_ID, "AB" * 20, "/nonexistent.pem")
    assert DEFAULT_AUTHORITY_HOST == "https://login.microsoftonline.com"
    assert DEFAULT_GRAPH_BASE_URL == "https://graph.microsoft.com/v1.0"
    assert settings.authority == f"https://login.microsoftonline.com/{TENANT_ID}"
    assert settings.scope == "https://graph.microsoft.com/.default"


def test_passphrase_is_not_in_repr(certificates):
    settings = GraphSettings(TENANT_ID, CLIENT_ID, "AB" * 20, "/k.pem", private_key_passphrase=PASSPHRASE)
    assert PASSPHRASE not in repr(settings)


def test_readiness_through_local_graph(cloud, certificates):
    sleeps: list[float] = []
    client = GraphClient(settings_for(cloud, certificates), sleep=sleeps.append)
    report = check_tenant_readiness(client.settings, MAILBOXES, "contoso", client=client)
    assert report.unavailable_reason is None
    assert report.ready_mailboxes == ("Alice.Adams@contoso.com",)
    assert {(f.object, f.code) for f in report.findings} == {
        ("Carol.Clark@contoso.com", "user_not_synced"), ("Erin.Evans@contoso.com", "user_missing")}
    # the 429 was honoured with its Retry-After, then retried
    assert sleeps == [1.0]
    paths = [request.split("?")[0] for request in cloud.requests]
    assert paths == [f"GET /{TENANT_ID}/v2.0/.well-known/openid-configuration",
                     f"POST /{TENANT_ID}/oauth2/v2.0/token",
                     "GET /v1.0/users", "GET /v1.0/users",
                     "GET /v1.0/subscribedSkus", "GET /v1.0/subscribedSkus",
                     "GET /v1.0/domains"]
    assert cloud.scopes == [f"{cloud.base}/.default"]  # <graph host>/.default, follows graph_base_url
    assert "$skiptoken=" in cloud.requests[3]  # second page came from @odata.nextLink
    assert "$select=id,userPrincipalName" in cloud.requests[2]


def test_paging_joins_all_pages(cloud, certificates):
    client = GraphClient(settings_for(cloud, certificates), sleep=lambda _: None)
    users = client.users()
    assert [user["userPrincipalName"] for user in users] == [
        "alice.adams@contoso.com", "bob.brown@contoso.com", "carol.clark@contoso.onmicrosoft.com",
        "dave.davis@fabrikam.com"]


def test_retry_after_is_bounded(cloud, certificates):
    cloud.throttle_skus = 10
    cloud.retry_after = "3600"
    sleeps: list[float] = []
    client = GraphClient(settings_for(cloud, certificates, max_retry_after=7.5), sleep=sleeps.append)
    with pytest.raises(GraphError) as caught:
        client.subscribed_skus()
    assert caught.value.kind == "throttled"
    assert "still answered 429 after 2 retries" in str(caught.value)
    assert sleeps == [7.5, 7.5]


def test_forbidden_names_the_missing_permission(cloud, certificates):
    cloud.forbidden = {"domains"}
    client = GraphClient(settings_for(cloud, certificates), sleep=lambda _: None)
    report = check_tenant_readiness(client.settings, MAILBOXES, "contoso", client=client)
    assert not report.ready
    reason = report.unavailable_reason
    assert "403" in reason and "Authorization_RequestDenied" in reason
    assert "Domain.Read.All" in reason and CLIENT_ID in reason
    cloud.forbidden = {"users"}
    with pytest.raises(GraphError, match=r"User\.Read\.All"):
        client.users()
    cloud.forbidden = {"subscribedSkus"}
    with pytest.raises(GraphError, match=r"Organization\.Read\.All"):
        client.subscribed_skus()


def test_unreachable_graph_is_a_reason_not_a_crash(cloud, certificates):
    settings = settings_for(cloud, certificates, graph_base_url=f"https://127.0.0.1:{closed_port()}/v1.0")
    report = check_tenant_readiness(settings, MAILBOXES, "contoso", client=GraphClient(settings))
    assert not report.ready
    assert report.ready_mailboxes == ()
    assert report.unavailable_reason.startswith("Graph unreachable: GET https://127.0.0.1:")
    assert report.unavailable_reason.endswith("ConnectionError ([Errno 111] Connection refused)")
    assert report.mailboxes_checked == 3


def test_unreachable_authority_is_a_reason(certificates, tmp_path):
    port = closed_port()
    settings = GraphSettings(TENANT_ID, CLIENT_ID, certificates["thumbprint"], str(certificates["client_key"]),
                             PASSPHRASE, authority_host=f"https://127.0.0.1:{port}",
                             graph_base_url=f"https://127.0.0.1:{port}/v1.0", timeout=2.0)
    report = check_tenant_readiness(settings, MAILBOXES, "contoso")
    assert report.unavailable_reason.startswith("Graph unreachable: sign-in authority")
    assert not report.ready


def test_wrong_thumbprint_is_a_bad_certificate(cloud, certificates):
    settings = settings_for(cloud, certificates, certificate_thumbprint="00" * 20)
    report = check_tenant_readiness(settings, MAILBOXES, "contoso", client=GraphClient(settings))
    reason = report.unavailable_reason
    assert reason.startswith("Bad certificate: Entra ID refused the certificate credential")
    assert "AADSTS700027" in reason and "Trace ID" not in reason
    assert not any(request.startswith("GET /v1.0/") for request in cloud.requests)


@pytest.mark.parametrize(("passphrase", "expected"), [
    (None, "the key is encrypted and no passphrase was given"),
    ("wrong passphrase", "is not a PEM private key or the passphrase is wrong"),
])
def test_unusable_private_key(cloud, certificates, passphrase, expected):
    settings = settings_for(cloud, certificates, private_key_passphrase=passphrase)
    with pytest.raises(GraphError) as caught:
        GraphClient(settings).domains()
    assert caught.value.kind == "certificate"
    assert expected in str(caught.value)
    assert PASSPHRASE not in str(caught.value)
    assert cloud.requests == []


def test_missing_key_file(cloud, certificates):
    settings = settings_for(cloud, certificates, private_key_path=str(certificates["dir"] / "absent.pem"))
    with pytest.raises(GraphError, match=r"Bad certificate: cannot read private key file .*absent\.pem"):
        GraphClient(settings).domains()


def test_unencrypted_key_without_passphrase(cloud, certificates):
    key_path, _, _ = make_certificate(certificates["dir"], "plain")  # a second key, same throwaway dir
    settings = settings_for(cloud, certificates, private_key_path=str(key_path), private_key_passphrase=None)
    with pytest.raises(GraphError, match="Bad certificate: Entra ID refused"):
        GraphClient(settings).domains()  # a valid key, but not the registered certificate


def test_secrets_never_appear_in_results_or_errors(cloud, certificates):
    client = GraphClient(settings_for(cloud, certificates), sleep=lambda _: None)
    report = check_tenant_readiness(client.settings, MAILBOXES, "contoso", client=client)
    text = json.dumps(report.as_dict())
    key_text = certificates["client_key"].read_text()
    assert ACCESS_TOKEN not in text and PASSPHRASE not in text and key_text not in text
    cloud.forbidden = {"domains"}
    with pytest.raises(GraphError) as caught:
        client.domains()
    assert ACCESS_TOKEN not in str(caught.value)


def test_paging_link_to_another_host_is_refused(cloud, certificates, monkeypatch):
    client = GraphClient(settings_for(cloud, certificates), sleep=lambda _: None)
    pages = iter([{"value": [{"id": "1"}], "@odata.nextLink": "https://evil.example/v1.0/users?$skiptoken=x"}])
    monkeypatch.setattr(client, "_get", lambda url, token: next(pages))
    with pytest.raises(GraphError, match="another host"):
        client.users()


def test_retry_after_forms():
    assert _retry_after("3", 0, 120.0) == 3.0
    assert _retry_after(None, 0, 120.0) == 1.0  # no header: exponential back-off
    assert _retry_after("", 3, 120.0) == 8.0
    assert _retry_after("soon", 2, 120.0) == 4.0
    assert _retry_after("600", 0, 120.0) == 120.0  # capped
    later = email.utils.format_datetime(datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30),
                                        usegmt=True)
    assert 25.0 <= _retry_after(later, 0, 120.0) <= 30.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 0, 120.0) == 0.0  # in the past


def test_503_is_retried_like_429(cloud, certificates):
    cloud.unavailable_domains = 1
    sleeps: list[float] = []
    client = GraphClient(settings_for(cloud, certificates), sleep=sleeps.append)
    assert next(d["id"] for d in client.domains()) == "contoso.com"
    assert sleeps == [2.0]
    assert [r for r in cloud.requests if r.startswith("GET /v1.0/")] == ["GET /v1.0/domains", "GET /v1.0/domains"]


def test_authority_answering_503_is_unreachable(cloud, certificates):
    cloud.discovery_down = True
    settings = settings_for(cloud, certificates)
    report = check_tenant_readiness(settings, MAILBOXES, "contoso", client=GraphClient(settings))
    assert report.unavailable_reason.startswith("Graph unreachable: sign-in authority https://127.0.0.1:")
    assert "503" in report.unavailable_reason


def test_rejected_token_is_reported_with_permission(cloud, certificates):
    cloud.reject_tokens = True
    client = GraphClient(settings_for(cloud, certificates), sleep=lambda _: None)
    with pytest.raises(GraphError) as caught:
        client.users()
    assert caught.value.kind == "permission"
    assert "with 401 (InvalidAuthenticationToken" in str(caught.value)
    assert "User.Read.All" in str(caught.value)
