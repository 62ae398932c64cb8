"""A node's own records: importing a register, reading CSV/XLSX, exporting, retention, in-process
linking."""
