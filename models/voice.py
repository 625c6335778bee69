"""VOICE channels: the live participant list and WebRTC signalling relayed between participants."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from models.base import IdStr, InputModel

# An SDP offer or answer is a few KiB (more with many codecs or simulcast); 32 KiB is far above any real one,
# bounds what one client can make the server relay, and fits the default 64 KiB packet limit
# (`max_http_buffer_size`). SDP has CRLF line ends, so it is not `Text` (which refuses control characters).
MAX_SDP_CHARS = 32_768
Sdp = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SDP_CHARS)]


class VoiceJoin(InputModel):
    channel_id: IdStr
    is_muted: bool = Field(default=False, strict=True)


class VoiceMute(InputModel):
    channel_id: IdStr
    is_muted: bool = Field(strict=True)


class VoiceDescription(InputModel):
    """`voice:offer` / `voice:answer`: a session description for one participant."""

    channel_id: IdStr
    to_user_id: IdStr
    sdp: Sdp


class IceCandidate(InputModel):
    """The fields of a browser's RTCIceCandidateInit; an empty `candidate` is the end-of-candidates marker."""

    candidate: Annotated[str, StringConstraints(max_length=2048)]
    sdp_mid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdp_m_line_index: Annotated[int, Field(strict=True, ge=0, le=1024)] | None = Field(
        default=None, alias="sdpMLineIndex"
    )
    username_fragment: Annotated[str, StringConstraints(max_length=256)] | None = None


class VoiceCandidate(InputModel):
    channel_id: IdStr
    to_user_id: IdStr
    candidate: IceCandidate
