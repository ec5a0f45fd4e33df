"""Regional figures at the registry (issue 11, docs/registry.md "Regional figures"): the
gateways' signed statistics reports taken in (ingest), the registry's own indicators
(own_indicators), their combination into the region and its suppression (combination, a
pure module), and who may read them (service, endpoints)."""
