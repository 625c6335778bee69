"""pydantic models: stored documents and API shapes (camelCase on the wire)."""
