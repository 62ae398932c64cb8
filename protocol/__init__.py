"""protocol package (see docs/design.md)."""
