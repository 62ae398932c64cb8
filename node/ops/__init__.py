"""Operating a node home: backup and restore, and the serve lock."""
