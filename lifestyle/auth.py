"""Amazon Cognito tokens as DRF authentication.

The rules (DESIGN.md, after AWS's own aws-jwt-verify):
- RS256 only; the key comes from the pool's JWKS and must be an RS256
  signing key (``use`` = ``sig`` when given). ``alg: none``, HS256 and keys
  from anywhere else are refused before any cryptography runs.
- ``exp`` (no grace), ``iss`` (the pool), ``token_use`` (``id`` or
  ``access``) and the app client (``aud`` for ID tokens, ``client_id`` for
  access tokens) are all checked.
- Keys are cached per process. An unknown ``kid`` refetches the JWKS, at
  most once per ``COGNITO_JWKS_MIN_REFRESH_SECONDS``, so a flood of forged
  tokens cannot turn into a flood of requests to Cognito.
- A token that passed every check is remembered by this process (the last
  ``VERIFIED_TOKENS_KEPT``, each only until its ``exp``), so the warm
  requests of one signed-in phone skip the RSA verification and the
  parsing: the same string was proven genuine, and expiry is checked again
  on every use. Revocation is checked on every request regardless.
- A valid token of a user staff disabled is refused (401 ``token_revoked``)
  if its sign-in predates the revocation: see ``ops_admin.revocations``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jwt
from django.conf import settings
from jwt import PyJWK, PyJWKClient, PyJWKClientError, PyJWKSetError
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from lifestyle.errors import ServiceUnavailable
from lifestyle.memo import Recent
from ops_admin import revocations

ALGORITHM = "RS256"
ID_TOKEN, ACCESS_TOKEN = "id", "access"
TOKEN_USES = (ID_TOKEN, ACCESS_TOKEN)
KEYS_UNAVAILABLE = "Sign-in keys are unavailable; retry shortly."
REVOKED_SIGN_IN = "This sign-in was revoked; sign in again."
# Tokens a process remembers as verified: a warm container serves a few
# hundred users at most; each entry is about 1 KB.
VERIFIED_TOKENS_KEPT = 512


class TokenRejected(Exception):
    """The token is not one we accept; the message says why (for logs and
    the 401 body: it never contains the token itself)."""


@dataclass(frozen=True)
class CognitoUser:
    """The caller, as the verified token describes them."""

    user_id: str
    username: str
    groups: frozenset[str] = field(default_factory=frozenset)
    token_use: str = ACCESS_TOKEN

    is_authenticated = True
    is_anonymous = False

    def in_group(self, *names: str) -> bool:
        return bool(self.groups.intersection(names))


def issuer_for(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def default_jwks_url() -> str:
    """Where the pool publishes its keys: Cognito's address in AWS, the same
    path on ``AWS_ENDPOINT_URL`` when that points at a local stand-in."""
    if settings.COGNITO_JWKS_URL:
        return settings.COGNITO_JWKS_URL
    base = settings.AWS_ENDPOINT_URL or issuer_for(settings.AWS_REGION, "").rstrip("/")
    return f"{base.rstrip('/')}/{settings.COGNITO_USER_POOL_ID}/.well-known/jwks.json"


class JwksKeys:
    """The pool's signing keys by ``kid``, fetched on demand."""

    def __init__(self, url: str, *, min_refresh_seconds: float, timeout: float = 3.0) -> None:
        self._client = PyJWKClient(url, cache_keys=False, cache_jwk_set=False, timeout=timeout)
        self._min_refresh = min_refresh_seconds
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._unavailable = False
        self._lock = threading.Lock()

    def get(self, kid: str) -> PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            key = self._keys.get(kid)
            if key is None:
                if self._may_refresh():
                    self._refresh()
                    key = self._keys.get(kid)
                elif self._unavailable:
                    # The last fetch failed: still a 503, not "unknown key".
                    raise ServiceUnavailable(KEYS_UNAVAILABLE)
        if key is None:
            raise TokenRejected("The token was signed with an unknown key.")
        return key

    def _may_refresh(self) -> bool:
        now = time.monotonic()
        if self._fetched_at is not None and now - self._fetched_at < self._min_refresh:
            return False
        self._fetched_at = now
        return True

    def _refresh(self) -> None:
        try:
            jwk_set = self._client.get_jwk_set(refresh=True)
        except (PyJWKClientError, PyJWKSetError, ValueError) as error:
            # Without keys no token can be checked: the caller should retry,
            # not sign in again, so this is a 503 rather than a 401. (A body
            # that is not JSON raises ValueError; one without usable keys,
            # PyJWKSetError.)
            self._unavailable = True
            raise ServiceUnavailable(KEYS_UNAVAILABLE) from error
        self._unavailable = False
        self._keys = {
            key.key_id: key
            for key in jwk_set.keys
            if key.key_id
            and key.algorithm_name == ALGORITHM
            and key.public_key_use in (None, "sig")
        }


