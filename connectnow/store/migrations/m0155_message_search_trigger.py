"""Message search: edits re-index a message's text, other updates (reactions, pins, stamps) leave it alone.

The update trigger of 0100's FTS5 table deleted and re-inserted a message's search row on every update of the
message, text changed or not; it now fires only when the indexed text changes (SQLite; MongoDB maintains its
text index itself)."""

from connectnow.store.schema import Migration, TextIndex

MIGRATION = Migration(
    id="0155_message_search_trigger",
    description="message search row re-indexed only when the text changes",
    text_update_triggers=(TextIndex("messages", "tx_messages_content", ("content",)),),
)
