"""Public booking: a host's scheduling username and Cal.com user id are unique (seed 003)."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0820_scheduling_public",
    description="unique scheduling usernames and Cal.com user ids on scheduling policies",
    indexes=(
        Index(
            "scheduling_policies", "ux_sched_policies_username", (("schedulingUsername", 1),), unique=True, sparse=True
        ),
        Index("scheduling_policies", "ux_sched_policies_cal_user", (("calUserId", 1),), unique=True, sparse=True),
    ),
)
