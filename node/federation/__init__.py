"""Linking with peers: preparing what to send, opening and handling what arrives, delivery and
bundles."""
