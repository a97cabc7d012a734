"""The permission catalogue: what a permission profile can grant.

Extensions add their own through ``deskhost_permissions`` (names prefixed with their id); the
catalogue a profile editor shows is this list plus those.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PermissionInfo:
    """A permission with its labels in English and Japanese."""

    name: str
    label: str
    label_ja: str


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

CATALOGUE: tuple[PermissionInfo, ...] = (
    PermissionInfo(TICKET_VIEW, "View tickets", "問い合わせの表示"),
    PermissionInfo(TICKET_CREATE, "Create tickets", "問い合わせの作成"),
    PermissionInfo(TICKET_EDIT, "Edit tickets", "問い合わせの編集"),
    PermissionInfo(TICKET_REPLY, "Reply to customers", "顧客への返信"),
    PermissionInfo(TICKET_COMMENT, "Add internal comments", "社内コメントの追加"),
    PermissionInfo(TICKET_CHANGE_STATUS, "Change ticket status", "ステータスの変更"),
    PermissionInfo(TICKET_ASSIGN, "Assign tickets", "問い合わせの割り当て"),
    PermissionInfo(TICKET_DELETE, "Delete tickets", "問い合わせの削除"),
    PermissionInfo(TICKET_LOG_TIME, "Log time entries", "工数の記録"),
    PermissionInfo(CONTACT_VIEW, "View contacts", "連絡先の表示"),
    PermissionInfo(CONTACT_CREATE, "Create contacts", "連絡先の作成"),
    PermissionInfo(CONTACT_EDIT, "Edit contacts", "連絡先の編集"),
    PermissionInfo(CONTACT_DELETE, "Delete contacts", "連絡先の削除"),
    PermissionInfo(CONTACT_MERGE, "Merge duplicate contacts", "重複した連絡先の統合"),
    PermissionInfo(CONTACT_EXPORT, "Export contacts", "連絡先のエクスポート"),
    PermissionInfo(ACCOUNT_VIEW, "View accounts", "取引先の表示"),
    PermissionInfo(ACCOUNT_CREATE, "Create accounts", "取引先の作成"),
    PermissionInfo(ACCOUNT_EDIT, "Edit accounts", "取引先の編集"),
    PermissionInfo(ACCOUNT_DELETE, "Delete accounts", "取引先の削除"),
    PermissionInfo(ACCOUNT_MERGE, "Merge duplicate accounts", "重複した取引先の統合"),
    PermissionInfo(ACCOUNT_EXPORT, "Export accounts", "取引先のエクスポート"),
    PermissionInfo(ACTIVITY_MANAGE, "Manage calls, events and tasks", "通話・予定・タスクの管理"),
    PermissionInfo(PRODUCT_MANAGE, "Manage products", "商品の管理"),
    PermissionInfo(ATTACHMENT_MANAGE, "Upload and delete attachments", "添付ファイルの管理"),
    PermissionInfo(KB_VIEW, "View knowledge base", "ナレッジベースの表示"),
    PermissionInfo(KB_MANAGE, "Manage knowledge base", "ナレッジベースの管理"),
    PermissionInfo(HISTORY_VIEW, "View customer history", "履歴の表示"),
    PermissionInfo(AUDIT_VIEW, "View the audit log", "監査ログの表示"),
    PermissionInfo(IMPORT_RUN, "Import data", "データのインポート"),
    PermissionInfo(MARKETPLACE_MANAGE, "Manage marketplace extensions", "マーケットプレイスの管理"),
    PermissionInfo(SETUP_MANAGE, "Manage settings", "設定の管理"),
    PermissionInfo(AGENT_MANAGE, "Manage agents and profiles", "担当者と権限の管理"),
    PermissionInfo(SPAM_MANAGE, "Review the spam list", "迷惑メッセージの確認"),
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
