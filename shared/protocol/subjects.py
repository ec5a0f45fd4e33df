"""The streams, subjects and headers every Enlace service agrees on (docs/protocol.md §2).

Subjects carry routing only (country, institution, message type), never personal data.
"""

from __future__ import annotations

from nats.js import JetStreamContext

from shared.kit.jetstream import ensure_stream

MESSAGES_STREAM = "ENLACE_MESSAGES"
AUDIT_STREAM = "ENLACE_AUDIT"
MESSAGE_SUBJECTS = "enlace.msg.>"
AUDIT_SUBJECTS = "enlace.audit.>"
# Core NATS (no stream): the registry's notice that agreements or consents changed, so
# gateways re-fetch their policy snapshots at once. No personal data: docs/protocol.md §2.
POLICY_CHANGES_SUBJECT = "enlace.policy.changed"
POLICY_CHANGE_TYPE = "policy-changed"
# Each gateway's statistics reports (shared/protocol/figures.py), for the registry alone.
STATISTICS_STREAM = "ENLACE_STATISTICS"
STATISTICS_SUBJECTS = "enlace.stats.>"
TYPE_HEADER = "Enlace-Type"
SENDER_HEADER = "Enlace-Sender"


def message_subject(country: str, institution_id: str, message_type: str) -> str:
    return f"enlace.msg.{country}.{institution_id}.{message_type}"


def country_messages_filter(country: str) -> str:
    return f"enlace.msg.{country}.>"


def audit_subject(country: str) -> str:
    return f"enlace.audit.{country}"


def statistics_subject(country: str) -> str:
    return f"enlace.stats.{country}"


async def ensure_streams(js: JetStreamContext) -> None:
    await ensure_stream(js, MESSAGES_STREAM, [MESSAGE_SUBJECTS])
    await ensure_stream(js, AUDIT_STREAM, [AUDIT_SUBJECTS])
    await ensure_stream(js, STATISTICS_STREAM, [STATISTICS_SUBJECTS])
