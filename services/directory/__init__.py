"""Directory: countries, institutions and their public keys."""
