"""People who use the web UI: users, sessions and login throttling."""
