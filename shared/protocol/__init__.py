"""What every Enlace service agrees on: the signed and sealed envelope, subjects and NATS
permissions, the vocabularies, the policy decision, audit events, tokens and roles, the
directory's search rules and the ENLACE_* settings (docs/protocol.md is its specification)."""
