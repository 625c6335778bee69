"""Operators' dashboard: the audit trail of operator actions, newest first."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="1700_operator_audit",
    description="operator actions taken from the dashboard",
    collections=("operator_audit",),
    indexes=(Index("operator_audit", "ix_operator_audit_created", (("createdAt", -1),)),),
)
