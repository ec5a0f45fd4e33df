"""Code every Enlace service needs and that knows no single service's domain."""
