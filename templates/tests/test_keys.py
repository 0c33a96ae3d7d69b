"""Server-generated keys and payload ids."""

import re

import pytest
from django.db import IntegrityError, transaction

from templates.models import MessageTemplate
from templates.tests.factories import button_template, list_template, text_template


def test_template_keys_are_generated_unique_and_well_formed(in_alpha):
    keys = {text_template(name=f"t{i}").key for i in range(50)}
    assert len(keys) == 50
    assert all(re.fullmatch(r"tmpl_[a-z0-9]{8}", key) for key in keys)


def test_key_is_not_editable_and_unique_in_the_schema(in_alpha):
    field = MessageTemplate._meta.get_field("key")
    assert field.editable is False and field.unique is True
    first = text_template()
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageTemplate.objects.create(name="copy", key=first.key, body="x")


def test_button_and_row_payload_ids_are_generated_and_distinct(in_alpha):
    menu = button_template(titles=("A", "B", "C"))
    catalogue = list_template(rows=[("", "One", ""), ("", "Two", "")])
    button_ids = [b.payload_id for b in menu.buttons.all()]
    row_ids = [r.payload_id for r in catalogue.rows.all()]
    assert all(re.fullmatch(r"btn_[a-z0-9]{10}", i) for i in button_ids)
    assert all(re.fullmatch(r"row_[a-z0-9]{10}", i) for i in row_ids)
    assert len(set(button_ids + row_ids)) == 5


def test_renaming_a_button_keeps_its_payload_id(in_alpha):
    button = button_template().buttons.first()
    payload_id = button.payload_id
    button.title = "Renamed"
    button.save()
    button.refresh_from_db()
    assert button.payload_id == payload_id
