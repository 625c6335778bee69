"""Lease claims find expired leases through an index (tests/contract/test_query_plans.py).

`LeaseQueue.claim` takes a due item OR a running item whose lease expired. The due branch had an index on
(status, scheduledFor); the expired branch only matched the status prefix, so every claim walked all
running items. Broadcast deliveries already had (status, leaseUntil); the other queues get it here (numbered
after 0700 and 0800, which create those collections).
"""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0810_lease_expiry",
    description="index (status, leaseUntil) for the lease queues' expired-lease claims",
    indexes=(
        Index("worker_jobs", "ix_worker_jobs_lease", (("status", 1), ("leaseUntil", 1))),
        Index("calendar_reminders", "ix_cal_reminders_lease", (("status", 1), ("leaseUntil", 1))),
        Index("calendar_exports", "ix_cal_exports_lease", (("status", 1), ("leaseUntil", 1))),
    ),
)
