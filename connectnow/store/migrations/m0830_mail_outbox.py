"""The mail outbox (issue 19): invitation mails queued after the write, sent by a leased worker with retries."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0830_mail_outbox",
    description="mail outbox: due and expired-lease claims, per-subject listing, per-sender daily quota",
    collections=("mail_outbox",),
    indexes=(
        Index("mail_outbox", "ix_mail_outbox_due", (("status", 1), ("scheduledFor", 1))),
        Index("mail_outbox", "ix_mail_outbox_lease", (("status", 1), ("leaseUntil", 1))),
        Index("mail_outbox", "ix_mail_outbox_subject", (("subjectKey", 1), ("createdAt", 1))),
        Index("mail_outbox", "ix_mail_outbox_sender", (("senderId", 1), ("createdAt", 1))),
    ),
)
