"""keys package (see ../shared/docs/design.md)."""
