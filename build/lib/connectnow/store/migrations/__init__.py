"""One module per migration, each defining `MIGRATION` (see connectnow/store/schema.py)."""
