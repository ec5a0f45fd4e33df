"""A domain-free kit for services: database sessions and repositories, pagination, problem
details, the HTTP application, logging, limits, JetStream consumption, background loops,
atomic files and signed documents. Nothing here knows about children, referrals or countries;
it never imports `shared.protocol`."""
