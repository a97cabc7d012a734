"""Names through the REST API: the order field, and ``name`` in the request's language."""

from __future__ import annotations

pytest_plugins = ["tests.api_fixtures"]


def test_contact_name_follows_the_requests_language_and_its_name_order(browser) -> None:
    client, csrf = browser
    created = client.post(
        "/api/v1/contacts", json={"last_name": "Yamada", "first_name": "Hanako"}, headers=csrf
    )
    assert created.status_code == 201
    path = f"/api/v1/contacts/{created.json['id']}"
    assert created.json["name_order"] == "auto"
    assert client.get(path, headers={"Accept-Language": "en"}).json["name"] == "Hanako Yamada"
    changed = client.patch(path, json={"name_order": "family_first"}, headers=csrf)
    assert changed.status_code == 200
    assert client.get(path, headers={"Accept-Language": "en"}).json["name"] == "Yamada Hanako"


def test_kanji_name_is_family_first_in_an_english_request(browser) -> None:
    client, csrf = browser
    created = client.post(
        "/api/v1/contacts", json={"last_name": "山田", "first_name": "花子"}, headers=csrf
    )
    assert created.json["name"] == "山田 花子"


def test_unknown_name_order_answers_422_naming_it(browser) -> None:
    client, csrf = browser
    answer = client.post(
        "/api/v1/contacts", json={"last_name": "Yamada", "name_order": "sideways"}, headers=csrf
    )
    assert answer.status_code == 422
    assert "name_order" in answer.json["errors"]["json"]


def test_contact_search_finds_either_order_and_any_phone_form(browser) -> None:
    client, csrf = browser
    client.post(
        "/api/v1/contacts",
        json={"last_name": "山田", "first_name": "花子", "phone": "03-1234-5678"},
        headers=csrf,
    )
    for term in ("花子 山田", "０３１２３４５６７８", "+81312345678"):
        items = client.get("/api/v1/contacts", query_string={"search": term}).json["items"]
        assert [c["name"] for c in items] == ["山田 花子"], term
