"""Who may do what on NATS: NKeys, NATS JWTs, .creds files and the server's trust config.

NATS decentralized JWT auth: an operator signs one account, ENLACE (with JetStream), and
the system account SYS; users of ENLACE are JWTs signed by the account's signing key.
The server holds only public material (the operator and account JWTs, preloaded in
memory), so a new country's gateway credentials are issued without touching or
reloading the server. The subject permissions of each identity live in its user JWT and
are enforced by the server (docs/protocol.md §2, "Trust model on the wire").

Identities: `gateway-XX` (one per country), `registry` (the regional services) and
`admin` (the secretariat's operators: everything).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nats.aio.client import Client as NATS

from shared.kit.files import write_atomically
from shared.kit.jetstream import connect
from shared.protocol.subjects import (
    AUDIT_STREAM,
    MESSAGE_SUBJECTS,
    MESSAGES_STREAM,
    POLICY_CHANGES_SUBJECT,
    STATISTICS_STREAM,
    audit_subject,
    country_messages_filter,
    statistics_subject,
)

ACCOUNT_NAME = "ENLACE"
SYSTEM_ACCOUNT_NAME = "SYS"
OPERATOR_NAME = "enlace"
ADMIN = "admin"
REGISTRY = "registry"
REGISTRY_AUDIT_CONSUMER = "registry-audit"
REGISTRY_STATISTICS_CONSUMER = "registry-statistics"

# The hub's JetStream domain: a country's leaf node maps the gateway's $JS.API.> to
# $JS.hub.API.>, the form in which JetStream calls cross a leaf connection.
HUB_JS_DOMAIN = "hub"
COUNTRY = re.compile(r"^[A-Z]{2}$")
JWT_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
UNLIMITED = -1

# Files in a trust directory (`enlace nats init --dir D`, or DATA_DIR/nats-auth for `enlace up`).
OPERATOR_SEED_FILE = "operator.nk"
ACCOUNT_SEED_FILE = "account.nk"
ACCOUNT_SIGNING_SEED_FILE = "account-signing.nk"
SYSTEM_ACCOUNT_SEED_FILE = "system-account.nk"
ACCOUNT_PUBLIC_KEY_FILE = "account.pub"
SERVER_INCLUDE_FILE = "auth.conf"
CREDS_DIR = "creds"


# Keys and JWTs -------------------------------------------------------------------------

def new_seed(prefix: int) -> str:
    """A fresh NKey seed, e.g. `new_seed(nkeys.PREFIX_BYTE_ACCOUNT)` -> "SA..."."""
    return bytes(nkeys.encode_seed(os.urandom(32), prefix)).decode()


def public_key(seed: str) -> str:
    return bytes(nkeys.from_seed(seed.encode()).public_key).decode()


def _verify_key(public: str) -> Ed25519PublicKey:
    """An NKey public key ("U...", "A...", "O...") as an Ed25519 key, checksum checked."""
    raw = base64.b32decode(public + "=" * (-len(public) % 8))
    body, checksum = raw[:-2], raw[-2:]
    if len(body) != 33 or not nkeys.valid_public_prefix_byte(body[0]) \
            or bytes(nkeys.crc16_checksum(body)) != checksum:
        raise ValueError("not an NKey public key")
    return Ed25519PublicKey.from_public_bytes(body[1:])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_jwt(signing_seed: str, subject: str, name: str, nats_claims: dict[str, Any]) -> str:
    """A NATS JWT (v2) for `subject`, signed by the NKey whose seed is given (its issuer)."""
    claims: dict[str, Any] = {
        "jti": "", "iat": int(time.time()), "iss": public_key(signing_seed),
        "name": name, "sub": subject, "nats": {**nats_claims, "version": 2},
    }
    # Like the Go library: the id is a hash of the claims without it.
    digest = hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()
    claims["jti"] = base64.b32encode(digest).rstrip(b"=").decode()
    signed = f"{_b64(json.dumps(JWT_HEADER).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = nkeys.from_seed(signing_seed.encode()).sign(signed.encode())
    return f"{signed}.{_b64(bytes(signature))}"


def decode_jwt(token: str) -> dict[str, Any]:
    """The claims of a NATS JWT after checking its header and its issuer's signature."""
    try:
        header, claims, signature = token.split(".")
        if json.loads(_unb64(header)) != JWT_HEADER:
            raise ValueError("not a NATS JWT header")
        decoded: dict[str, Any] = json.loads(_unb64(claims))
        _verify_key(decoded["iss"]).verify(_unb64(signature), f"{header}.{claims}".encode())
    except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
        raise ValueError("invalid NATS JWT") from exc
    return decoded


