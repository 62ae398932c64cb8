"""The UI's pages, one module per area; app.py adds their routes."""
