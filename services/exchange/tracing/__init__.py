"""Cross-border family tracing (issue 12): each target country matches a tracing request
against its own records, at home; only a field-by-field verdict goes back."""
