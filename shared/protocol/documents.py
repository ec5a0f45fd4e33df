"""The signed documents the regional services issue, and what each must say to be used
(checked by shared.kit.signed.verify_document). The signer sets the media type and the
fixed claims named here; the verifier checks them, with the times and the order.
"""

from __future__ import annotations

from shared.kit.signed import DocumentKind

# The directory's content at a version (a full snapshot, or the changes since one):
# docs/directory.md, "Signed snapshots".
DIRECTORY_SNAPSHOT = DocumentKind(
    "directory snapshot", "enlace-directory-snapshot+jws", claims={"iss": "enlace-directory"},
    issued_at="iat", expires_at="exp", order="version")

# What an institution's gateway decides from while the registry is away (PolicySnapshot).
POLICY_SNAPSHOT = DocumentKind(
    "policy snapshot", "enlace-policy-snapshot+jws", claims={"type": "policy-snapshot"},
    issued_at="issued_at", expires_at="expires_at", order="issued_at",
    max_payload_bytes=64 * 1024 * 1024)

# The registry's signed root of the audit log at a size; that a later one extends an
# earlier one is shown by a consistency proof (services/audit_verify.py), not by an order.
AUDIT_CHECKPOINT = DocumentKind(
    "audit checkpoint", "enlace-checkpoint+jws", claims={"type": "audit-checkpoint"})
