"""HTTP plumbing shared by the peer API and the web UI: client addresses, request limits, rate
limits."""
