"""The NATS credentials the directory issues with a gateway's token: a user of the ENLACE
account for the gateway of one country, signed with the account's signing key
(shared/protocol/nats_auth.py), whose permissions are that country's (docs/protocol.md §2)."""

from __future__ import annotations

from pathlib import Path

import nkeys

from services.directory.service import NatsIssuer
from shared.kit.errors import Unavailable
from shared.protocol.nats_auth import gateway_credentials
from shared.protocol.settings import Settings


def nats_issuer(settings: Settings) -> NatsIssuer | None:
    """None when the directory is not configured to issue NATS credentials. The seed is read
    at each issuance, so the operator may rotate the file without a restart."""
    key_file, account = settings.nats_account_signing_key_file, settings.nats_account_public_key
    if key_file is None or not account:
        return None
    signing_key_file: Path = key_file

    def issue(country: str) -> str:
        try:
            seed = signing_key_file.read_text().strip()
            return gateway_credentials(seed, account, country)
        except (OSError, ValueError, nkeys.NkeysError) as exc:
            raise Unavailable("The directory cannot read or use its NATS account signing key "
                              "(ENLACE_NATS_ACCOUNT_SIGNING_KEY_FILE).",
                              code="nats_signing_key_unusable") from exc

    return issue
