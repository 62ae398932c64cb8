"""matching package (see ../shared/docs/design.md)."""
