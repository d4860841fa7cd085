"""Cognito JWT authentication (lifestyle/auth.py) against moto's user pool.

Real tokens come from moto's Cognito over HTTP. Forged tokens are signed with
the key moto itself signs with (shipped in the moto package, kid "dummy"), so
a forgery differs from a real token only in the one claim a test changes; the
control test ``test_resigned_real_claims_are_accepted`` proves that.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import importlib.resources
import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.test import override_settings
from jwt import PyJWKClient
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from lifestyle.auth import (
    CognitoAuthentication,
    CognitoTokenVerifier,
    JwksKeys,
    TokenRejected,
    default_jwks_url,
    token_verifier,
    user_from_claims,
)
from lifestyle.aws import client as aws_client
from tests.conftest import User, make_user

GOALS = "/api/v1/goals"
HEALTH = "/api/v1/health"
MOTO_KID = "dummy"
UNREACHABLE = "http://127.0.0.1:1/"  # nothing listens on port 1

Claims = dict[str, Any]
Change = Callable[[Claims], Claims]

# --- signing helpers -------------------------------------------------------------


def _moto_signing_key() -> Any:
    resource = importlib.resources.files("moto.cognitoidp") / "resources" / "jwks-private.json.gz"
    return jwt.PyJWK(json.loads(gzip.decompress(resource.read_bytes()))).key


MOTO_KEY = _moto_signing_key()
MOTO_PUBLIC_PEM = MOTO_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
FOREIGN_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims_of(token: str) -> Claims:
    return jwt.decode(token, options={"verify_signature": False})


def sign(claims: Claims, *, key: Any = MOTO_KEY, kid: str | None = MOTO_KID) -> str:
    """An RS256 token; by default exactly as moto would sign it."""
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def by_hand(header: dict[str, Any], claims: Claims, signer: Callable[[bytes], bytes]) -> str:
    """A compact JWT built without PyJWT, for what PyJWT refuses to sign."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(signer(signing_input.encode()))}"


def hs256(claims: Claims, secret: bytes) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": MOTO_KID}
    return by_hand(header, claims, lambda data: hmac.new(secret, data, hashlib.sha256).digest())


def unsigned(claims: Claims, alg: str) -> str:
    return by_hand({"alg": alg, "typ": "JWT", "kid": MOTO_KID}, claims, lambda data: b"")


def without(claim: str) -> Change:
    return lambda claims: {name: value for name, value in claims.items() if name != claim}


def setting(**changes: Any) -> Change:
    return lambda claims: {**claims, **changes}


def expired_seconds_ago(seconds: int) -> Change:
    return lambda claims: {**claims, "exp": int(time.time()) - seconds}


def other_issuer(claims: Claims) -> Claims:
    return {**claims, "iss": claims["iss"].rsplit("/", 1)[0] + "/us-east-1_SomeOtherPool"}


def other_region(claims: Claims) -> Claims:
    iss = claims["iss"].replace("cognito-idp.us-east-1.", "cognito-idp.eu-west-1.")
    assert iss != claims["iss"]
    return {**claims, "iss": iss}


def id_claims_as_access(claims: Claims) -> Claims:
    return {**claims, "token_use": "access"}  # aud right, but no client_id


def access_claims_as_id(claims: Claims) -> Claims:
    return {**claims, "token_use": "id"}  # client_id right, but no aud


# --- request helpers -------------------------------------------------------------


def get_goals(authorization: str | None) -> Any:
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.get(GOALS)


def bearer(token: str) -> Any:
    return get_goals(f"Bearer {token}")


