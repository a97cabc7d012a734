"""Names of the domain events and what their payloads carry.

Every payload is JSON: ids are integers, times ISO 8601 strings in UTC.
"""

from __future__ import annotations

#: payload: ticket_id, number, department_id, contact_id, account_id, status, status_type,
#: channel, raised_by, created_at
TICKET_CREATED = "ticket.created"
#: payload: ticket_id, department_id, changes ({field: [before, after]}); a department move
#: carries both departments in the event's ``department_ids``
TICKET_UPDATED = "ticket.updated"
#: payload: ticket_id, department_id, contact_id, from_status, from_type, to_status, to_type,
#: changed_at
TICKET_STATUS_CHANGED = "ticket.status_changed"
#: payload: source_id, target_id, ticket_ids (both), department_id and contact_id (the
#: target's); the source's conversation moved to the target, the source closed (since 1.5)
TICKET_MERGED = "ticket.merged"
#: payload: ticket_id, thread_id, department_id, contact_id, kind, author_agent_id,
#: author_contact_id, created_at
THREAD_ADDED = "thread.added"
#: payload: ticket_id, rating_id, department_id, contact_id, rating, created_at
RATING_ADDED = "rating.added"
#: payload: ticket_id, time_entry_id, department_id, seconds, billable
TIME_ENTRY_ADDED = "time_entry.added"
#: payload: contact_id
CONTACT_CREATED = "contact.created"
#: payload: contact_id, changes ({field: [before, after]})
CONTACT_UPDATED = "contact.updated"
#: payload: contact_id (kept), merged_contact_ids (gone), ticket_ids (moved)
CONTACT_MERGED = "contact.merged"
#: payload: account_id
ACCOUNT_CREATED = "account.created"
#: payload: account_id, changes
ACCOUNT_UPDATED = "account.updated"
#: payload: account_id (kept), merged_account_ids (gone), contact_ids (moved), ticket_ids
#: (moved)
ACCOUNT_MERGED = "account.merged"
#: payload: contact_id, name, email (the deleted contact, for extensions to forget it)
CONTACT_DELETED = "contact.deleted"
#: payload: account_id, name
ACCOUNT_DELETED = "account.deleted"
#: payload: batch (number), ticket_ids (first and last id of the batch: [min, max]),
#: contact_ids ([min, max] or null), counts ({record type: n}); one per imported batch
HISTORY_IMPORTED = "history.imported"
#: payload: import_id, batch (number), created_ids, updated_ids (contacts of the batch),
#: created_account_ids (accounts the batch created by name), counts ({"created", "updated",
#: "unchanged", "rejected": n}); one per batch of a contact import, instead of
#: contact.created / contact.updated per record
CONTACTS_IMPORTED = "contact.imported"
#: payload: as ``contact.imported``, the ids being accounts'; one per batch of an account import
ACCOUNTS_IMPORTED = "account.imported"

