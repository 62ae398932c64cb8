"""Whom this node trusts: its own identity, its peers and what each may ask of it."""
