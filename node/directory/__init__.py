"""The network directory: the organisation profile, districts, published statistics and their
suppression."""
