"""Categories and locations: personal or global (administrators), unique name per owner, usage counts.

Usage counts move with the events that use them (see events.py); `recount` rebuilds them from the events,
for repair after an import or a crash between the two writes.
"""

from __future__ import annotations

from typing import Any

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.calendar import CategoryRepository, EventRepository, LocationRepository, user_scope
from connectnow.services.auth import Principal
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.calendar import (
    GLOBAL_SCOPE,
    CategoryCreate,
    CategoryPublic,
    CategoryRecord,
    CategoryUpdate,
    GeoPoint,
    LocationCreate,
    LocationPublic,
    LocationRecord,
    LocationUpdate,
)

MAX_NEARBY = 100


def _scope(principal: Principal, is_global: bool) -> tuple[str, str | None]:
    if is_global:
        if not principal.user.is_admin:
            raise AppError(errors.ADMIN_REQUIRED, "Only administrators create global categories and locations")
        return GLOBAL_SCOPE, None
    return user_scope(principal.user_id), principal.user_id


def _can_write(principal: Principal, scope: str) -> bool:
    return scope == user_scope(principal.user_id) or (scope == GLOBAL_SCOPE and principal.user.is_admin)


def _geo(coordinates: dict[str, float] | None) -> dict[str, Any] | None:
    if coordinates is None:
        return None
    return GeoPoint(coordinates=[coordinates["longitude"], coordinates["latitude"]]).model_dump()


class CatalogService:
    def __init__(self, store: DocumentStore) -> None:
        self.categories = CategoryRepository(store)
        self.locations = LocationRepository(store)
        self.events = EventRepository(store)

    # --- categories ------------------------------------------------------------------------------------
    async def create_category(self, principal: Principal, data: CategoryCreate) -> CategoryPublic:
        scope, owner = _scope(principal, data.is_global)
        now = utcnow()
        record = CategoryRecord(
            id=new_id(), user_id=owner, scope=scope, name_lower=data.name.casefold(),
            **data.model_dump(exclude={"is_global"}), created_at=now, updated_at=now,
        )  # fmt: skip
        try:
            await self.categories.insert(record)
        except DuplicateKeyError as exc:
            raise AppError(errors.CATEGORY_NAME_TAKEN) from exc
        return CategoryPublic.model_validate(record, from_attributes=True)

    async def list_categories(self, principal: Principal) -> list[CategoryPublic]:
        return [CategoryPublic.model_validate(c, from_attributes=True)
                for c in await self.categories.visible_to(principal.user_id)]  # fmt: skip

    async def _writable_category(self, principal: Principal, category_id: str) -> CategoryRecord:
        return await _writable(self.categories, principal, category_id, "category", "categories")

    async def update_category(self, principal: Principal, category_id: str, data: CategoryUpdate) -> CategoryPublic:
        await self._writable_category(principal, category_id)
        changes = data.model_dump(exclude_unset=True, exclude_none=True, by_alias=True)
        if "name" in changes:
            changes["nameLower"] = changes["name"].casefold()
        try:
            record = await self.categories.set_fields(category_id, {**changes, "updatedAt": utcnow()})
        except DuplicateKeyError as exc:
            raise AppError(errors.CATEGORY_NAME_TAKEN) from exc
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such category")
        return CategoryPublic.model_validate(record, from_attributes=True)

    async def delete_category(self, principal: Principal, category_id: str) -> None:
        """Events keep their times; they lose the category reference."""
        await self._writable_category(principal, category_id)
        await self.events.drop_reference("categoryId", category_id)
        await self.categories.delete({"id": category_id})

    # --- locations -------------------------------------------------------------------------------------
    async def create_location(self, principal: Principal, data: LocationCreate) -> LocationPublic:
        scope, owner = _scope(principal, data.is_global)
        now = utcnow()
        values = data.model_dump(exclude={"is_global"})
        record = LocationRecord(
            id=new_id(), user_id=owner, scope=scope, name_lower=data.name.casefold(), **values,
            geo=_geo(values["coordinates"]), created_at=now, updated_at=now,
        )  # fmt: skip
        try:
            await self.locations.insert(record)
        except DuplicateKeyError as exc:
            raise AppError(errors.LOCATION_NAME_TAKEN) from exc
        return LocationPublic.model_validate(record, from_attributes=True)

    async def list_locations(self, principal: Principal) -> list[LocationPublic]:
        return [LocationPublic.model_validate(c, from_attributes=True)
                for c in await self.locations.visible_to(principal.user_id)]  # fmt: skip

    async def _writable_location(self, principal: Principal, location_id: str) -> LocationRecord:
        return await _writable(self.locations, principal, location_id, "location", "locations")

    async def update_location(self, principal: Principal, location_id: str, data: LocationUpdate) -> LocationPublic:
        await self._writable_location(principal, location_id)
        changes = data.model_dump(exclude_unset=True, exclude_none=True, by_alias=True)
        if "name" in changes:
            changes["nameLower"] = changes["name"].casefold()
        if "coordinates" in changes:
            changes["geo"] = _geo(changes["coordinates"])
        try:
            record = await self.locations.set_fields(location_id, {**changes, "updatedAt": utcnow()})
        except DuplicateKeyError as exc:
            raise AppError(errors.LOCATION_NAME_TAKEN) from exc
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such location")
        return LocationPublic.model_validate(record, from_attributes=True)

    async def delete_location(self, principal: Principal, location_id: str) -> None:
        await self._writable_location(principal, location_id)
        await self.events.drop_reference("locationId", location_id)
        await self.locations.delete({"id": location_id})

    async def nearby(
        self, principal: Principal, latitude: float, longitude: float, max_meters: float, limit: int
    ) -> list[LocationPublic]:
        found = await self.locations.nearby(principal.user_id, longitude, latitude, max_meters, min(limit, MAX_NEARBY))
        out = []
        for record, distance in found:
            item = LocationPublic.model_validate(record, from_attributes=True)
            item.distance_meters = round(distance, 1)
            out.append(item)
        return out

    async def admin_recount(self, principal: Principal) -> dict[str, int]:
        if not principal.user.is_admin:
            raise AppError(errors.ADMIN_REQUIRED)
        return await self.recount()

    async def recount(self) -> dict[str, int]:
        """Rebuild every usage count from the events (series and single events; exceptions do not count)."""
        cats = await self.events.usage_counts("categoryId")
        locs = await self.events.usage_counts("locationId")
        fixed = 0
        async for category in self.categories.iterate({}):
            if category.usage_count != cats.get(category.id, 0):
                await self.categories.set_fields(category.id, {"usageCount": cats.get(category.id, 0)})
                fixed += 1
        async for location in self.locations.iterate({}):
            if location.usage_count != locs.get(location.id, 0):
                await self.locations.set_fields(location.id, {"usageCount": locs.get(location.id, 0)})
                fixed += 1
        return {"fixed": fixed}


async def _writable(repo: Any, principal: Principal, record_id: str, noun: str, plural: str) -> Any:
    """A category or location the caller may change: their own, or (administrators only) a global one."""
    record = await repo.get(record_id)
    if record is None or record.scope not in (user_scope(principal.user_id), GLOBAL_SCOPE):
        raise AppError(errors.NOT_FOUND, f"No such {noun}")
    if not _can_write(principal, record.scope):
        raise AppError(errors.ADMIN_REQUIRED, f"Only administrators change global {plural}")
    return record
