"""protocol package (see ../shared/docs/design.md)."""
