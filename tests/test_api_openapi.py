"""REST API: the OpenAPI document served at /api/v1/openapi.json."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from hostapi import scopes


@pytest.fixture
def document(client: FlaskClient) -> dict:
    """The served OpenAPI document, parsed."""
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    return json.loads(answer.data)


def test_document_lists_every_endpoint(document: dict) -> None:
    expected = {
        "/api/v1/tickets": {"get", "post"},
        "/api/v1/tickets/bulk": {"post"},
        "/api/v1/tickets/{ticket_id}": {"get", "patch"},
        "/api/v1/tickets/{ticket_id}/status": {"post"},
        "/api/v1/tickets/{ticket_id}/status-history": {"get"},
        "/api/v1/tickets/{ticket_id}/threads": {"get", "post"},
        "/api/v1/tickets/{ticket_id}/ratings": {"get", "post"},
        "/api/v1/tickets/{ticket_id}/time-entries": {"get", "post"},
        "/api/v1/contacts": {"get", "post"},
        "/api/v1/contacts/{contact_id}": {"get", "patch"},
        "/api/v1/contacts/{contact_id}/merge": {"post"},
        "/api/v1/accounts": {"get", "post"},
        "/api/v1/accounts/{account_id}": {"get", "patch"},
        "/api/v1/departments": {"get", "post"},
        "/api/v1/departments/{department_id}": {"patch"},
        "/api/v1/agents": {"get", "post"},
        "/api/v1/agents/{agent_id}": {"get", "patch"},
        "/api/v1/agents/{agent_id}/deactivate": {"post"},
        "/api/v1/agents/{agent_id}/reactivate": {"post"},
        "/api/v1/agents/{agent_id}/set-password-link": {"post"},
        "/api/v1/sla-policies": {"get", "post"},
        "/api/v1/sla-policies/{policy_id}": {"get", "patch"},
        "/api/v1/business-hours/{department_id}": {"get", "put"},
        "/api/v1/business-hours/{department_id}/holidays": {"get", "post"},
        "/api/v1/business-hours/{department_id}/holidays/national": {"post"},
        "/api/v1/business-hours/{department_id}/holidays/{holiday_id}": {"delete"},
        "/api/v1/departments/{department_id}/deactivate": {"post"},
        "/api/v1/organisation": {"get", "patch"},
        "/api/v1/profiles": {"get", "post"},
        "/api/v1/profiles/{profile_id}": {"get", "patch", "delete"},
        "/api/v1/profiles/{profile_id}/clone": {"post"},
        "/api/v1/permissions": {"get"},
        "/api/v1/statuses": {"get", "post"},
        "/api/v1/statuses/{status_id}": {"get", "patch"},
        "/api/v1/statuses/{status_id}/move": {"post"},
        "/api/v1/me": {"get"},
        "/api/v1/me/tokens": {"get", "post"},
        "/api/v1/me/tokens/{token_id}": {"delete"},
        "/api/v1/marketplace/extensions": {"get"},
        "/api/v1/marketplace/extensions/{plugin_id}": {"get"},
        "/api/v1/installations": {"get", "post"},
        "/api/v1/installations/{installation_id}": {"get", "patch", "delete"},
        "/api/v1/installations/{installation_id}/upgrade": {"post"},
        "/api/v1/installations/{installation_id}/restore": {"post"},
        # customer management
        "/api/v1/custom-fields": {"get", "post"},
        "/api/v1/custom-fields/order": {"post"},
        "/api/v1/custom-fields/{field_id}": {"get", "patch", "delete"},
        "/api/v1/views": {"get", "post"},
        "/api/v1/views/{view_id}": {"get", "patch", "delete"},
        "/api/v1/views/contact/{key}/records": {"get"},
        "/api/v1/views/account/{key}/records": {"get"},
        "/api/v1/customer-imports": {"post"},
        "/api/v1/customer-imports/{import_id}": {"get", "patch"},
        "/api/v1/customer-imports/{import_id}/preview": {"get"},
        "/api/v1/customer-imports/{import_id}/start": {"post"},
        "/api/v1/customer-imports/{import_id}/rejected-rows": {"get"},
        "/api/v1/contacts/duplicates": {"get"},
        "/api/v1/contacts/{contact_id}/duplicates": {"get"},
        "/api/v1/contacts/merge": {"post"},
        "/api/v1/contacts/bulk-delete": {"post"},
        "/api/v1/contacts/{contact_id}/spam": {"post", "delete"},
        "/api/v1/accounts/duplicates": {"get"},
        "/api/v1/accounts/{account_id}/duplicates": {"get"},
        "/api/v1/accounts/merge": {"post"},
        "/api/v1/accounts/bulk-delete": {"post"},
        "/api/v1/accounts/{account_id}/spam": {"post", "delete"},
        "/api/v1/duplicate-rules": {"get", "put"},
        "/api/v1/contacts/{contact_id}/comments": {"get", "post"},
        "/api/v1/contacts/{contact_id}/comments/{comment_id}": {"patch", "delete"},
        "/api/v1/contacts/{contact_id}/follow": {"get", "put", "delete"},
        "/api/v1/contacts/{contact_id}/products": {"get"},
        "/api/v1/contacts/{contact_id}/products/{product_id}": {"put", "delete"},
        "/api/v1/accounts/{account_id}/comments": {"get", "post"},
        "/api/v1/accounts/{account_id}/comments/{comment_id}": {"patch", "delete"},
        "/api/v1/accounts/{account_id}/follow": {"get", "put", "delete"},
        "/api/v1/accounts/{account_id}/products": {"get"},
        "/api/v1/accounts/{account_id}/products/{product_id}": {"put", "delete"},
        "/api/v1/contacts/{contact_id}/history": {"get"},
        "/api/v1/contacts/{contact_id}/history/{entry_id}": {"get"},
        "/api/v1/accounts/{account_id}/history": {"get"},
        "/api/v1/accounts/{account_id}/history/{entry_id}": {"get"},
        "/api/v1/contacts/{contact_id}/reactions": {"get"},
        "/api/v1/contacts/{contact_id}/time-entries": {"get"},
        "/api/v1/contacts/{contact_id}/happiness": {"get"},
        "/api/v1/accounts/{account_id}/reactions": {"get"},
        "/api/v1/accounts/{account_id}/time-entries": {"get"},
        "/api/v1/accounts/{account_id}/happiness": {"get"},
        "/api/v1/contacts/{contact_id}/activities": {"get", "post"},
        "/api/v1/accounts/{account_id}/activities": {"get", "post"},
        "/api/v1/activities/{activity_id}": {"patch"},
        "/api/v1/contacts/{contact_id}/attachments": {"get", "post"},
        "/api/v1/accounts/{account_id}/attachments": {"get", "post"},
        "/api/v1/attachments/{attachment_id}": {"get", "delete"},
        "/api/v1/attachments/{attachment_id}/content": {"get"},
        "/api/v1/products": {"get", "post"},
        "/api/v1/products/{product_id}": {"get", "patch"},
        "/api/v1/accounts/{account_id}/contracts": {"get", "post"},
        "/api/v1/accounts/{account_id}/contracts/{contract_id}": {"get", "patch", "delete"},
        # knowledge base
        "/api/v1/kb/categories": {"get", "post"},
        "/api/v1/kb/categories/{category_id}": {"get", "patch", "delete"},
        "/api/v1/kb/articles": {"get", "post"},
        "/api/v1/kb/articles/{article_id}": {"get", "patch", "delete"},
        "/api/v1/contacts/export": {"get"},
        "/api/v1/accounts/export": {"get"},
        "/api/v1/audit": {"get"},
        "/api/v1/me/notifications": {"get"},
        "/api/v1/me/notifications/unread-count": {"get"},
        "/api/v1/me/notifications/{notification_id}/read": {"post"},
        "/api/v1/me/notifications/read-all": {"post"},
        "/api/v1/inbound/email": {"post"},
        "/api/v1/calls": {"post"},
        "/api/v1/spam/messages": {"get"},
        "/api/v1/spam/messages/{message_id}": {"get", "delete"},
        "/api/v1/spam/messages/{message_id}/release": {"post"},
        "/api/v1/spam/messages/{message_id}/block": {"post"},
        "/api/v1/spam/rules": {"get", "post"},
        "/api/v1/spam/rules/{rule_id}": {"patch", "delete"},
        "/api/v1/agents/{agent_id}/two-factor": {"get", "delete"},
        # The bundled Customer Insights' endpoints.
        "/api/v1/ext/customer_insights/{installation_id}/contacts/{contact_id}/figures": {"get"},
        "/api/v1/ext/customer_insights/{installation_id}/accounts/{account_id}/figures": {"get"},
        "/api/v1/ext/customer_insights/{installation_id}/contacts/{contact_id}/export.csv": {"get"},
        "/api/v1/ext/customer_insights/{installation_id}/accounts/{account_id}/export.csv": {"get"},
        "/api/v1/ext/customer_insights/{installation_id}/tickets/export.csv": {"get"},
        # The bundled IM Dashboard's.
        "/api/v1/ext/im_dashboard/{installation_id}/chats": {"get"},
        "/api/v1/ext/im_dashboard/{installation_id}/dashboard": {"get"},
        "/api/v1/ext/im_dashboard/{installation_id}/dashboard.csv": {"get"},
        "/api/v1/ext/im_dashboard/{installation_id}/chats/{chat_id}": {"get"},
        **{
            f"/api/v1/ext/im_dashboard/{{installation_id}}/chats/{{chat_id}}/{action}": {"post"}
            for action in ("assign", "accept", "messages", "end", "reopen", "convert")
        },
        "/api/v1/ext/im_dashboard/{installation_id}/chats/{chat_id}/messages/{message_id}/resend": {
            "post"
        },
        # The bundled SalesIQ's: the desk inside the chat window.
        **{
            f"/api/v1/ext/salesiq/{{installation_id}}{path}": {"get"}
            for path in ("/visitor", "/tickets/recent", "/tickets/search", "/options")
        },
        "/api/v1/ext/salesiq/{installation_id}/tickets/{ticket_id}": {"get"},
        "/api/v1/ext/salesiq/{installation_id}/tickets/{ticket_id}/status": {"post"},
        **{
            f"/api/v1/ext/salesiq/{{installation_id}}/chats/{{chat_id}}/{action}": {"post"}
            for action in ("convert", "merge", "absorb")
        },
    }
    methods = {"get", "post", "patch", "put", "delete"}
    found = {path: set(item) & methods for path, item in document["paths"].items()}
    assert found == expected


def test_document_declares_bearer_and_session_security_schemes(document: dict) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["sessionCookie"]["in"] == "cookie"
    assert schemes["csrfToken"] == {**schemes["csrfToken"], "in": "header", "name": "X-CSRFToken"}


def test_each_operation_names_the_scope_it_needs(document: dict) -> None:
    create = document["paths"]["/api/v1/tickets"]["post"]
    assert {"bearerAuth": [scopes.TICKETS_WRITE]} in create["security"]
    assert {"sessionCookie": [], "csrfToken": []} in create["security"]


def test_document_describes_the_error_format(document: dict) -> None:
    error = document["components"]["schemas"]["Error"]["properties"]
    assert {"code", "status", "message", "errors", "error", "scope"} <= set(error)


def test_document_is_a_valid_openapi_document(document: dict) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)