def operator_jwt(operator_seed: str, system_account: str) -> str:
    return encode_jwt(operator_seed, public_key(operator_seed), OPERATOR_NAME,
                      {"type": "operator", "system_account": system_account})


def account_jwt(operator_seed: str, account: str, name: str, signing_keys: list[str],
                jetstream: bool) -> str:
    limits: dict[str, Any] = {
        "subs": UNLIMITED, "data": UNLIMITED, "payload": UNLIMITED, "imports": UNLIMITED,
        "exports": UNLIMITED, "wildcards": True, "conn": UNLIMITED, "leaf": UNLIMITED,
    }
    if jetstream:
        limits |= {"mem_storage": UNLIMITED, "disk_storage": UNLIMITED,
                   "streams": UNLIMITED, "consumer": UNLIMITED}
    return encode_jwt(operator_seed, account, name, {
        "type": "account", "limits": limits, "signing_keys": signing_keys,
        "default_permissions": {"pub": {}, "sub": {}},
    })


def user_jwt(account_signing_seed: str, account: str, user: str, name: str,
             permissions: Permissions | None) -> str:
    claims: dict[str, Any] = {"type": "user", "issuer_account": account,
                              "subs": UNLIMITED, "data": UNLIMITED, "payload": UNLIMITED}
    if permissions is not None:
        claims["pub"] = {"allow": permissions.publish, "deny": permissions.publish_deny}
        claims["sub"] = {"allow": permissions.subscribe}
    return encode_jwt(account_signing_seed, user, name, claims)


