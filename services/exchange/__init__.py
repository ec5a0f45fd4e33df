"""Exchange gateway: a country's door to the others, for its own institutions."""
