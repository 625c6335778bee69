"""The broadcasts sidecar: groups, templates, CSV import/export, scheduling and delivery."""
