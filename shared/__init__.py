"""Code the Enlace services share: `kit` (domain-free), `protocol` (what they agree on) and
`web` (the consoles' common pages, translations and sign-in)."""
