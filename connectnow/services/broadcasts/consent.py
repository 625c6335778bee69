"""Opt-out and consent per contact (Twilio's STOP/START keywords, Mailchimp's "unsubscribed").

A contact leaves by replying STOP (or STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE) to a message:
the owner's SMS/e-mail gateway posts the reply to the signed inbound webhook
`POST /broadcasts/inbound/{userId}`. The owner can also record an opt-out the contact asked for another way.
Only the contact opts back in (START, UNSTOP, YES): an owner cannot re-subscribe someone who said stop.

An opted-out contact is never sent to again: scheduling to them is refused (`CONTACT_OPTED_OUT`), a group
leaves them out, and a delivery that falls due after they opted out is cancelled with the reason recorded.
The inbound call is signed like outgoing deliveries (`X-ConnectNow-Signature: t=<unix>,v1=<hex HMAC-SHA256(
secret, "<t>." + body)>`) with the user's webhook secret, and refused when older than five minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from pydantic import ValidationError

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.services.auth import Principal
from connectnow.services.broadcasts.webhooks import WebhookService
from connectnow.services.contacts import ContactService, to_public
from models.contacts import ConsentSource, ContactPublic, InboundAction, InboundReply, InboundResult

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
SIGNATURE_TOLERANCE_SECONDS = 300
MAX_SIGNATURE_HEADER = 200


def keyword(text: str) -> str:
    """The reply as a keyword: a single word, any case, surrounding blanks and punctuation ignored."""
    return text.strip().strip(".!").upper()


def check_signature(secret: bytes, header: str | None, body: bytes, now: float | None = None) -> None:
    """`t=<unix>,v1=<hex>` over "<t>." + body, at most five minutes old (or ahead)."""
    if not header or len(header) > MAX_SIGNATURE_HEADER:
        raise AppError(errors.INBOUND_SIGNATURE_INVALID)
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        raise AppError(errors.INBOUND_SIGNATURE_INVALID) from None
    if abs((now if now is not None else time.time()) - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise AppError(errors.INBOUND_SIGNATURE_INVALID, "The signature's timestamp is too old or in the future")
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise AppError(errors.INBOUND_SIGNATURE_INVALID)


class ConsentService:
    def __init__(self, contacts: ContactService, webhooks: WebhookService) -> None:
        self.contacts = contacts
        self.webhooks = webhooks

    async def opt_out(self, principal: Principal, contact_id: str, reason: str) -> ContactPublic:
        """The owner records an opt-out; an existing one (and its reason) is kept as it was."""
        current = await self.contacts.get_owned(principal, contact_id)
        if current.opted_out:
            return to_public(current)
        return await self._set_out(principal.user_id, current.id, f"owner: {reason}", ConsentSource.OWNER)

    async def inbound(self, user_id: str, signature: str | None, raw: bytes) -> InboundResult:
        target = await self.webhooks.target_for(user_id)
        if target is None:
            raise AppError(errors.INBOUND_SIGNATURE_INVALID, "This user has no webhook, so no inbound secret")
        check_signature(target.secret, signature, raw)
        try:
            reply = InboundReply.model_validate_json(raw)
        except ValidationError as exc:
            raise AppError(errors.VALIDATION_FAILED, details={"errors": exc.errors(include_url=False)}) from None
        try:
            phone = self.contacts.normalize(reply.from_, reply.region)
        except AppError:
            return InboundResult(action=InboundAction.UNKNOWN_CONTACT)
        contact = await self.contacts.contacts.by_phone(user_id, phone)
        if contact is None:
            return InboundResult(action=InboundAction.UNKNOWN_CONTACT)
        word = keyword(reply.text)
        if word in STOP_WORDS:
            if not contact.opted_out:
                await self._set_out(user_id, contact.id, f"replied {word}", ConsentSource.INBOUND)
            return InboundResult(action=InboundAction.OPTED_OUT, contact_id=contact.id)
        if word in START_WORDS:
            now = utcnow()
            changes = {"optedOut": False, "consentAt": now, "updatedAt": now}
            cleared = {"optedOutAt": None, "optOutReason": None, "optOutSource": None}  # None removes a field
            await self.contacts.contacts.set_owned(contact.id, user_id, {**changes, **cleared})
            return InboundResult(action=InboundAction.OPTED_IN, contact_id=contact.id)
        return InboundResult(action=InboundAction.IGNORED, contact_id=contact.id)

    async def _set_out(self, user_id: str, contact_id: str, reason: str, source: ConsentSource) -> ContactPublic:
        now = utcnow()
        changes = {
            "optedOut": True,
            "optedOutAt": now,
            "optOutReason": reason,
            "optOutSource": source.value,
            "updatedAt": now,
        }
        updated = await self.contacts.contacts.set_owned(contact_id, user_id, changes)
        if updated is None:
            raise AppError(errors.NOT_FOUND, "No such contact")
        return to_public(updated)
