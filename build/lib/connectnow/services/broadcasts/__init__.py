"""The broadcasts sidecar (issue 6): groups, templates, CSV import/export, scheduling and delivery."""
