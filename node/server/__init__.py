"""Running a node: the peer API and the serve loop that wires the peer API, the web UI and sync."""
