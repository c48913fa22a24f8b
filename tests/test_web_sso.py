"""Single sign-on: the authorization code flow against a local OpenID Connect provider that
speaks the protocol (discovery, JWKS, a token endpoint that checks the code and PKCE, signed ID
tokens), with Authlib and joserfc doing harken's side. Groups map to roles at every sign-in;
forged, replayed, foreign or expired tokens, another domain and an unmapped person are
refused."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.cli import import_tweets, ok
from tests.web import CONFIG, POSTS, workspace

CLIENT_ID, CLIENT_SECRET = "harken-test-client", "harken-test-secret"


class FakeProvider:
    """An OpenID Connect provider on a local port. ``person`` is who signs in next (its
    claims); ``tamper`` changes the next ID token (a wrong nonce, audience, key...)."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.person: dict[str, Any] = {}
        self.tamper: dict[str, Any] = {}
        self.codes: dict[str, dict[str, str]] = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif path == "/jwks":
                    self._json(200, KeySet([provider.key]).as_dict(private=False))
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                self._json(*provider.token(form, self.headers.get("authorization", "")))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def discovery(self) -> dict[str, str]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
        }

    def authorize(self, url: str) -> dict[str, str]:
        """What the provider does when the person signs in: a code for this request."""
        asked = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert asked["client_id"] == CLIENT_ID and asked["response_type"] == "code"
        assert asked["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = asked
        return {"code": code, "state": asked["state"]}

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        asked = self.codes.pop(form.get("code", ""), None)  # a code works once
        secret = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if asked is None or authorization != f"Basic {secret}":
            return 400, {"error": "invalid_grant"}
        challenge = (
            base64.urlsafe_b64encode(
                hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            )
            .rstrip(b"=")
            .decode()
        )
        if challenge != asked["code_challenge"] or form["redirect_uri"] != asked["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": CLIENT_ID,
            "sub": self.person["sub"],
            "nonce": asked["nonce"],
            "iat": now,
            "exp": now + 300,
            **{k: v for k, v in self.person.items() if k != "sub"},
            **self.tamper,
        }
        key = self.tamper.pop("_key", None) if "_key" in self.tamper else self.key
        claims.pop("_key", None)
        token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        return 200, {"access_token": "at", "token_type": "Bearer", "id_token": token}

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OIDC_SECRET", CLIENT_SECRET)
    sso = f"""\
web:
  sso:
    issuer: "{provider.url}"
    client_id: {CLIENT_ID}
    client_secret: "${{OIDC_SECRET}}"
    label: Example Workspace
    allowed_domains: [example.com]
    groups_claim: groups
    admins: [harken-admins]
    social: [social-team]
    viewers: [pr, executives]
    departments: {{billing: [billing-team], legal: [legal-team]}}
"""
    config = CONFIG.format(db=f"sqlite:///{tmp_path / 'h.db'}").replace(
        "web: {timezone: Asia/Tokyo}\n", sso
    )
    return import_tweets(tmp_path, config, POSTS)


def sign_in_with(client: Any, provider: FakeProvider, person: dict[str, Any]) -> Any:
    """The browser's round trip: harken → the provider (signs the person in) → harken."""
    provider.person = person
    start = client.get("/login/sso?next=/inbox%3Fdepartment%3Dbilling", follow_redirects=False)
    assert start.status_code == 303, start.text
    answer = provider.authorize(start.headers["location"])
    return client.get(f"/login/sso/callback?{urlencode(answer)}", follow_redirects=False)


def test_a_person_signs_in_with_their_provider_and_gets_the_role_of_their_groups(
    project: Path, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIDC_SECRET", CLIENT_SECRET)
    with workspace(project) as (client, _store):
        login = client.get("/login")
        assert 'href="/login/sso?next=/inbox"' in login.text and "Example Workspace" in login.text
        done = sign_in_with(
            client,
            provider,
            {"sub": "u-1", "email": "aiko@example.com", "email_verified": True,
             "groups": ["billing-team"]},
        )  # fmt: skip
        assert done.status_code == 303 and done.headers["location"] == "/inbox?department=billing"
        assert "harken_session=" in done.headers["set-cookie"]
        page = client.get("/inbox?department=billing")
        assert page.status_code == 200 and "aiko@example.com" in page.text
    users = {u["name"]: u for u in json.loads(ok("users", "list", "-f", "json"))}
    assert users["aiko@example.com"]["role"] == "department"
    assert users["aiko@example.com"]["departments"] == ["billing"]
    with workspace(project) as (client, _store):  # the provider moved her: so does harken
        sign_in_with(
            client,
            provider,
            {"sub": "u-1", "email": "aiko@example.com", "email_verified": True, "groups": ["pr"]},
        )
    users = {u["name"]: u for u in json.loads(ok("users", "list", "-f", "json"))}
    assert users["aiko@example.com"]["role"] == "viewer"


@pytest.mark.parametrize(
    "person,tamper,said",
    [
        ({"email": "eve@evil.example", "groups": ["harken-admins"]}, {}, "example.com"),
        ({"email": "ken@example.com", "groups": ["marketing"]}, {}, "no harken role"),
        ({"email": "ken@example.com", "email_verified": False, "groups": ["pr"]}, {}, "verified"),
        ({"email": "ken@example.com", "groups": ["pr"]}, {"nonce": "replayed"}, "not valid"),
        (
            {"email": "ken@example.com", "groups": ["pr"]},
            {"aud": "another-app"},
            "another application",
        ),
        ({"email": "ken@example.com", "groups": ["pr"]}, {"iss": "http://evil"}, "not valid"),
        ({"email": "ken@example.com", "groups": ["pr"]}, {"exp": 1000}, "not valid"),
    ],
)
def test_wrong_tokens_and_people_are_refused(
    project: Path,
    provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    person: dict[str, Any],
    tamper: dict[str, Any],
    said: str,
) -> None:
    monkeypatch.setenv("OIDC_SECRET", CLIENT_SECRET)
    provider.tamper = tamper
    with workspace(project) as (client, _store):
        done = sign_in_with(client, provider, {"sub": "u-9", **person})
        assert done.status_code == 403 and said in done.text, done.text[-600:]
        assert "harken_session" not in done.headers.get("set-cookie", "")


def test_a_forged_signature_or_a_foreign_state_signs_nobody_in(
    project: Path, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIDC_SECRET", CLIENT_SECRET)
    person = {"sub": "u-2", "email": "ken@example.com", "groups": ["pr"]}
    forger = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
    provider.tamper = {"_key": forger}
    with workspace(project) as (client, _store):
        done = sign_in_with(client, provider, person)
        assert done.status_code == 403 and "signature" in done.text
        provider.person = person
        start = client.get("/login/sso", follow_redirects=False)
        answer = provider.authorize(start.headers["location"])
        answer["state"] = "someone-elses"
        crossed = client.get(f"/login/sso/callback?{urlencode(answer)}", follow_redirects=False)
        assert crossed.status_code == 403 and "did not start here" in crossed.text
        assert client.get("/inbox", follow_redirects=False).status_code == 303
