"""Broadcasts (seeds 000 and 001): contacts, groups, memberships, templates, scheduled messages, deliveries,
webhook settings, and the study book system."""

from connectnow.store.schema import Index, Migration, TextIndex

MIGRATION = Migration(
    id="0600_broadcasts",
    description="contacts, groups, templates, scheduled messages and deliveries, study books",
    collections=(
        "contacts",
        "contact_groups",
        "group_memberships",
        "message_templates",
        "scheduled_messages",
        "broadcast_deliveries",
        "broadcast_webhooks",
        "study_books",
        "lessons",
        "predefined_messages",
        "user_custom_messages",
        "user_selected_messages",
    ),
    indexes=(
        # One contact per normalized (E.164) phone number in each address book: duplicates are refused or merged.
        Index("contacts", "ux_contacts_user_phone", (("userId", 1), ("phoneNumber", 1)), unique=True),
        Index("contacts", "ix_contacts_user_name", (("userId", 1), ("nameLower", 1))),
        Index("contacts", "ix_contacts_user_created", (("userId", 1), ("createdAt", -1))),
        Index("contact_groups", "ix_contact_groups_user", (("userId", 1), ("nameLower", 1))),
        Index("group_memberships", "ux_group_memberships_pair", (("groupId", 1), ("contactId", 1)), unique=True),
        Index("group_memberships", "ix_group_memberships_contact", (("contactId", 1),)),
        Index("message_templates", "ix_message_templates_user", (("userId", 1), ("nameLower", 1))),
        Index("scheduled_messages", "ix_scheduled_user_time", (("userId", 1), ("scheduledFor", 1))),
        Index("scheduled_messages", "ix_scheduled_user_target", (("userId", 1), ("targetKey", 1), ("status", 1))),
        # The lease queue: claims look for the most overdue ready delivery.
        Index("broadcast_deliveries", "ix_deliveries_due", (("status", 1), ("dueAt", 1))),
        Index("broadcast_deliveries", "ix_deliveries_source", (("sourceId", 1),)),
        Index("broadcast_deliveries", "ix_deliveries_lease", (("status", 1), ("leaseUntil", 1))),
        Index("broadcast_webhooks", "ux_broadcast_webhooks_user", (("userId", 1),), unique=True),
        Index("lessons", "ux_lessons_book_number", (("studyBookId", 1), ("lessonNumber", 1)), unique=True),
        Index("predefined_messages", "ix_predefined_lesson", (("lessonId", 1), ("displayOrder", 1))),
        Index("user_custom_messages", "ix_custom_user_lesson", (("userId", 1), ("lessonId", 1))),
        Index("user_selected_messages", "ix_selected_user_lesson", (("userId", 1), ("lessonId", 1))),
    ),
    text_indexes=(TextIndex("contacts", "tx_contacts", ("name", "email", "notes")),),
)
