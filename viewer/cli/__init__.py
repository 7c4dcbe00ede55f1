"""Command-line sub-commands of `ichview` (one module each)."""