def assert_error(response: Any, status: int, code: str, reason: str = "") -> str:
    """The response is the API's error shape; returns the message."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message
    assert reason in message
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    return message


def assert_rejected(response: Any, reason: str, token: str = "") -> None:
    message = assert_error(response, 401, "authentication_failed", reason)
    # The message never echoes the token, nor any segment of it.
    assert not any(part and part in message for part in [token, *token.split(".")])


def assert_goals_listed(response: Any) -> None:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert isinstance(body["items"], list)


def token_of(user: User, kind: str) -> str:
    return {"id": user.id_token, "access": user.access_token}[kind]


# --- fixtures --------------------------------------------------------------------


@pytest.fixture
def jwks_fetches() -> Iterator[mock.MagicMock]:
    """Counts JWKS documents fetched over HTTP (PyJWKClient's one fetch)."""
    with mock.patch.object(
        PyJWKClient, "fetch_data", autospec=True, side_effect=PyJWKClient.fetch_data
    ) as fetch:
        yield fetch


@pytest.fixture
def fresh_verifier() -> Iterator[None]:
    """The app's verifier starts with an empty key cache, and leaves none behind."""
    token_verifier.cache_clear()
    yield
    token_verifier.cache_clear()


@pytest.fixture
def clock() -> Iterator[SimpleNamespace]:
    """``lifestyle.auth``'s monotonic clock, moved by hand (no sleeping);
    its wall clock stays the real one."""
    now = SimpleNamespace(value=1000.0)
    fake = SimpleNamespace(monotonic=lambda: now.value, time=time.time)
    with mock.patch("lifestyle.auth.time", fake):
        yield now


@pytest.fixture
def moto_jwks() -> dict[str, Any]:
    """The JWKS document moto's Cognito serves for the test pool."""
    with urllib.request.urlopen(default_jwks_url(), timeout=5) as response:  # noqa: S310
        return json.load(response)


def hosted_jwks(aws_stack: dict[str, str], document: Any) -> str:
    """A URL serving ``document``: an object in the stack's S3 bucket,
    behind a presigned GET (PyJWKClient only fetches over HTTP(S))."""
    s3 = aws_client("s3")
    key = f"test-jwks/{uuid.uuid4().hex}.json"
    s3.put_object(
        Bucket=aws_stack["bucket"],
        Key=key,
        Body=json.dumps(document).encode(),
        ContentType="application/json",
    )
    return s3.generate_presigned_url(
        "get_object", Params={"Bucket": aws_stack["bucket"], "Key": key}, ExpiresIn=300
    )


def verifier_for(aws_stack: dict[str, str], keys: JwksKeys) -> CognitoTokenVerifier:
    return CognitoTokenVerifier(
        region=settings.AWS_REGION,
        user_pool_id=aws_stack["user_pool_id"],
        client_id=aws_stack["app_client_id"],
        keys=keys,
    )


# --- the Authorization header ----------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_health_is_public_and_ignores_credentials(authorization: str | None) -> None:
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = client.get(HEALTH)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_missing_authorization_header_is_401() -> None:
    assert_error(get_goals(None), 401, "not_authenticated")


@pytest.mark.parametrize("authorization", ["Basic abc", "Token x", "Basic"])
def test_other_schemes_are_not_accepted(authorization: str, user: User) -> None:
    assert_error(get_goals(authorization), 401, "not_authenticated")
    # Not even with a real Cognito token behind the wrong scheme.
    scheme = authorization.split()[0]
    assert_error(get_goals(f"{scheme} {user.access_token}"), 401, "not_authenticated")


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer   ", "Bearer a b"])
def test_bearer_needs_exactly_one_token(authorization: str) -> None:
    assert_rejected(get_goals(authorization), "exactly one token")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("a.b.c", id="three-garbage-segments"),
        pytest.param(
            b64url(b'{"alg":"RS256","kid":"dummy"}') + "." + b64url(b"{}"), id="two-segments"
        ),
        # WSGI hands headers over as latin-1, so UTF-8 bytes arrive like this.
        pytest.param("tökén.ünïcode.sïg".encode().decode("latin-1"), id="non-ascii"),
    ],
)
def test_malformed_token_is_rejected(token: str) -> None:
    assert_rejected(bearer(token), "malformed")


# --- real Cognito tokens ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["id", "access"])
@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_real_cognito_tokens_are_accepted(user: User, kind: str, scheme: str) -> None:
    assert_goals_listed(get_goals(f"{scheme} {token_of(user, kind)}"))


@pytest.mark.parametrize("kind", ["id", "access"])
def test_resigned_real_claims_are_accepted(user: User, kind: str) -> None:
    """Control for the forgeries below: re-signing unchanged claims with
    moto's key gives a token the API accepts."""
    assert_goals_listed(bearer(sign(claims_of(token_of(user, kind)))))


# --- forged claims, signed with the pool's own key --------------------------------