#: payload: activity_id, kind, contact_id, account_id, ticket_id (a ticket's activity carries
#: its department in ``department_ids``)
ACTIVITY_CREATED = "activity.created"
#: payload: activity_id, changes
ACTIVITY_UPDATED = "activity.updated"
#: payload: attachment_id, ticket_id, contact_id, account_id, filename, size_bytes
ATTACHMENT_ADDED = "attachment.added"
#: payload: attachment_id, ticket_id, contact_id, account_id
ATTACHMENT_DELETED = "attachment.deleted"
#: payload: product_id
PRODUCT_CREATED = "product.created"
#: payload: product_id, contact_id, account_id, linked (true for link, false for unlink)
PRODUCT_LINKED = "product.linked"
#: payload: comment_id, contact_id, author_agent_id, mentioned_agent_ids, created_at
CONTACT_COMMENT_ADDED = "contact.comment_added"
#: payload: comment_id, contact_id, author_agent_id, mentioned_agent_ids,
#: changes ({"body": [before, after]}), updated_at
CONTACT_COMMENT_UPDATED = "contact.comment_updated"
#: payload: comment_id, contact_id, author_agent_id, mentioned_agent_ids
CONTACT_COMMENT_DELETED = "contact.comment_deleted"
#: payload: comment_id, account_id, author_agent_id, mentioned_agent_ids, created_at
ACCOUNT_COMMENT_ADDED = "account.comment_added"
#: payload: comment_id, account_id, author_agent_id, mentioned_agent_ids,
#: changes ({"body": [before, after]}), updated_at
ACCOUNT_COMMENT_UPDATED = "account.comment_updated"
#: payload: comment_id, account_id, author_agent_id, mentioned_agent_ids
ACCOUNT_COMMENT_DELETED = "account.comment_deleted"
#: payload: department_id
DEPARTMENT_CREATED = "department.created"
#: payload: department_id, changes
DEPARTMENT_UPDATED = "department.updated"
#: payload: profile_id
PROFILE_CREATED = "profile.created"
#: payload: profile_id, changes
PROFILE_UPDATED = "profile.updated"
#: payload: agent_id
AGENT_CREATED = "agent.created"
#: payload: agent_id, changes (a password change carries ``{"password": null}``)
AGENT_UPDATED = "agent.updated"
#: payload: changes
ORGANISATION_UPDATED = "organisation.updated"
#: payload: ticket_id, department_id, target ("first_response" or "resolution"), due_at,
#: breached_at; once per target and due time (since 1.1)
TICKET_SLA_BREACHED = "ticket.sla_breached"
#: payload: product_id, changes (since 1.1)
PRODUCT_UPDATED = "product.updated"
#: payload: profile_id, name (since 1.1)
PROFILE_DELETED = "profile.deleted"
#: payload: status_id (since 1.1)
STATUS_CREATED = "status.created"
#: payload: status_id, changes (since 1.1)
STATUS_UPDATED = "status.updated"
#: payload: status_id, name, status_type, tickets_moved_to (the built-in status its tickets
#: were moved to first, each with a ``ticket.status_changed``); the host removes a status when
#: it purges the installation whose extension declared it (since 1.6)
STATUS_DELETED = "status.deleted"
#: payload: department_id, changes; business hours, holidays or 24x7 changed (since 1.1)
BUSINESS_HOURS_UPDATED = "business_hours.updated"
#: payload: sla_policy_id (since 1.1)
SLA_POLICY_CREATED = "sla_policy.created"
#: payload: sla_policy_id, changes (since 1.1)
SLA_POLICY_UPDATED = "sla_policy.updated"

#: Events about tickets and what hangs off them (threads, ratings, time entries, SLA breaches,
#: imported history).
TICKET_EVENTS = frozenset(
    {
        TICKET_CREATED,
        TICKET_UPDATED,
        TICKET_STATUS_CHANGED,
        TICKET_MERGED,
        THREAD_ADDED,
        RATING_ADDED,
        TIME_ENTRY_ADDED,
        HISTORY_IMPORTED,
        TICKET_SLA_BREACHED,
    }
)
#: Events about contacts and accounts and what hangs off them (comments, activities,
#: attachments, products, imports). Organisation-wide: they reach installations holding the
#: contacts or accounts read scope, which is why comment and import events are named under
#: ``contact.`` and ``account.``.
CUSTOMER_EVENTS = frozenset(
    {
        CONTACT_CREATED,
        CONTACT_UPDATED,
        CONTACT_MERGED,
        CONTACT_DELETED,
        CONTACTS_IMPORTED,
        CONTACT_COMMENT_ADDED,
        CONTACT_COMMENT_UPDATED,
        CONTACT_COMMENT_DELETED,
        ACCOUNT_CREATED,
        ACCOUNT_UPDATED,
        ACCOUNT_MERGED,
        ACCOUNT_DELETED,
        ACCOUNTS_IMPORTED,
        ACCOUNT_COMMENT_ADDED,
        ACCOUNT_COMMENT_UPDATED,
        ACCOUNT_COMMENT_DELETED,
        ACTIVITY_CREATED,
        ACTIVITY_UPDATED,
        ATTACHMENT_ADDED,
        ATTACHMENT_DELETED,
        PRODUCT_CREATED,
        PRODUCT_UPDATED,
        PRODUCT_LINKED,
    }
)
#: Events about the desk's setup: departments, permission profiles, agents, the organisation,
#: statuses, business hours and SLA policies.
SETUP_EVENTS = frozenset(
    {
        DEPARTMENT_CREATED,
        DEPARTMENT_UPDATED,
        PROFILE_CREATED,
        PROFILE_UPDATED,
        PROFILE_DELETED,
        AGENT_CREATED,
        AGENT_UPDATED,
        ORGANISATION_UPDATED,
        STATUS_CREATED,
        STATUS_UPDATED,
        STATUS_DELETED,
        BUSINESS_HOURS_UPDATED,
        SLA_POLICY_CREATED,
        SLA_POLICY_UPDATED,
    }
)
#: Every event name.
ALL_EVENTS = TICKET_EVENTS | CUSTOMER_EVENTS | SETUP_EVENTS
