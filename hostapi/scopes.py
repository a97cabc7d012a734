"""The OAuth scope vocabulary extensions request and tokens carry."""

from __future__ import annotations

#: Read tickets, their status history and ratings.
TICKETS_READ = "desk.tickets.read"
#: Create tickets, change their status, link them to customers.
TICKETS_WRITE = "desk.tickets.write"
#: Read ticket conversations.
THREADS_READ = "desk.threads.read"
#: Add replies and comments.
THREADS_WRITE = "desk.threads.write"
#: Read contacts; receive contact, activity, attachment and product events.
CONTACTS_READ = "desk.contacts.read"
#: Create and update contacts.
CONTACTS_WRITE = "desk.contacts.write"
#: Read accounts; receive account events.
ACCOUNTS_READ = "desk.accounts.read"
#: Create and update accounts.
ACCOUNTS_WRITE = "desk.accounts.write"
#: Read knowledge-base articles.
KB_READ = "desk.kb.read"
#: Create and update knowledge-base articles.
KB_WRITE = "desk.kb.write"
#: Read desk settings; receive department, profile, organisation, status, SLA-policy and
#: business-hours events.
SETTINGS_READ = "desk.settings.read"
#: Read agents; receive agent events.
AGENTS_READ = "desk.agents.read"

#: Every scope with its description (English, Japanese), shown on the consent page.
ALL: dict[str, tuple[str, str]] = {
    TICKETS_READ: ("Read tickets", "問い合わせの参照"),
    TICKETS_WRITE: ("Create and update tickets", "問い合わせの作成と更新"),
    THREADS_READ: ("Read ticket conversations", "問い合わせのスレッドの参照"),
    THREADS_WRITE: ("Add replies and comments", "返信とコメントの追加"),
    CONTACTS_READ: ("Read contacts", "連絡先の参照"),
    CONTACTS_WRITE: ("Create and update contacts", "連絡先の作成と更新"),
    ACCOUNTS_READ: ("Read accounts", "取引先の参照"),
    ACCOUNTS_WRITE: ("Create and update accounts", "取引先の作成と更新"),
    KB_READ: ("Read knowledge-base articles", "ナレッジベースの記事の参照"),
    KB_WRITE: ("Create and update knowledge-base articles", "ナレッジベースの記事の作成と更新"),
    SETTINGS_READ: ("Read desk settings", "設定の参照"),
    AGENTS_READ: ("Read agents", "担当者の参照"),
}
