"""Single sign-on with OpenID Connect (``web.sso``): Google Workspace, Microsoft Entra ID, Okta,
or any provider that publishes ``/.well-known/openid-configuration``.

    GET /login/sso            → the provider's sign-in page (authorization code flow with PKCE;
                                state, nonce and the code verifier in a short-lived cookie)
    GET /login/sso/callback   ← the provider comes back with a code: it is exchanged for an ID
                                token, whose signature (the provider's JWKS), issuer, audience,
                                expiry and nonce are checked; then the person is signed in

Who the person is: the token's ``iss`` and ``sub`` (stable; an e-mail can change hands), named
by their e-mail (or ``preferred_username``). What they may do comes from the token's groups
claim, mapped in ``web.sso`` to admin, social, viewer or departments, at every sign-in (the
provider is the record); nobody mapped gets ``default_role`` (none: refused). ``allowed_domains``
limits who may come in at all. The config's ``users:`` still wins for a name it lists.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from harken.config.web import SsoConfig
from harken.errors import AccountError, HarkenError
from harken.queue.accounts import end_session, sso_account, start_session
from harken.web.render import page
from harken.web.session import COOKIE, cookie_options, local_path

router = APIRouter()
FLOW_COOKIE = "harken_sso"
FLOW_FOR_S = 600  # from the button to the provider's answer
DISCOVERY_FOR_S = 3600.0
TIMEOUT_S = 10.0
MAX_ANSWER = 1024 * 1024  # a provider's JSON answers are a few kB


class SsoError(AccountError):
    """Single sign-on failed: the provider's answer was wrong, or the person is not allowed."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


class Discovery:
    """The provider's endpoints and keys, fetched when first needed and kept an hour (keys
    again at once when a token names a key the set lacks: the provider rotated them)."""

    def __init__(self, sso: SsoConfig) -> None:
        self.sso = sso
        self._provider: tuple[float, Provider] | None = None
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    def provider(self) -> Provider:
        with self._lock:
            if self._provider and self._provider[0] > time.monotonic():
                return self._provider[1]
        issuer = self.sso.issuer.rstrip("/")
        found = _get_json(f"{issuer}/.well-known/openid-configuration")
        if str(found.get("issuer", "")).rstrip("/") != issuer:
            said = str(found.get("issuer"))[:100]
            raise SsoError(
                f"the provider says its issuer is {said!r}, not {issuer!r}",
                hint="web.sso.issuer must be the provider's issuer exactly",
            )
        try:
            provider = Provider(
                issuer=str(found["issuer"]),
                authorization_endpoint=str(found["authorization_endpoint"]),
                token_endpoint=str(found["token_endpoint"]),
                jwks_uri=str(found["jwks_uri"]),
            )
        except KeyError as missing:
            raise SsoError(f"the provider's discovery document has no {missing}") from None
        with self._lock:
            self._provider = (time.monotonic() + DISCOVERY_FOR_S, provider)
        return provider

    def keys(self, refresh: bool = False) -> KeySet:
        with self._lock:
            if self._keys is not None and not refresh:
                return self._keys
        try:
            keys = KeySet.import_key_set(_get_json(self.provider().jwks_uri))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as err:
            raise SsoError(f"the provider's keys cannot be read: {err}") from None
        with self._lock:
            self._keys = keys
        return keys


