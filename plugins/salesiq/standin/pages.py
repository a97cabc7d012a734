"""The one HTML page: what has arrived, for a person watching a demo."""

from __future__ import annotations

from flask import Blueprint, render_template_string

from .state import current_state

blueprint = Blueprint("pages", __name__)

# A string template keeps the package free of data files; Flask autoescapes it all the same.
OVERVIEW = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Chat product stand-in: {{ state.portal }}</title></head>
<body>
<h1>Chat product stand-in, portal <code>{{ state.portal }}</code></h1>
<p>Desk link:
{% if state.desk_tokens %}linked
{% elif state.desk_integration %}registered, not linked:
<a href="{{ url_for('desk_oauth.connect') }}">link the desk</a>
{% else %}no desk registered{% endif %}</p>

<h2>Departments</h2>
{% if state.departments %}
<ul>{% for department in state.departments %}
<li>{{ department.name }} <small>({{ department.id }})</small></li>{% endfor %}
</ul>
{% else %}<p>No departments.</p>{% endif %}

<h2>Conversations</h2>
{% if state.conversations %}
<table>
<thead><tr><th>Id</th><th>Visitor</th><th>Question</th><th>Status</th><th>Messages</th></tr></thead>
<tbody>{% for chat in state.conversations %}
<tr><td>{{ chat.id }}</td><td>{{ chat.visitor.name }} {{ chat.visitor.email }}</td>
<td>{{ chat.question }}</td><td>{{ chat.status }}</td><td>{{ chat.messages | length }}</td></tr>
{% endfor %}</tbody>
</table>
{% else %}<p>No conversations.</p>{% endif %}

<h2>Articles</h2>
{% if state.articles %}
<table>
<thead><tr><th>Title</th><th>Status</th><th>Visibility</th><th>Source</th></tr></thead>
<tbody>{% for article in state.articles %}
<tr><td>{{ article.title }}</td><td>{{ article.status }}</td><td>{{ article.visibility }}</td>
<td>{% if article.synced %}synced from the desk (read-only){% else %}written here{% endif %}</td>
</tr>{% endfor %}</tbody>
</table>
{% else %}<p>No articles.</p>{% endif %}

<h2>Webhook deliveries</h2>
<p>{{ state.deliveries | length }} sent.</p>
</body>
</html>
"""


@blueprint.get("/")
def overview() -> str:
    """Departments, conversations and articles, synced articles marked read-only."""
    return render_template_string(OVERVIEW, state=current_state().snapshot())
