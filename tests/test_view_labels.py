"""What the views service and the custom fields service name in English has a translated label,
so view and field editor pages never show it untranslated."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from core.models import Agent
from core.services import fields as field_service
from core.services import views as view_service
from core.services.base import Unit
from core.web.ui import labels

ENTITIES = ["contact", "account"]


def test_every_condition_operator_has_a_translated_label() -> None:
    assert set(view_service.OPERATOR_LABELS.values()) <= set(labels.VIEW_LABELS)


@pytest.mark.parametrize("entity", ENTITIES)
def test_every_built_in_column_has_a_translated_label(db: Session, entity: str) -> None:
    known = view_service.view_fields(db, entity)
    assert {field.label for field in known.values()} <= set(labels.VIEW_LABELS)


@pytest.mark.parametrize("entity", ENTITIES)
def test_every_standard_view_has_a_translated_name(
    unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, entity: str
) -> None:
    views = view_service.list_views(unit_for(admin_agent), entity)
    assert {view.name for view in views if view.is_default} <= set(labels.VIEW_LABELS)


def test_every_custom_field_type_has_a_translated_label() -> None:
    assert set(labels.FIELD_TYPES) == set(field_service.FIELD_TYPES)


def test_every_lookup_target_has_a_translated_label() -> None:
    assert set(labels.LOOKUP_TARGETS) == set(field_service.LOOKUP_TARGETS)