def format_creds(user_jwt_text: str, user_seed: str) -> str:
    """The standard .creds file (what `nats.connect(user_credentials=path)` reads)."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{user_jwt_text}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{user_seed}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )


def creds_jwt(creds_text: str) -> str:
    """The user JWT inside a .creds file."""
    lines = creds_text.splitlines()
    return lines[lines.index("-----BEGIN NATS USER JWT-----") + 1].strip()


def creds_inbox_prefix(path: Path) -> str:
    """The inbox prefix of the identity a .creds file is for (the name in its JWT)."""
    return inbox_prefix(str(decode_jwt(creds_jwt(path.read_text()))["name"]))


async def connect_as(url: str, name: str, credentials: Path | None, inbox_prefix: str = "",
                     on_reconnect: Callable[[], Awaitable[None]] | None = None) -> NATS:
    """Connect as the identity of a .creds file, with replies to its own inbox prefix (by
    default the one of the identity named in the creds' JWT; a gateway behind a leaf node
    logs in there with a local password and sets the prefix)."""
    if credentials is not None and not inbox_prefix:
        inbox_prefix = creds_inbox_prefix(credentials)
    return await connect(url, name, credentials, inbox_prefix, on_reconnect)


# Permissions per identity --------------------------------------------------------------

@dataclass(frozen=True)
class Permissions:
    publish: list[str]
    publish_deny: list[str]
    subscribe: list[str]


def inbox_prefix(identity: str) -> str:
    """Each identity gets its own reply inboxes: with one shared `_INBOX.>` MX could
    subscribe to the messages HN fetches."""
    return f"_INBOX_{identity}"


def gateway_identity(country: str) -> str:
    return f"gateway-{country}"


def gateway_permissions(country: str) -> Permissions:
    """Send to other countries, to its own audit subject and its own statistics subject; read
    only through its own durable consumer with its own filter; no stream info, reads,
    deletes or creates (its statistics reports are for the registry alone)."""
    if not COUNTRY.match(country):
        # It becomes part of subjects: "*" or ">" would widen every permission.
        raise ValueError("a country is two capital letters (ISO 3166-1 alpha-2)")
    durable = gateway_identity(country)
    consumer = f"{MESSAGES_STREAM}.{durable}"
    own = country_messages_filter(country)
    api = [
        f"CONSUMER.INFO.{consumer}",
        # The server refuses a create whose body has another filter than the subject.
        f"CONSUMER.CREATE.{consumer}.{own}",
        f"CONSUMER.MSG.NEXT.{consumer}",
    ]
    return Permissions(
        publish=[
            # As wide as the stream's subjects (less the deny below): a narrower allow
            # keeps the hub from telling a country's leaf node that the stream listens.
            MESSAGE_SUBJECTS,
            audit_subject(country),
            statistics_subject(country),
            *(f"$JS.API.{call}" for call in api),
            *(f"$JS.{HUB_JS_DOMAIN}.API.{call}" for call in api),
            f"$JS.ACK.{consumer}.>",
        ],
        # Its own institutions are served locally, never through the hub.
        publish_deny=[own, own.removesuffix(".>")],
        # Its replies, and the registry's policy change notices (no stream, no content).
        subscribe=[f"{inbox_prefix(durable)}.>", POLICY_CHANGES_SUBJECT],
    )


def registry_permissions() -> Permissions:
    """Create and look after the three streams; read the audit and the statistics streams,
    each through its own consumer; tell the gateways that the policy changed."""
    streams = [MESSAGES_STREAM, AUDIT_STREAM, STATISTICS_STREAM]
    consumers = [f"{AUDIT_STREAM}.{REGISTRY_AUDIT_CONSUMER}",
                 f"{STATISTICS_STREAM}.{REGISTRY_STATISTICS_CONSUMER}"]
    return Permissions(
        publish=[
            *(f"$JS.API.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE")
              for stream in streams),
            *(call for consumer in consumers for call in (
                f"$JS.API.CONSUMER.INFO.{consumer}",
                f"$JS.API.CONSUMER.CREATE.{consumer}",
                f"$JS.API.CONSUMER.CREATE.{consumer}.>",
                f"$JS.API.CONSUMER.MSG.NEXT.{consumer}",
                f"$JS.ACK.{consumer}.>")),
            POLICY_CHANGES_SUBJECT,
        ],
        publish_deny=[],
        subscribe=[f"{inbox_prefix(REGISTRY)}.>"],
    )


def user_credentials(account_signing_seed: str, account_public_key: str, identity: str,
                     permissions: Permissions | None) -> str:
    """A .creds file for a new user `identity` (None: no restriction, for `admin`)."""
    seed = new_seed(nkeys.PREFIX_BYTE_USER)
    token = user_jwt(account_signing_seed, account_public_key, public_key(seed), identity,
                     permissions)
    return format_creds(token, seed)


def gateway_credentials(account_signing_seed: str, account_public_key: str, country: str) -> str:
    """The text of a .creds file for the gateway of `country` (user JWT + seed), with the
    permissions of `gateway_permissions`."""
    return user_credentials(account_signing_seed, account_public_key,
                            gateway_identity(country), gateway_permissions(country))


def identity_permissions(identity: str) -> Permissions | None:
    if identity == ADMIN:
        return None
    if identity == REGISTRY:
        return registry_permissions()
    if identity.startswith("gateway-"):
        return gateway_permissions(identity.removeprefix("gateway-"))
    raise ValueError(f"unknown NATS identity {identity!r}")


# The trust directory and the server config ---------------------------------------------

def write_secret(path: Path, text: str) -> None:
    """Write a file readable by its owner only (a directory made for it: owner only too)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        os.chmod(path.parent, 0o700)
    write_atomically(path, text)


def _seed_file(path: Path, prefix: int) -> str:
    if path.exists():
        return path.read_text().strip()
    seed = new_seed(prefix)
    write_secret(path, seed + "\n")
    return seed


@dataclass(frozen=True)
class Trust:
    """The keys of one NATS deployment, kept in one directory (seeds 0600, dir 0700)."""

    directory: Path
    operator_seed: str
    account_seed: str
    account_signing_seed: str
    system_account_seed: str

    @property
    def account_public_key(self) -> str:
        return public_key(self.account_seed)

    @property
    def account_signing_key_file(self) -> Path:
        return self.directory / ACCOUNT_SIGNING_SEED_FILE

    def creds_file(self, identity: str) -> Path:
        return self.directory / CREDS_DIR / f"{identity}.creds"

    def credentials(self, identity: str) -> str:
        return user_credentials(self.account_signing_seed, self.account_public_key, identity,
                                identity_permissions(identity))

    def ensure_creds(self, identity: str) -> Path:
        """The identity's .creds file, created on first use and kept afterwards."""
        path = self.creds_file(identity)
        if not path.exists():
            write_secret(path, self.credentials(identity))
        return path


