"""`dump_as`: a stored message in wire form exactly as its public model writes it (the send path's one pass)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from connectnow.clock import new_id, utcnow
from connectnow.realtime.hub import to_wire
from models.base import StoredModel, Wire, dump_as
from models.direct import DirectMessagePublic, DirectMessageRecord
from models.messages import MessagePublic, MessageRecord, MessageType

R = TypeVar("R", bound=StoredModel)


def stored(model: type[R], fields: dict[str, Any], extra: dict[str, Any]) -> R:
    now = utcnow()
    base = {"id": new_id(), "dedupe_key": "k", "seq": 7, "last_event_seq": 9, "created_at": now, "updated_at": now}
    return model(**{**base, **fields, **extra})


def channel_message(**extra: Any) -> MessageRecord:
    fields = {"channel_id": new_id(), "workspace_id": new_id(), "user_id": new_id(), "content": "hello ✓ <b>"}
    return stored(MessageRecord, {**fields, "client_msg_id": "c1"}, extra)


def direct_message(**extra: Any) -> DirectMessageRecord:
    fields = {"conversation_id": new_id(), "sender_id": new_id(), "recipient_id": new_id(), "content": "hi"}
    return stored(DirectMessageRecord, {**fields, "client_msg_id": "c2"}, extra)


def the_long_way(record: BaseModel, view: type[BaseModel]) -> Any:
    return to_wire(view.model_validate(record.model_dump()))


LATER = utcnow() + timedelta(minutes=3)
CHANNEL_CASES = [
    {},
    {"is_edited": True, "edited_at": LATER, "version": 3, "mentions": [new_id(), new_id()], "broadcast": "here"},
    {"is_deleted": True, "deleted_at": LATER, "content": "", "is_pinned": True, "pinned_at": LATER, "pinned_by": "u"},
    {"parent_id": new_id(), "title": "A post", "reply_count": 4, "last_reply_at": LATER, "is_bot": True, "via": "api"},
    {"type": MessageType.SYSTEM, "system_event": "member.joined", "attachments": [{"id": "a", "size": 3, "x": None}]},
]


@pytest.mark.parametrize("extra", CHANNEL_CASES)
def test_a_channel_message_in_wire_form_is_what_its_public_model_writes(extra: dict[str, Any]) -> None:
    record = channel_message(**extra)
    wire = dump_as(record, MessagePublic)
    assert isinstance(wire, Wire) and wire == the_long_way(record, MessagePublic)
    assert wire["reactions"] == [] and "dedupeKey" not in wire  # the view's default; never a stored-only field
    assert to_wire(wire) is wire  # the hub hands it on as it is


@pytest.mark.parametrize("extra", [{}, {"is_read": True, "read_at": LATER, "is_pinned": True, "pinned_by": "x"}])
def test_a_direct_message_in_wire_form_is_what_its_public_model_writes(extra: dict[str, Any]) -> None:
    record = direct_message(**extra)
    assert dump_as(record, DirectMessagePublic) == the_long_way(record, DirectMessagePublic)


def test_each_call_gets_its_own_defaults() -> None:
    first, second = dump_as(channel_message(), MessagePublic), dump_as(channel_message(), MessagePublic)
    first["reactions"].append({"emoji": "x"})
    assert second["reactions"] == []


def test_a_view_with_a_required_field_the_record_lacks_is_refused() -> None:
    class Narrow(StoredModel):
        content: str

    class Wider(BaseModel):
        content: str
        score: int

    with pytest.raises(TypeError, match="score"):
        dump_as(Narrow(id="1", content="x"), Wider)