FORGED_CLAIMS = [
    pytest.param("id", expired_seconds_ago(3600), "expired", id="id-expired"),
    pytest.param("access", expired_seconds_ago(3600), "expired", id="access-expired"),
    pytest.param("id", expired_seconds_ago(1), "expired", id="id-expired-1s-no-grace"),
    pytest.param("access", expired_seconds_ago(1), "expired", id="access-expired-1s-no-grace"),
    pytest.param("id", other_issuer, "not issued by this user pool", id="id-other-pool"),
    pytest.param("access", other_issuer, "not issued by this user pool", id="access-other-pool"),
    pytest.param("access", other_region, "not issued by this user pool", id="other-region"),
    pytest.param("id", setting(aud="another-client"), "another app client", id="id-wrong-aud"),
    pytest.param(
        "id",
        lambda c: {**c, "aud": "another-client", "client_id": c["aud"]},
        "another app client",
        id="id-wrong-aud-right-client_id",
    ),
    pytest.param(
        "access",
        setting(client_id="another-client"),
        "another app client",
        id="access-wrong-client_id",
    ),
    pytest.param(
        "access",
        lambda c: {**c, "client_id": "another-client", "aud": c["client_id"]},
        "another app client",
        id="access-wrong-client_id-right-aud",
    ),
    pytest.param("id", without("token_use"), "invalid", id="id-no-token_use"),
    pytest.param("access", without("token_use"), "invalid", id="access-no-token_use"),
    pytest.param("id", setting(token_use="refresh"), "ID and access", id="id-token_use-refresh"),
    pytest.param("access", setting(token_use="refresh"), "ID and access", id="access-refresh"),
    pytest.param("id", id_claims_as_access, "another app client", id="id-swapped-to-access"),
    pytest.param("access", access_claims_as_id, "another app client", id="access-swapped-to-id"),
    pytest.param("id", without("sub"), "invalid", id="id-no-sub"),
    pytest.param("access", without("sub"), "invalid", id="access-no-sub"),
    pytest.param("id", without("exp"), "invalid", id="id-no-exp"),
    pytest.param("access", without("exp"), "invalid", id="access-no-exp"),
    pytest.param("access", without("iss"), "invalid", id="access-no-iss"),
]


@pytest.mark.parametrize(("kind", "change", "reason"), FORGED_CLAIMS)
def test_forged_claims_are_rejected(user: User, kind: str, change: Change, reason: str) -> None:
    token = sign(change(claims_of(token_of(user, kind))))
    assert_rejected(bearer(token), reason, token)


# --- forged signatures and headers -------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_rejected(user: User, alg: str) -> None:
    token = unsigned(claims_of(user.access_token), alg)
    assert_rejected(bearer(token), "algorithm is not accepted", token)


