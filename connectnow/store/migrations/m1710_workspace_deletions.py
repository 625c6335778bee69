"""Workspace deletion jobs: a deleted workspace is emptied by a resumable leased job (issue 15)."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="1710_workspace_deletions",
    description="workspace deletion jobs (lease queue)",
    collections=("workspace_deletions",),
    indexes=(Index("workspace_deletions", "ix_workspace_deletions_due", (("status", 1), ("scheduledFor", 1))),),
)
