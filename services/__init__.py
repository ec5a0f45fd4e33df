"""The three Enlace services (directory, registry, exchange) and the `enlace` command."""