def test_hs256_signed_with_the_pools_public_key_is_rejected(user: User, moto_jwks: Any) -> None:
    # The classic key-confusion attack: the public key, as PEM, as an HMAC secret.
    served = jwt.PyJWK(moto_jwks["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert served == MOTO_PUBLIC_PEM  # the key an attacker can download
    token = hs256(claims_of(user.access_token), MOTO_PUBLIC_PEM)
    assert_rejected(bearer(token), "algorithm is not accepted", token)


def test_foreign_key_using_the_pools_kid_is_rejected(user: User) -> None:
    token = sign(claims_of(user.access_token), key=FOREIGN_KEY)
    assert_rejected(bearer(token), "invalid", token)


def test_tampered_payload_is_rejected(user: User, other_user: User) -> None:
    """The user's real signature over a payload that now names someone else."""
    header, _, signature = user.access_token.split(".")
    payload = b64url(
        json.dumps({**claims_of(user.access_token), "sub": other_user.user_id}).encode()
    )
    token = f"{header}.{payload}.{signature}"
    assert_rejected(bearer(token), "invalid", token)


@pytest.mark.parametrize("key", [FOREIGN_KEY, MOTO_KEY], ids=["foreign-key", "pool-key"])
def test_unknown_kid_is_rejected(user: User, key: Any) -> None:
    token = sign(claims_of(user.access_token), key=key, kid="not-in-jwks")
    assert_rejected(bearer(token), "unknown key", token)


def test_token_without_kid_is_rejected(user: User) -> None:
    token = sign(claims_of(user.access_token), kid=None)
    assert_rejected(bearer(token), "names no key", token)


# --- the JWKS cache ----------------------------------------------------------------


def test_keys_are_fetched_once_and_reused(
    user: User,
    other_user: User,
    fresh_verifier: None,
    jwks_fetches: mock.MagicMock,
    aws_calls: Any,
) -> None:
    aws_calls.clear()
    tokens = [user.id_token, user.access_token, other_user.id_token, other_user.access_token]
    for token in tokens * 3:
        assert_goals_listed(bearer(token))
    assert jwks_fetches.call_count == 1
    # Tokens are checked locally: no Cognito call per request.
    assert not [call for call in aws_calls if call.startswith("cognito-idp.")]


def test_unknown_kid_refetches_the_keys(jwks_fetches: mock.MagicMock) -> None:
    keys = JwksKeys(default_jwks_url(), min_refresh_seconds=0)
    for _ in range(3):
        assert keys.get(MOTO_KID).key_id == MOTO_KID
    assert jwks_fetches.call_count == 1
    with pytest.raises(TokenRejected, match="unknown key"):
        keys.get("rotated-in")
    assert jwks_fetches.call_count == 2
    keys.get(MOTO_KID)
    assert jwks_fetches.call_count == 2


def test_unknown_kids_within_min_refresh_do_not_refetch(
    jwks_fetches: mock.MagicMock, clock: SimpleNamespace
) -> None:
    keys = JwksKeys(default_jwks_url(), min_refresh_seconds=60)
    with pytest.raises(TokenRejected, match="unknown key"):
        keys.get("kid-one")
    assert jwks_fetches.call_count == 1
    clock.value += 59.9
    with pytest.raises(TokenRejected, match="unknown key"):
        keys.get("kid-two")
    assert jwks_fetches.call_count == 1
    assert keys.get(MOTO_KID).key_id == MOTO_KID  # known keys are served from the cache
    assert jwks_fetches.call_count == 1
    clock.value += 0.1  # 60 s after the last fetch: one more is allowed
    with pytest.raises(TokenRejected, match="unknown key"):
        keys.get("kid-three")
    assert jwks_fetches.call_count == 2


@override_settings(COGNITO_JWKS_MIN_REFRESH_SECONDS=60)
def test_a_flood_of_unknown_kids_costs_one_fetch(user: User, jwks_fetches: mock.MagicMock) -> None:
    for n in range(5):
        token = sign(claims_of(user.access_token), key=FOREIGN_KEY, kid=f"forged-{n}")
        assert_rejected(bearer(token), "unknown key", token)
    assert_goals_listed(bearer(user.access_token))
    assert jwks_fetches.call_count == 1


@pytest.mark.parametrize("min_refresh", [0.0, 60.0])
def test_unreachable_jwks_is_503_and_recovers(user: User, min_refresh: float) -> None:
    with override_settings(
        COGNITO_JWKS_URL=UNREACHABLE, COGNITO_JWKS_MIN_REFRESH_SECONDS=min_refresh
    ):
        for _ in range(3):  # the caller should retry, not sign in again
            response = bearer(user.access_token)
            assert_error(response, 503, "service_unavailable")
            assert response["Retry-After"] == "1"
            assert user.access_token not in response.content.decode()
    assert_goals_listed(bearer(user.access_token))


@pytest.mark.parametrize(
    "jwks_url",
    [
        pytest.param(lambda stack: stack["endpoint"] + "/", id="s3-xml"),
        pytest.param(lambda stack: stack["endpoint"] + "/moto-api/", id="html"),
        pytest.param(lambda stack: hosted_jwks(stack, {"keys": []}), id="no-keys"),
        pytest.param(
            lambda stack: hosted_jwks(stack, {"keys": [{"kty": "?"}]}), id="no-usable-key"
        ),
        pytest.param(lambda stack: hosted_jwks(stack, ["not", "an", "object"]), id="json-array"),
    ],
)
def test_jwks_that_is_not_a_key_set_is_503(
    user: User, aws_stack: dict[str, str], jwks_url: Callable[[dict[str, str]], str]
) -> None:
    with override_settings(COGNITO_JWKS_URL=jwks_url(aws_stack)):
        assert_error(bearer(user.access_token), 503, "service_unavailable")


@pytest.mark.parametrize(
    ("kid", "change", "accepted"),
    [
        pytest.param("sig-copy", {"use": "sig"}, True, id="use-sig"),
        pytest.param("no-use-copy", {"use": None}, True, id="no-use"),
        pytest.param("no-alg-copy", {"alg": None}, True, id="no-alg-rsa"),
        pytest.param("enc-copy", {"use": "enc"}, False, id="use-enc"),
        pytest.param("rs512-copy", {"alg": "RS512"}, False, id="alg-RS512"),
        pytest.param("ps256-copy", {"alg": "PS256"}, False, id="alg-PS256"),
    ],
)
def test_only_rs256_signing_keys_are_used(
    user: User,
    aws_stack: dict[str, str],
    moto_jwks: Any,
    kid: str,
    change: dict[str, str | None],
    accepted: bool,
) -> None:
    """Each key is the pool's real key under another kid, so only the key's
    ``use``/``alg`` can make the verifier refuse it."""
    (pool_key,) = moto_jwks["keys"]
    copy = {**pool_key, "kid": kid, **change}
    copy = {name: value for name, value in copy.items() if value is not None}
    url = hosted_jwks(aws_stack, {"keys": [pool_key, copy]})
    verifier = verifier_for(aws_stack, JwksKeys(url, min_refresh_seconds=0))
    token = sign(claims_of(user.access_token), kid=kid)
    if accepted:
        assert verifier.verify(token)["sub"] == user.user_id
    else:
        with pytest.raises(TokenRejected, match="unknown key"):
            verifier.verify(token)
    # The pool's own key in the same document is always usable.
    assert verifier.verify(user.access_token)["sub"] == user.user_id


# --- the authenticated user ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["id", "access"])
def test_user_from_token_has_sub_and_groups(aws_stack: dict[str, str], kind: str) -> None:
    admin = make_user(aws_stack, "ops-admin")
    claims = token_verifier().verify(token_of(admin, kind))
    caller = user_from_claims(claims)
    assert caller.user_id == claims["sub"] == admin.user_id
    assert caller.username == admin.username
    assert caller.groups == frozenset({"ops-admin"})
    assert caller.in_group("ops-support", "ops-admin")
    assert not caller.in_group("ops-support")
    assert caller.token_use == kind
    assert caller.is_authenticated
    assert not caller.is_anonymous


@pytest.mark.parametrize("kind", ["id", "access"])
def test_authentication_returns_the_caller_and_token(user: User, kind: str) -> None:
    token = token_of(user, kind)
    request = Request(APIRequestFactory().get(GOALS, HTTP_AUTHORIZATION=f"Bearer {token}"))
    result = CognitoAuthentication().authenticate(request)
    assert result is not None
    caller, credentials = result
    assert credentials == token
    assert caller.user_id == user.user_id == claims_of(token)["sub"]
    assert caller.username == user.username
    assert caller.groups == frozenset()
    assert caller.token_use == kind


# --- verified tokens remembered by the process -------------------------------------


@pytest.fixture
def decodes() -> Iterator[mock.MagicMock]:
    """Counts full verifications of a token (signature and claims)."""
    with mock.patch.object(
        CognitoTokenVerifier, "_verify", autospec=True, side_effect=CognitoTokenVerifier._verify
    ) as verify:
        yield verify


def test_a_verified_token_is_not_verified_again(
    aws_stack: dict[str, str], user: User, decodes: mock.MagicMock
) -> None:
    verifier = verifier_for(aws_stack, JwksKeys(default_jwks_url(), min_refresh_seconds=5))
    first = verifier.verify(user.access_token)
    first["sub"] = "tampered by a caller"  # callers get a copy
    assert verifier.verify(user.access_token)["sub"] == user.user_id
    assert decodes.call_count == 1


def test_a_remembered_token_still_expires(user: User, decodes: mock.MagicMock) -> None:
    """Expiry is checked on every use, remembered or not."""
    expires = int(time.time()) + 1
    token = sign({**claims_of(user.access_token), "exp": expires})
    assert_goals_listed(bearer(token))
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    assert_rejected(bearer(token), "The token has expired.")
    assert decodes.call_count == 2


def test_forged_variants_of_a_remembered_token_are_verified(user: User) -> None:
    """Only the exact string is remembered: one changed character is a new token."""
    assert_goals_listed(bearer(user.access_token))
    header, _payload, signature = user.access_token.split(".")
    forged_claims = {**claims_of(user.access_token), "sub": "someone-else"}
    forged_payload = b64url(json.dumps(forged_claims).encode())
    assert_rejected(bearer(f"{header}.{forged_payload}.{signature}"), "The token is invalid.")


def test_the_remembered_tokens_are_bounded(
    aws_stack: dict[str, str], user: User, decodes: mock.MagicMock
) -> None:
    tokens = [sign({**claims_of(user.access_token), "jti": str(n)}) for n in range(3)]
    with mock.patch("lifestyle.auth.VERIFIED_TOKENS_KEPT", 2):
        verifier = verifier_for(aws_stack, JwksKeys(default_jwks_url(), min_refresh_seconds=5))
        for token in tokens:
            verifier.verify(token)
        verifier.verify(tokens[2])  # kept
        assert decodes.call_count == 3
        verifier.verify(tokens[0])  # the oldest was let go
        assert decodes.call_count == 4


def test_a_remembered_token_of_a_disabled_user_is_refused(user: User) -> None:
    """Revocation is checked on every request, after the remembered verification."""
    from ops_admin import revocations

    assert_goals_listed(bearer(user.access_token))
    revocations.record(user.user_id, user.username, disabled=True, actor="t", reason="test")
    revocations.cache.clear()  # as if the 5 s cache window had passed
    try:
        assert_error(bearer(user.access_token), 401, "token_revoked")
    finally:
        revocations.cache.clear()
