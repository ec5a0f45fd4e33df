"""The NATS wire of a running `enlace up` admits only its identities, each to its own part.

Every refusal is checked two ways: the call fails AND the server reported a permissions
violation for that exact subject (or refused the login), so a slow or lost answer is not
taken for a refusal. Where it matters, the same call by the rightful identity works.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import nkeys
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import APIError

from services.stack import create_streams, nats_server_binary, write_nats_config
from shared.kit import jetstream
from shared.protocol.nats_auth import (
    REGISTRY_STATISTICS_CONSUMER,
    Trust,
    connect_options,
    creds_jwt,
    decode_jwt,
    format_creds,
    gateway_permissions,
    new_seed,
    public_key,
    user_jwt,
)
from shared.protocol.nats_auth import (
    connect_as as connect_identity,
)
from shared.protocol.subjects import (
    AUDIT_STREAM,
    MESSAGES_STREAM,
    POLICY_CHANGES_SUBJECT,
    STATISTICS_STREAM,
    country_messages_filter,
    statistics_subject,
)
from tests.conftest import SQLITE_ONLY, RunningStack
from tests.e2e.test_referral_flow import delivered, send

# On SQLite only: the nats-server's permissions, whatever the database.
pytestmark = SQLITE_ONLY

REFUSAL_TIMEOUT = 2.0  # a refused request has no answer: it times out
VIOLATION_WAIT = 30.0


class Identity:
    """A connection as one wire identity that records the server's permission errors."""

    def __init__(self, nc: NATS, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors
        self.js = nc.jetstream(timeout=REFUSAL_TIMEOUT)

    async def violation(self, kind: str, subject: str) -> None:
        """Wait until the server said it refused `kind` ("Publish"/"Subscription") to `subject`."""
        # nats-py lower-cases the server's error text.
        expected = f'permissions violation for {kind} to "{subject}"'.lower()
        deadline = asyncio.get_running_loop().time() + VIOLATION_WAIT
        while not any(expected in error.lower() for error in self.errors):
            assert asyncio.get_running_loop().time() < deadline, (expected, self.errors)
            await asyncio.sleep(0.05)

    async def refused_request(self, subject: str, call: Awaitable[object]) -> None:
        """A JetStream API call whose request subject the server refuses to this identity."""
        with pytest.raises(TimeoutError):
            await call
        await self.violation("Publish", subject)


async def connect_as(stack: RunningStack, identity: str) -> Identity:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    options = dict(stack.info["nats_credentials"][identity])
    nc = await nats.connect(stack.info["nats_url"], connect_timeout=5, allow_reconnect=False,
                            error_cb=on_error, **options)
    return Identity(nc, errors)


@pytest.fixture
async def mx(stack: RunningStack) -> AsyncIterator[Identity]:
    identity = await connect_as(stack, "gateway-MX")
    yield identity
    await identity.nc.close()


@pytest.fixture
async def admin(stack: RunningStack) -> AsyncIterator[NATS]:
    nc = await stack.nats("admin")
    yield nc
    await nc.close()


async def login_refused(stack: RunningStack, **options: str) -> str:
    with pytest.raises(nats.errors.Error) as refused:
        await nats.connect(stack.info["nats_url"], connect_timeout=5, allow_reconnect=False,
                           **options)
    return str(refused.value)


async def test_anonymous_connection_is_refused(stack: RunningStack):
    assert "Authorization Violation" in await login_refused(stack)


def forged_creds(stack: RunningStack, folder: Path) -> tuple[Path, Path]:
    """Creds for "gateway-MX" signed by a key the account does not list, and the real
    creds' JWT with another user's seed."""
    real_jwt = creds_jwt(Path(
        stack.info["nats_credentials"]["gateway-MX"]["user_credentials"]).read_text())
    account = decode_jwt(real_jwt)["nats"]["issuer_account"]
    user_seed = new_seed(nkeys.PREFIX_BYTE_USER)
    forger = new_seed(nkeys.PREFIX_BYTE_ACCOUNT)
    forged = user_jwt(forger, account, public_key(user_seed), "gateway-MX",
                      gateway_permissions("MX"))
    (folder / "forged.creds").write_text(format_creds(forged, user_seed))
    (folder / "stolen-jwt.creds").write_text(format_creds(real_jwt, user_seed))
    return folder / "forged.creds", folder / "stolen-jwt.creds"


async def test_user_signed_by_a_key_that_is_not_the_accounts_is_refused(
        stack: RunningStack, tmp_path: Path):
    forged, stolen_jwt = forged_creds(stack, tmp_path)
    assert "Authorization Violation" in await login_refused(stack, user_credentials=str(forged))
    # A copied JWT without its seed cannot answer the server's challenge.
    assert "Authorization Violation" in await login_refused(stack,
                                                            user_credentials=str(stolen_jwt))


async def test_mx_cannot_publish_as_honduras(mx: Identity, admin: NATS):
    marker = uuid.uuid4().hex.encode()
    for subject in ("enlace.audit.HN", "enlace.msg.MX.mx-sndif.referral", "enlace.msg.MX"):
        await mx.refused_request(subject, mx.js.publish(subject, marker))
        await mx.nc.publish(subject, marker)  # plain publish, no acknowledgement asked
        await mx.nc.flush()
        stream = AUDIT_STREAM if subject.startswith("enlace.audit") else MESSAGES_STREAM
        admin_js = admin.jetstream(timeout=10)
        try:
            last = await admin_js.get_last_msg(stream, subject)
            assert last.data != marker
        except nats.js.errors.NotFoundError:
            pass  # nothing at all on that subject: certainly not ours


async def test_mx_cannot_use_the_honduran_consumer(mx: Identity, stack: RunningStack):
    prefix = f"$JS.API.CONSUMER.%s.{MESSAGES_STREAM}.gateway-HN"
    await mx.refused_request(prefix % "INFO", mx.js.consumer_info(MESSAGES_STREAM, "gateway-HN"))
    bound = await mx.js.pull_subscribe_bind("gateway-HN", stream=MESSAGES_STREAM)
    with pytest.raises(TimeoutError):
        await bound.fetch(1, timeout=REFUSAL_TIMEOUT)
    await mx.violation("Publish", prefix % "MSG.NEXT")
    ack = f"$JS.ACK.{MESSAGES_STREAM}.gateway-HN.1.1.1.0.0"
    await mx.nc.publish(ack, b"+ACK")
    await mx.violation("Publish", ack)

    # Control: the same look-up by Honduras, and MX on its own consumer, are answered.
    hn = await connect_as(stack, "gateway-HN")
    try:
        info = await hn.js.consumer_info(MESSAGES_STREAM, "gateway-HN")
        assert info.config.filter_subject == "enlace.msg.HN.>"
    finally:
        await hn.nc.close()
    assert (await mx.js.consumer_info(MESSAGES_STREAM, "gateway-MX")).name == "gateway-MX"


async def test_mx_cannot_read_stream_messages(mx: Identity):
    api = "$JS.API"
    await mx.refused_request(f"{api}.STREAM.MSG.GET.{MESSAGES_STREAM}",
                             mx.js.get_msg(MESSAGES_STREAM, seq=1))
    await mx.refused_request(f"{api}.DIRECT.GET.{MESSAGES_STREAM}",
                             mx.js.get_msg(MESSAGES_STREAM, seq=1, direct=True))
    fresh = ConsumerConfig(name="peek", filter_subject="enlace.msg.HN.>")
    await mx.refused_request(f"{api}.CONSUMER.CREATE.{MESSAGES_STREAM}.peek.enlace.msg.HN.>",
                             mx.js.add_consumer(MESSAGES_STREAM, fresh))
    # Its own consumer's name with HN's filter: another subject, refused too.
    widened = ConsumerConfig(durable_name="gateway-MX", name="gateway-MX",
                             filter_subject="enlace.msg.HN.>")
    await mx.refused_request(
        f"{api}.CONSUMER.CREATE.{MESSAGES_STREAM}.gateway-MX.enlace.msg.HN.>",
        mx.js.add_consumer(MESSAGES_STREAM, widened))
    with pytest.raises(TimeoutError):
        await mx.js.subscribe("enlace.msg.HN.>", stream=MESSAGES_STREAM, ordered_consumer=True)
    await mx.violation("Publish", f"{api}.CONSUMER.CREATE.{MESSAGES_STREAM}")


async def test_allowed_create_subject_with_another_filter_in_the_body_is_refused(
        mx: Identity):
    # The one create subject MX may use, with HN's filter smuggled into the body: the
    # server itself refuses the mismatch.
    subject = f"$JS.API.CONSUMER.CREATE.{MESSAGES_STREAM}.gateway-MX.enlace.msg.MX.>"
    body = {"stream_name": MESSAGES_STREAM, "config": {
        "durable_name": "gateway-MX", "name": "gateway-MX", "filter_subject": "enlace.msg.HN.>",
        "ack_policy": "explicit"}}
    answer = await mx.nc.request(subject, json.dumps(body).encode(), timeout=10)
    assert b'"error"' in answer.data
    info = await mx.js.consumer_info(MESSAGES_STREAM, "gateway-MX")
    assert info.config.filter_subject == "enlace.msg.MX.>"


async def test_mx_cannot_see_stream_info_or_list_streams(mx: Identity):
    await mx.refused_request(f"$JS.API.STREAM.INFO.{MESSAGES_STREAM}",
                             mx.js.stream_info(MESSAGES_STREAM, subjects_filter=">"))
    await mx.refused_request(f"$JS.API.STREAM.INFO.{AUDIT_STREAM}",
                             mx.js.stream_info(AUDIT_STREAM))
    await mx.refused_request("$JS.API.STREAM.LIST", mx.js.streams_info())
    await mx.refused_request("$JS.API.CONSUMER.LIST." + MESSAGES_STREAM,
                             mx.js.consumers_info(MESSAGES_STREAM))


async def test_mx_cannot_delete_purge_or_create_streams(mx: Identity, admin: NATS):
    api = "$JS.API"
    await mx.refused_request(f"{api}.STREAM.MSG.DELETE.{MESSAGES_STREAM}",
                             mx.js.delete_msg(MESSAGES_STREAM, 1))
    await mx.refused_request(f"{api}.STREAM.PURGE.{MESSAGES_STREAM}",
                             mx.js.purge_stream(MESSAGES_STREAM))
    await mx.refused_request(f"{api}.STREAM.DELETE.{AUDIT_STREAM}",
                             mx.js.delete_stream(AUDIT_STREAM))
    await mx.refused_request(f"{api}.STREAM.PURGE.{STATISTICS_STREAM}",
                             mx.js.purge_stream(STATISTICS_STREAM))
    await mx.refused_request(f"{api}.CONSUMER.DELETE.{MESSAGES_STREAM}.gateway-HN",
                             mx.js.delete_consumer(MESSAGES_STREAM, "gateway-HN"))
    await mx.refused_request(f"{api}.STREAM.CREATE.MINE",
                             mx.js.add_stream(StreamConfig(name="MINE", subjects=["mine.>"])))
    admin_js = admin.jetstream(timeout=10)
    assert {s.config.name for s in await admin_js.streams_info()} == {
        MESSAGES_STREAM, AUDIT_STREAM, STATISTICS_STREAM}
    assert (await admin_js.consumer_info(MESSAGES_STREAM, "gateway-HN")).name == "gateway-HN"


@pytest.mark.parametrize("subject", ["enlace.msg.>", "enlace.msg.HN.>", "_INBOX.>",
                                     "_INBOX_gateway-HN.>", "$JS.ACK.>", ">",
                                     "enlace.stats.>", "enlace.stats.MX"])
async def test_mx_cannot_subscribe_beyond_its_inbox(mx: Identity, subject: str):
    await mx.nc.subscribe(subject)
    await mx.nc.flush()
    await mx.violation("Subscription", subject)


async def test_mx_publishes_statistics_as_itself_only_and_cannot_read_them(
        mx: Identity, admin: NATS):
    marker = uuid.uuid4().hex.encode()
    subject = statistics_subject("HN")
    await mx.refused_request(subject, mx.js.publish(subject, marker))
    try:
        last = await admin.jetstream(timeout=10).get_last_msg(STATISTICS_STREAM, subject)
        assert last.data != marker
    except nats.js.errors.NotFoundError:
        pass  # nothing at all on that subject: certainly not ours
    api = "$JS.API"
    await mx.refused_request(f"{api}.STREAM.MSG.GET.{STATISTICS_STREAM}",
                             mx.js.get_msg(STATISTICS_STREAM, seq=1))
    await mx.refused_request(f"{api}.DIRECT.GET.{STATISTICS_STREAM}",
                             mx.js.get_msg(STATISTICS_STREAM, seq=1, direct=True))
    await mx.refused_request(
        f"{api}.CONSUMER.INFO.{STATISTICS_STREAM}.{REGISTRY_STATISTICS_CONSUMER}",
        mx.js.consumer_info(STATISTICS_STREAM, REGISTRY_STATISTICS_CONSUMER))
    peek = ConsumerConfig(name="peek", filter_subject="enlace.stats.>")
    await mx.refused_request(f"{api}.CONSUMER.CREATE.{STATISTICS_STREAM}.peek.enlace.stats.>",
                             mx.js.add_consumer(STATISTICS_STREAM, peek))


async def test_the_registry_cannot_send_referrals_or_take_gateway_consumers(
        stack: RunningStack):
    registry = await connect_as(stack, "registry")
    try:
        subject = "enlace.msg.HN.hn-senaf.referral"
        await registry.refused_request(subject, registry.js.publish(subject, b"{}"))
        await registry.refused_request(
            f"$JS.API.CONSUMER.INFO.{MESSAGES_STREAM}.gateway-HN",
            registry.js.consumer_info(MESSAGES_STREAM, "gateway-HN"))
        # Its own consumer is answered.
        info = await registry.js.consumer_info(AUDIT_STREAM, "registry-audit")
        assert info.name == "registry-audit"
    finally:
        await registry.nc.close()


async def test_only_the_registry_tells_of_policy_changes_and_a_gateway_hears_it(
        mx: Identity, stack: RunningStack):
    heard: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_notice(msg: Any) -> None:
        await heard.put(msg.data)

    await mx.nc.subscribe(POLICY_CHANGES_SUBJECT, cb=on_notice)
    await mx.nc.flush()
    # A gateway may not publish a notice (it would make every gateway re-fetch) ...
    await mx.nc.publish(POLICY_CHANGES_SUBJECT, b'{"v": "1", "type": "policy-changed"}')
    await mx.nc.flush()
    await mx.violation("Publish", POLICY_CHANGES_SUBJECT)
    assert heard.empty()
    # ... the registry may, and the gateway hears it.
    registry = await connect_as(stack, "registry")
    try:
        await registry.nc.publish(POLICY_CHANGES_SUBJECT, b'{"v": "1", "type": "policy-changed"}')
        await registry.nc.flush()
        assert json.loads(await asyncio.wait_for(heard.get(), 10))["type"] == "policy-changed"
        assert not any("permissions violation" in e.lower() for e in registry.errors)
    finally:
        await registry.nc.close()


async def test_an_api_error_is_not_mistaken_for_a_refusal(admin: NATS):
    # The helper's premise: an allowed request that fails gets an answer, not a timeout.
    with pytest.raises(APIError):
        await admin.jetstream(timeout=10).consumer_info(MESSAGES_STREAM, "no-such-consumer")


def test_the_locked_down_stack_still_delivers_a_referral_and_its_receipt(stack: RunningStack):
    response = send(stack)
    assert response.status_code == 202
    referral = delivered(stack, response.json()["id"])  # delivered = HN's receipt came back
    assert referral["direction"] == "outbound"


class StreamMissingLog:
    def __init__(self) -> None:
        self.events: list[str] = []

    def warning(self, event: str, **_: object) -> None:
        self.events.append(event)


@pytest.fixture
def bare_server(tmp_path: Path) -> Iterator[tuple[Trust, str]]:
    """A server of its own with the stack's config but no streams yet."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    trust, config = write_nats_config(tmp_path, port)
    server = subprocess.Popen([nats_server_binary(), "-c", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield trust, f"nats://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


async def test_a_gateway_waits_for_the_streams_it_may_not_create(
        bare_server: tuple[Trust, str], monkeypatch: pytest.MonkeyPatch):
    trust, url = bare_server
    recorded = StreamMissingLog()
    monkeypatch.setattr(jetstream, "log", recorded)
    gateway = await wait_for_server(lambda: connect_identity(
        url, "test", trust.ensure_creds("gateway-HN")))
    binding = asyncio.create_task(jetstream.bind_durable_consumer(
        gateway.jetstream(timeout=5), MESSAGES_STREAM, "gateway-HN",
        country_messages_filter("HN"), retry_seconds=0.2))
    deadline = asyncio.get_running_loop().time() + VIOLATION_WAIT
    while "stream_missing" not in recorded.events:
        assert not binding.done(), binding
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)

    await create_streams(url, connect_options(trust, "admin"))
    subscription = await asyncio.wait_for(binding, VIOLATION_WAIT)
    assert (await subscription.consumer_info()).config.filter_subject == "enlace.msg.HN.>"
    await gateway.close()


async def wait_for_server(connect: Callable[[], Awaitable[NATS]]) -> NATS:
    deadline = asyncio.get_running_loop().time() + VIOLATION_WAIT
    while True:
        try:
            return await asyncio.wait_for(connect(), 5)
        except (OSError, TimeoutError, nats.errors.Error):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