def _get_json(url: str) -> dict[str, Any]:
    try:
        answer = httpx.get(url, timeout=TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as err:
        raise SsoError(f"the sign-in provider did not answer: {type(err).__name__}") from None
    if answer.status_code != 200 or len(answer.content) > MAX_ANSWER:
        raise SsoError(f"the sign-in provider answered {answer.status_code} for {url[:200]}")
    try:
        found = answer.json()
    except ValueError:
        raise SsoError(f"the sign-in provider's answer at {url[:200]} is not JSON") from None
    if not isinstance(found, dict):
        raise SsoError(f"the sign-in provider's answer at {url[:200]} is not a JSON object")
    return found


def _discovery(request: Request) -> Discovery:
    found: Discovery | None = request.app.state.sso
    if found is None:
        raise SsoError("single sign-on is not set up", hint="web.sso in the config")
    return found


def _callback_url(request: Request) -> str:
    base = request.app.state.config.web.public_url or str(request.base_url).rstrip("/")
    return f"{base}/login/sso/callback"


def _client(request: Request, sso: SsoConfig) -> OAuth2Client:
    return OAuth2Client(
        sso.client_id,
        sso.client_secret,
        scope="openid email profile",
        redirect_uri=_callback_url(request),
        code_challenge_method="S256",
        timeout=TIMEOUT_S,
    )


@router.get("/login/sso")
def begin(request: Request, next: str = "/inbox") -> Response:
    try:
        discovery = _discovery(request)
        provider = discovery.provider()
    except HarkenError as err:
        return page(
            request, "error.html", 502 if isinstance(err, SsoError) else 404, error=str(err)
        )
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    with _client(request, discovery.sso) as client:
        url, _ = client.create_authorization_url(
            provider.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
        )
    response = RedirectResponse(url, status_code=303)
    flow = {"state": state, "nonce": nonce, "verifier": verifier, "next": local_path(next)}
    response.set_cookie(
        FLOW_COOKIE,
        base64.urlsafe_b64encode(json.dumps(flow).encode()).decode(),
        **{**cookie_options(request), "max_age": FLOW_FOR_S, "path": "/login/sso"},
    )
    return response


@router.get("/login/sso/callback")
def finish(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    flow = _flow(request)
    try:
        if error:
            raise SsoError(f"the sign-in provider refused: {error[:100]}")
        if not flow or not code or not secrets.compare_digest(state, flow.get("state", "")):
            raise SsoError("the sign-in did not start here, or took too long: try again")
        discovery = _discovery(request)
        claims = _verified_claims(request, discovery, code, flow)
        account = sso_account(
            request.app.state.store, request.app.state.config, discovery.sso, claims
        )
    except HarkenError as err:
        response = page(request, "error.html", 403, error=str(err))
        response.delete_cookie(FLOW_COOKIE, path="/login/sso")
        return response
    if old := request.cookies.get(COOKIE):  # a new session, as for a password
        end_session(request.app.state.store, old)
    key, _csrf = start_session(request.app.state.store, account)
    response = RedirectResponse(flow.get("next", "/inbox"), status_code=303)
    response.set_cookie(COOKIE, key, **cookie_options(request))
    response.delete_cookie(FLOW_COOKIE, path="/login/sso")
    return response


def _flow(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLOW_COOKIE, "")
    try:
        found = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        return None
    return found


def _verified_claims(
    request: Request, discovery: Discovery, code: str, flow: dict[str, str]
) -> dict[str, Any]:
    provider = discovery.provider()
    try:
        with _client(request, discovery.sso) as client:
            token = client.fetch_token(
                provider.token_endpoint, code=code, code_verifier=flow["verifier"]
            )
    except Exception as err:  # authlib raises OAuthError, httpx its own: all mean "no token"
        raise SsoError(f"the sign-in provider gave no token: {type(err).__name__}") from None
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str):
        raise SsoError("the sign-in provider's answer has no ID token")
    claims = _decode(discovery, id_token)
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        sub={"essential": True},
        nonce={"essential": True, "value": flow["nonce"]},
        exp={"essential": True},
        leeway=60,
    )
    try:
        registry.validate(claims)
    except JoseError as err:
        raise SsoError(f"the ID token is not valid: {err.error}") from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if discovery.sso.client_id not in audiences:
        raise SsoError("the ID token is for another application (aud)")
    return claims


def _decode(discovery: Discovery, id_token: str) -> dict[str, Any]:
    for refresh in (False, True):
        try:
            return dict(
                jwt.decode(id_token, discovery.keys(refresh), algorithms=["RS256", "ES256"]).claims
            )
        except (JoseError, ValueError) as err:
            if refresh or "key" not in str(err).lower():
                raise SsoError(f"the ID token's signature does not check: {err}") from None
    raise SsoError("the ID token's signature does not check")  # pragma: no cover