class CognitoTokenVerifier:
    def __init__(self, *, region: str, user_pool_id: str, client_id: str, keys: JwksKeys) -> None:
        self.issuer = issuer_for(region, user_pool_id)
        self.client_id = client_id
        self.keys = keys
        self._verified: Recent[str, dict[str, Any]] = Recent(VERIFIED_TOKENS_KEPT)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or :class:`TokenRejected`."""
        claims = self._recall(token)
        if claims is None:
            claims = self._verify(token)
            self._remember(token, claims)
        return dict(claims)

    def _recall(self, token: str) -> dict[str, Any] | None:
        """Claims of a token this process verified, while it has not expired
        (``exp`` as jwt.decode checks it: no leeway)."""
        claims = self._verified.get(token)
        if claims is not None and claims["exp"] <= time.time():
            self._verified.forget(token)
            return None
        return claims

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        self._verified.put(token, claims)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenRejected("The token is malformed.") from None
        if header.get("alg") != ALGORITHM:
            raise TokenRejected("The token's algorithm is not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("The token names no key.")
        key = self.keys.get(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                leeway=0,
                options={
                    "require": ["exp", "iss", "sub", "token_use"],
                    "verify_aud": False,  # checked below, by token_use
                },
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("The token has expired.") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("The token was not issued by this user pool.") from None
        except jwt.InvalidTokenError:
            raise TokenRejected("The token is invalid.") from None
        self._check_client(claims)
        return claims

    def _check_client(self, claims: dict[str, Any]) -> None:
        token_use = claims.get("token_use")
        if token_use not in TOKEN_USES:
            raise TokenRejected("Only Cognito ID and access tokens are accepted.")
        # ID tokens name the app client in ``aud``, access tokens in ``client_id``.
        client_claim = "aud" if token_use == ID_TOKEN else "client_id"
        client = claims.get(client_claim)
        if client != self.client_id:
            raise TokenRejected("The token was issued to another app client.")


@lru_cache(maxsize=1)
def token_verifier() -> CognitoTokenVerifier:
    keys = JwksKeys(
        default_jwks_url(), min_refresh_seconds=settings.COGNITO_JWKS_MIN_REFRESH_SECONDS
    )
    return CognitoTokenVerifier(
        region=settings.AWS_REGION,
        user_pool_id=settings.COGNITO_USER_POOL_ID,
        client_id=settings.COGNITO_APP_CLIENT_ID,
        keys=keys,
    )


def user_from_claims(claims: dict[str, Any]) -> CognitoUser:
    username = claims.get("cognito:username") or claims.get("username") or claims["sub"]
    groups = claims.get("cognito:groups") or []
    return CognitoUser(
        user_id=claims["sub"],
        username=str(username),
        groups=frozenset(str(g) for g in groups) if isinstance(groups, list) else frozenset(),
        token_use=claims["token_use"],
    )


class CognitoAuthentication(BaseAuthentication):
    """``Authorization: Bearer <Cognito ID or access token>``."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[CognitoUser, str] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None  # not ours: DRF answers 401 "not_authenticated"
        if len(parts) != 2:
            raise AuthenticationFailed("Send exactly one token after 'Bearer'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("The token is malformed.") from None
        try:
            claims = token_verifier().verify(token)
        except TokenRejected as rejected:
            raise AuthenticationFailed(str(rejected)) from None
        if revocations.is_revoked(claims):  # after the signature: forgeries cost no read
            raise AuthenticationFailed(REVOKED_SIGN_IN, code="token_revoked")
        return user_from_claims(claims), token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="lifestyle"'
