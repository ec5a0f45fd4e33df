"""Create (or update) Enlace's three JetStream streams with N replicas.

Gateways may not create streams; the registry creates missing ones, but with ONE
replica. Run this once, before the first service starts (on a 3-node cluster with 3
replicas, so that the streams survive the loss of a node), with the secretariat's admin
credentials (`enlace nats credentials --admin`):

    .venv/bin/python deploy/nats/create_streams.py --url tls://nats.enlace.internal:4222 \
        --creds /etc/enlace/nats-trust/creds/admin.creds --replicas 3

Run it again with another --replicas to change the replication of existing streams.
Subjects, storage, retention and the duplicate window are the ones the services expect
(shared/kit/jetstream.py). Needs the project installed (the venv of the services).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import nats
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shared.kit.jetstream import DUPLICATE_WINDOW_SECONDS, STREAM_MAX_AGE_SECONDS
from shared.protocol.subjects import (
    AUDIT_STREAM,
    AUDIT_SUBJECTS,
    MESSAGE_SUBJECTS,
    MESSAGES_STREAM,
    STATISTICS_STREAM,
    STATISTICS_SUBJECTS,
)


async def apply(url: str, creds: str, replicas: int) -> None:
    nc = await nats.connect(url, name="enlace-create-streams", connect_timeout=5,
                            allow_reconnect=False, user_credentials=creds)
    js = nc.jetstream(timeout=10)
    try:
        for name, subjects in ((MESSAGES_STREAM, [MESSAGE_SUBJECTS]),
                               (AUDIT_STREAM, [AUDIT_SUBJECTS]),
                               (STATISTICS_STREAM, [STATISTICS_SUBJECTS])):
            config = StreamConfig(
                name=name, subjects=subjects, storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS, max_age=STREAM_MAX_AGE_SECONDS,
                num_replicas=replicas,
            )
            try:
                await js.stream_info(name)
            except NotFoundError:
                await js.add_stream(config)
                print(f"created {name} with {replicas} replica(s)")
            else:
                await js.update_stream(config)
                print(f"updated {name}: {replicas} replica(s)")
    finally:
        await nc.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="NATS URL of the hub")
    parser.add_argument("--creds", required=True,
                        help=".creds file of an identity allowed to manage streams (admin)")
    parser.add_argument("--replicas", type=int, default=3, choices=[1, 3, 5])
    args = parser.parse_args()
    asyncio.run(apply(args.url, args.creds, args.replicas))
    return 0


if __name__ == "__main__":
    sys.exit(main())