def load_or_create_trust(directory: Path) -> Trust:
    """Keys of the operator, ENLACE (identity and signing key) and SYS; created once."""
    seeds = [OPERATOR_SEED_FILE, ACCOUNT_SEED_FILE, ACCOUNT_SIGNING_SEED_FILE,
             SYSTEM_ACCOUNT_SEED_FILE]
    missing = [name for name in seeds if not (directory / name).exists()]
    if missing and len(missing) < len(seeds):
        # New keys beside old ones would be another trust chain: put the seeds back.
        raise FileNotFoundError(f"{directory} lacks {', '.join(missing)} of its NATS keys")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    trust = Trust(
        directory=directory,
        operator_seed=_seed_file(directory / OPERATOR_SEED_FILE, nkeys.PREFIX_BYTE_OPERATOR),
        account_seed=_seed_file(directory / ACCOUNT_SEED_FILE, nkeys.PREFIX_BYTE_ACCOUNT),
        account_signing_seed=_seed_file(directory / ACCOUNT_SIGNING_SEED_FILE,
                                        nkeys.PREFIX_BYTE_ACCOUNT),
        system_account_seed=_seed_file(directory / SYSTEM_ACCOUNT_SEED_FILE,
                                       nkeys.PREFIX_BYTE_ACCOUNT),
    )
    (directory / ACCOUNT_PUBLIC_KEY_FILE).write_text(trust.account_public_key + "\n")
    return trust


def issue_credentials(directory: Path, identity: str) -> str:
    """A .creds file from the account signing key and public key alone: the operator's
    and the account's own seeds may stay offline once `enlace nats init` has run."""
    signing_key = directory / ACCOUNT_SIGNING_SEED_FILE
    account = directory / ACCOUNT_PUBLIC_KEY_FILE
    if not (signing_key.exists() and account.exists()):
        raise FileNotFoundError(f"no {ACCOUNT_SIGNING_SEED_FILE} and {ACCOUNT_PUBLIC_KEY_FILE}")
    return user_credentials(signing_key.read_text().strip(), account.read_text().strip(),
                            identity, identity_permissions(identity))


def trust_config(trust: Trust) -> str:
    """The nats-server config fragment with the trust chain: public material only.

    The one template for `enlace up` and for deploy/ (which `include` it). No
    `no_auth_user`: a connection without valid credentials is refused.
    """
    system = public_key(trust.system_account_seed)
    accounts = {
        trust.account_public_key: account_jwt(
            trust.operator_seed, trust.account_public_key, ACCOUNT_NAME,
            [public_key(trust.account_signing_seed)], jetstream=True),
        system: account_jwt(trust.operator_seed, system, SYSTEM_ACCOUNT_NAME, [],
                            jetstream=False),
    }
    preload = "\n".join(f"  {key}: {token}" for key, token in accounts.items())
    return (
        "# Enlace NATS trust chain (generated by `enlace nats init`; public material only).\n"
        f"# Operator {public_key(trust.operator_seed)}; account {ACCOUNT_NAME} "
        f"{trust.account_public_key}; system account {system}.\n"
        f"operator: {operator_jwt(trust.operator_seed, system)}\n"
        f"system_account: {system}\n"
        "resolver: MEMORY\n"
        f"resolver_preload: {{\n{preload}\n}}\n"
    )


def write_server_include(trust: Trust) -> Path:
    """Write (again) the trust fragment; it changes only when the keys do."""
    path = trust.directory / SERVER_INCLUDE_FILE
    write_secret(path, trust_config(trust))
    return path


def connect_options(trust: Trust, identity: str) -> dict[str, str]:
    """The `nats.connect` keyword arguments of one identity (what stack.json records)."""
    return {"user_credentials": str(trust.ensure_creds(identity)),
            "inbox_prefix": inbox_prefix(identity)}
