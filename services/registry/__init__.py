"""Registry: inter-institutional agreements, the policy decision and the audit log."""
