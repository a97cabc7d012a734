"""The agents' web UI: sign-in, tickets, contacts and accounts, with the extension areas."""

from __future__ import annotations

from flask import Flask, current_app, redirect, url_for
from werkzeug.wrappers import Response

from core.names import family_name_first
from core.plugins import requirements
from core.web.database import db_session
from core.web.ui import (
    activities,
    admin,
    agents_admin,
    attachments,
    audit,
    auth,
    collaboration,
    customer_export,
    customers,
    duplicates,
    errors,
    fields_admin,
    knowledge_base,
    labels,
    password,
    products_admin,
    settings,
    setup,
    sla_admin,
    tickets,
    two_factor,
)
from core.web.ui import customer_import as customer_import_ui
from core.web.ui import intake as intake_ui


def init_app(app: Flask) -> None:
    """Register the UI's blueprints, error pages and template helpers."""
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(tickets.blueprint)
    app.register_blueprint(customers.blueprint)
    app.register_blueprint(customer_import_ui.blueprint)
    app.register_blueprint(duplicates.blueprint)
    app.register_blueprint(fields_admin.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(settings.blueprint)
    app.register_blueprint(setup.blueprint)
    app.register_blueprint(collaboration.blueprint)
    app.register_blueprint(intake_ui.blueprint)
    app.register_blueprint(two_factor.blueprint)
    app.register_blueprint(agents_admin.blueprint)
    app.register_blueprint(password.blueprint)
    app.register_blueprint(sla_admin.blueprint)
    app.register_blueprint(products_admin.blueprint)
    app.register_blueprint(audit.blueprint)
    app.register_blueprint(customer_export.blueprint)
    app.register_blueprint(activities.blueprint)
    app.register_blueprint(attachments.blueprint)
    app.register_blueprint(knowledge_base.blueprint)
    errors.init_app(app)
    # Also a filter, for a list of messages: ``messages | map('message_text') | join(' ')``.
    app.jinja_env.filters["message_text"] = labels.message_text
    app.jinja_env.globals.update(
        status_label=lambda code: labels.label(labels.STATUSES, code),
        status_type_label=lambda code: labels.label(labels.STATUS_TYPES, code),
        priority_label=lambda code: labels.label(labels.PRIORITIES, code),
        channel_label=lambda code: labels.label(labels.CHANNELS, code),
        thread_kind_label=lambda code: labels.label(labels.THREAD_KINDS, code),
        view_label=lambda text: labels.label(labels.VIEW_LABELS, text),
        article_status_label=lambda code: labels.label(labels.ARTICLE_STATUSES, code),
        article_visibility_label=lambda code: labels.label(labels.ARTICLE_VISIBILITIES, code),
        field_type_label=lambda code: labels.label(labels.FIELD_TYPES, code),
        spam_rule_kind_label=lambda code: labels.label(labels.SPAM_RULE_KINDS, code),
        added_by=_added_by,
        message_text=labels.message_text,
        name_orders=labels.NAME_ORDERS,
        family_name_first=family_name_first,
    )

    @app.get("/")
    def home() -> Response:
        """The desk opens on the ticket list."""
        return redirect(url_for("tickets.index"))

    @app.get("/favicon.ico")
    def favicon() -> Response:
        """Browsers that ask for /favicon.ico unprompted get the SVG icon the pages link to."""
        return redirect(url_for("static", filename="favicon.svg"), 301)


def _added_by(installation_id: int | None) -> str:
    """The name of the extension whose installation added a field, view, rule or status ("" for
    one an admin or agent made)."""
    plugins = current_app.extensions["deskhost.host"].plugins
    return requirements.owner_name(db_session(), plugins, installation_id)
