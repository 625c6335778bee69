"""Users (seed 002 USERS): stored form, public and private views, inputs."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints

from models.base import InputModel, StoredModel, Text, UtcDateTime, WireModel

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$"
Username = Annotated[str, StringConstraints(strip_whitespace=True, pattern=USERNAME_PATTERN)]
# The real policy (configurable min and max) is checked by the service; this only bounds the payload.
PasswordText = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Url = Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://\S+$")]


class UserRecord(StoredModel):
    email: str
    email_lower: str
    username: str
    username_lower: str
    display_name: str
    password_hash: str | None = None
    avatar_url: str | None = None
    bio: str | None = None
    email_verified: bool = False
    is_active: bool = True
    is_banned: bool = False
    is_admin: bool = False
    is_bot: bool = False
    banned_reason: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    last_login_at: UtcDateTime | None = None


class UserPublic(WireModel):
    """What any signed-in user may see of another."""

    id: str
    username: str
    display_name: str
    avatar_url: str | None = None
    bio: str | None = None
    is_bot: bool = False
    created_at: UtcDateTime


class UserMe(UserPublic):
    """What a user sees of themself (and administrators of anyone)."""

    email: str
    email_verified: bool
    is_active: bool
    is_banned: bool
    is_admin: bool
    last_login_at: UtcDateTime | None = None


class RegisterIn(InputModel):
    email: Annotated[EmailStr, StringConstraints(max_length=254)]
    username: Username
    display_name: Annotated[str, Text(1, 64)]
    password: PasswordText


class LoginIn(InputModel):
    login: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)] = Field(
        description="Username or e-mail address"
    )
    password: PasswordText


class UserUpdate(InputModel):
    display_name: Annotated[str, Text(1, 64)] | None = None
    avatar_url: Url | None = None
    bio: Annotated[str, Text(0, 500)] | None = None


class PasswordChange(InputModel):
    current_password: PasswordText
    new_password: PasswordText


class AdminUserAction(InputModel):
    reason: Annotated[str, Text(0, 500)] | None = None
