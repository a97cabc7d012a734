"""The permission catalogue: what a permission profile can grant.

Extensions add their own through ``deskhost_permissions`` (names prefixed with their id); the
catalogue a profile editor shows is this list plus those.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PermissionInfo:
    """A permission with its labels and a one-line description, in English and Japanese."""

    name: str
    label: str
    label_ja: str
    description: str = ""
    description_ja: str = ""

    @property
    def area(self) -> str:
        """The part of the desk the permission is about (one of :data:`AREAS`)."""
        return _AREA_OF_PREFIX.get(self.name.split(".", 1)[0], "administration")


#: The area of each permission name's prefix; anything else is administration.
_AREA_OF_PREFIX: dict[str, str] = {
    "ticket": "tickets",
    "contact": "contacts",
    "account": "accounts",
    "activity": "customer_work",
    "attachment": "customer_work",
    "history": "customer_work",
    "product": "customer_work",
    "kb": "knowledge_base",
}

TICKET_VIEW = "ticket.view"
TICKET_CREATE = "ticket.create"
TICKET_EDIT = "ticket.edit"
TICKET_REPLY = "ticket.reply"
TICKET_COMMENT = "ticket.comment"
TICKET_CHANGE_STATUS = "ticket.change_status"
TICKET_ASSIGN = "ticket.assign"
TICKET_DELETE = "ticket.delete"
TICKET_LOG_TIME = "ticket.log_time"
CONTACT_VIEW = "contact.view"
CONTACT_CREATE = "contact.create"
CONTACT_EDIT = "contact.edit"
CONTACT_DELETE = "contact.delete"
CONTACT_MERGE = "contact.merge"
CONTACT_EXPORT = "contact.export"
ACCOUNT_VIEW = "account.view"
ACCOUNT_CREATE = "account.create"
ACCOUNT_EDIT = "account.edit"
ACCOUNT_DELETE = "account.delete"
ACCOUNT_MERGE = "account.merge"
ACCOUNT_EXPORT = "account.export"
ACTIVITY_MANAGE = "activity.manage"
PRODUCT_MANAGE = "product.manage"
ATTACHMENT_MANAGE = "attachment.manage"
KB_VIEW = "kb.view"
KB_MANAGE = "kb.manage"
HISTORY_VIEW = "history.view"
AUDIT_VIEW = "audit.view"
IMPORT_RUN = "import.run"
MARKETPLACE_MANAGE = "marketplace.manage"
SETUP_MANAGE = "setup.manage"
AGENT_MANAGE = "agent.manage"
SPAM_MANAGE = "spam.manage"

_P = PermissionInfo
CATALOGUE: tuple[PermissionInfo, ...] = (
    _P(
        TICKET_VIEW,
        "View tickets",
        "問い合わせの表示",
        "See the tickets of the agent's departments and their conversations.",
        "所属部署の問い合わせとそのやり取りを表示します。",
    ),
    _P(
        TICKET_CREATE,
        "Create tickets",
        "問い合わせの作成",
        "Open a ticket on a customer's behalf.",
        "顧客に代わって問い合わせを作成します。",
    ),
    _P(
        TICKET_EDIT,
        "Edit tickets",
        "問い合わせの編集",
        "Change a ticket's subject, priority, due date, contact and department.",
        "件名・優先度・期限・連絡先・部署を変更します。",
    ),
    _P(
        TICKET_REPLY,
        "Reply to customers",
        "顧客への返信",
        "Send replies the customer receives.",
        "顧客に届く返信を送信します。",
    ),
    _P(
        TICKET_COMMENT,
        "Add internal comments",
        "社内コメントの追加",
        "Write comments only agents see, and mention colleagues.",
        "担当者だけが見るコメントを書き、同僚をメンションします。",
    ),
    _P(
        TICKET_CHANGE_STATUS,
        "Change ticket status",
        "ステータスの変更",
        "Move tickets between statuses, including closing and reopening them.",
        "問い合わせのステータスを変更します(クローズと再オープンを含む)。",
    ),
    _P(
        TICKET_ASSIGN,
        "Assign tickets",
        "問い合わせの割り当て",
        "Give a ticket to an agent of its department, or take it.",
        "問い合わせを部署の担当者に割り当てます。",
    ),
    _P(
        TICKET_DELETE,
        "Delete tickets",
        "問い合わせの削除",
        "Remove tickets with their conversations for good.",
        "問い合わせをやり取りごと完全に削除します。",
    ),
    _P(
        TICKET_LOG_TIME,
        "Log time entries",
        "工数の記録",
        "Record time spent on a ticket.",
        "問い合わせに費やした時間を記録します。",
    ),
    _P(
        CONTACT_VIEW,
        "View contacts",
        "連絡先の表示",
        "See customers' contact records and their history.",
        "顧客の連絡先と履歴を表示します。",
    ),
    _P(
        CONTACT_CREATE,
        "Create contacts",
        "連絡先の作成",
        "Add contact records.",
        "連絡先を追加します。",
    ),
    _P(
        CONTACT_EDIT,
        "Edit contacts",
        "連絡先の編集",
        "Change contacts' details and custom fields.",
        "連絡先の情報とカスタム項目を変更します。",
    ),
    _P(
        CONTACT_DELETE,
        "Delete contacts",
        "連絡先の削除",
        "Remove contact records.",
        "連絡先を削除します。",
    ),
    _P(
        CONTACT_MERGE,
        "Merge duplicate contacts",
        "重複した連絡先の統合",
        "Combine duplicate contacts into one record.",
        "重複した連絡先を1件にまとめます。",
    ),
    _P(
        CONTACT_EXPORT,
        "Export contacts",
        "連絡先のエクスポート",
        "Download a list of contacts, with their custom fields, as CSV or Excel.",
        "連絡先の一覧をカスタム項目ごと CSV または Excel でダウンロードします。",
    ),
    _P(
        ACCOUNT_VIEW,
        "View accounts",
        "取引先の表示",
        "See customer companies and their contacts.",
        "取引先企業とその連絡先を表示します。",
    ),
    _P(
        ACCOUNT_CREATE,
        "Create accounts",
        "取引先の作成",
        "Add customer companies.",
        "取引先を追加します。",
    ),
    _P(
        ACCOUNT_EDIT,
        "Edit accounts",
        "取引先の編集",
        "Change accounts' details and custom fields.",
        "取引先の情報とカスタム項目を変更します。",
    ),
    _P(
        ACCOUNT_DELETE,
        "Delete accounts",
        "取引先の削除",
        "Remove accounts.",
        "取引先を削除します。",
    ),
    _P(
        ACCOUNT_MERGE,
        "Merge duplicate accounts",
        "重複した取引先の統合",
        "Combine duplicate accounts into one record.",
        "重複した取引先を1件にまとめます。",
    ),
    _P(
        ACCOUNT_EXPORT,
        "Export accounts",
        "取引先のエクスポート",
        "Download a list of accounts, with their custom fields, as CSV or Excel.",
        "取引先の一覧をカスタム項目ごと CSV または Excel でダウンロードします。",
    ),
    _P(
        ACTIVITY_MANAGE,
        "Manage calls, events and tasks",
        "通話・予定・タスクの管理",
        "Log calls and plan events and tasks on customers and tickets.",
        "顧客や問い合わせに通話・予定・タスクを記録します。",
    ),
    _P(
        PRODUCT_MANAGE,
        "Manage products",
        "商品の管理",
        "Create, edit and retire products, and link them to customers.",
        "商品を作成・編集・停止し、顧客に紐付けます。",
    ),
    _P(
        ATTACHMENT_MANAGE,
        "Upload and delete attachments",
        "添付ファイルの管理",
        "Attach files to tickets and customers, and remove them.",
        "問い合わせや顧客にファイルを添付・削除します。",
    ),
    _P(
        KB_VIEW,
        "View knowledge base",
        "ナレッジベースの表示",
        "Read knowledge-base articles.",
        "ナレッジベースの記事を閲覧します。",
    ),
    _P(
        KB_MANAGE,
        "Manage knowledge base",
        "ナレッジベースの管理",
        "Write, edit and publish knowledge-base articles.",
        "ナレッジベースの記事を作成・編集・公開します。",
    ),
    _P(
        HISTORY_VIEW,
        "View customer history",
        "履歴の表示",
        "See the History tab of contacts and accounts: who changed their data, when and how.",
        "連絡先と取引先の履歴タブで、誰が・いつ・どのようにデータを変更したかを表示します。",
    ),
    _P(
        AUDIT_VIEW,
        "View the audit log",
        "監査ログの表示",
        "See who changed what, when and from where, across the organisation.",
        "組織全体で、誰が・いつ・どこから・何を変更したかを表示します。",
    ),
    _P(
        IMPORT_RUN,
        "Import data",
        "データのインポート",
        "Load customers and history from files.",
        "ファイルから顧客と履歴を取り込みます。",
    ),
    _P(
        MARKETPLACE_MANAGE,
        "Manage marketplace extensions",
        "マーケットプレイスの管理",
        "Install, configure and remove extensions.",
        "拡張機能をインストール・設定・削除します。",
    ),
    _P(
        SETUP_MANAGE,
        "Manage settings",
        "設定の管理",
        "Change the organisation, departments, statuses, custom fields and rules.",
        "組織・部署・ステータス・カスタム項目・ルールを変更します。",
    ),
    _P(
        AGENT_MANAGE,
        "Manage agents and profiles",
        "担当者と権限の管理",
        "Add and deactivate agents, and edit permission profiles.",
        "担当者の追加・無効化と権限プロファイルの編集を行います。",
    ),
    _P(
        SPAM_MANAGE,
        "Review the spam list",
        "迷惑メッセージの確認",
        "Release or discard messages held as spam.",
        "迷惑メッセージとして保留されたメッセージを解放または破棄します。",
    ),
)

#: The areas of the catalogue in the order a profile editor shows them.
AREAS: tuple[str, ...] = (
    "tickets",
    "contacts",
    "accounts",
    "customer_work",
    "knowledge_base",
    "administration",
)

ALL_NAMES: frozenset[str] = frozenset(p.name for p in CATALOGUE)

#: The profiles a new deskhost starts with (the administrator profile holds everything).
DEFAULT_PROFILES: dict[str, frozenset[str]] = {
    "Administrator": ALL_NAMES,
    "Support Manager": ALL_NAMES
    - {MARKETPLACE_MANAGE, SETUP_MANAGE, AGENT_MANAGE, IMPORT_RUN, AUDIT_VIEW},
    "Agent": frozenset(
        {
            TICKET_VIEW,
            TICKET_CREATE,
            TICKET_EDIT,
            TICKET_REPLY,
            TICKET_COMMENT,
            TICKET_CHANGE_STATUS,
            TICKET_ASSIGN,
            TICKET_LOG_TIME,
            CONTACT_VIEW,
            CONTACT_CREATE,
            CONTACT_EDIT,
            ACCOUNT_VIEW,
            ACTIVITY_MANAGE,
            ATTACHMENT_MANAGE,
            KB_VIEW,
        }
    ),
    "Light Agent": frozenset({TICKET_VIEW, TICKET_COMMENT, CONTACT_VIEW, ACCOUNT_VIEW, KB_VIEW}),
}
