"""IM Dashboard's Channels pages: an admin connects WhatsApp, Telegram, LINE and WeChat
accounts, each mapped to a department, with credentials kept encrypted and shown back only
masked; bad input is refused naming the field and writes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department, Installation, InstallationStorage
from core.models.org import ProfilePermission
from plugins.im_dashboard.models import ChannelAccount
from plugins.im_dashboard.pages import MANAGE_CHANNELS
from tests.factories import install_for

pytest_plugins = ["tests.api_fixtures"]

PLUGIN = "im_dashboard"
LINE_SECRET = "0123456789abcdef0123456789abcdef"
LINE_TOKEN = "line-long-lived-access-token-7d3e"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def installation(db: Session, host: Host, department: Department) -> Installation:
    """IM Dashboard installed for Support."""
    installed = install_for(db, host, PLUGIN, [department.id])
    db.commit()
    return installed


@pytest.fixture
def channels_url(installation: Installation) -> str:
    """The Channels list of the installation."""
    return f"/ext/im_dashboard/{installation.id}/channels/"


@pytest.fixture
def token(sign_in_as: Callable[[Agent], dict[str, str]], admin_agent: Agent) -> str:
    """The CSRF token of the administrator, signed in."""
    return sign_in_as(admin_agent)["X-CSRFToken"]


def _connect_line(client: FlaskClient, url: str, token: str, department: Department, **changes):  # type: ignore[no-untyped-def]
    form = {
        "csrf_token": token,
        "name": "LINE official account",
        "department_id": str(department.id),
        "channel_secret": LINE_SECRET,
        "channel_access_token": LINE_TOKEN,
        **changes,
    }
    return client.post(f"{url}new/line", data=form)


def _secrets(db: Session) -> list[str]:
    db.rollback()
    rows = db.scalars(select(InstallationStorage).where(InstallationStorage.is_secret))
    return [str(row.value) for row in rows]


def _accounts(db: Session) -> list[ChannelAccount]:
    """The accounts of the test's installation (others' are a former test's)."""
    db.rollback()  # a new snapshot: the app committed in another session
    installation_id = db.scalar(select(Installation.id).where(Installation.plugin_id == PLUGIN))
    return list(
        db.scalars(select(ChannelAccount).where(ChannelAccount.installation_id == installation_id))
    )


def _only_account(db: Session) -> ChannelAccount:
    (account,) = _accounts(db)
    return account


# ------------------------------------------------------------------------------ the list


def test_an_admin_finds_the_page_in_the_navigation_with_a_button_per_channel(
    client: FlaskClient, token: str, channels_url: str
) -> None:
    tickets = client.get("/tickets").get_data(as_text=True)
    page = client.get(channels_url).get_data(as_text=True)

    assert re.search(rf'<a href="{channels_url}"[^>]*data-extension-menu>IM channels</a>', tickets)
    assert "No channel is connected yet." in page
    assert re.findall(r'data-connect="(\w+)"', page) == ["whatsapp", "telegram", "line", "wechat"]


def test_the_page_speaks_japanese(
    client: FlaskClient, db: Session, token: str, channels_url: str, admin_agent: Agent
) -> None:
    admin_agent.locale = "ja"
    db.commit()

    page = client.get(channels_url).get_data(as_text=True)

    assert "<title>IMチャネル · deskhost</title>" in page
    assert "接続されているチャネルはまだありません。" in page
    assert "LINE を接続" in page


# ------------------------------------------------------------------------------ connecting


def test_connecting_a_line_channel_keeps_its_credentials_encrypted_and_shows_them_masked(
    client: FlaskClient, db: Session, token: str, channels_url: str, department: Department
) -> None:
    answer = _connect_line(client, channels_url, token, department)

    assert (answer.status_code, answer.headers["Location"]) == (303, channels_url)
    account = _only_account(db)
    assert (account.kind, account.name, account.department_id) == (
        "line",
        "LINE official account",
        department.id,
    )
    stored = _secrets(db)
    assert len(stored) == 2 and not any(LINE_SECRET in s or LINE_TOKEN in s for s in stored)
    page = client.get(channels_url).get_data(as_text=True)
    assert LINE_SECRET not in page and LINE_TOKEN not in page
    assert 'data-credential="channel_secret">••••cdef<' in page
    assert 'data-credential="channel_access_token">••••7d3e<' in page


def test_a_secret_left_blank_that_we_may_choose_is_made_and_shown_once(
    client: FlaskClient, db: Session, token: str, channels_url: str, department: Department
) -> None:
    answer = client.post(
        f"{channels_url}new/telegram",
        data={
            "csrf_token": token,
            "name": "Support bot",
            "department_id": str(department.id),
            "bot_token": TELEGRAM_TOKEN,
            "secret_token": "",
        },
    )

    made = re.search(r'data-generated="secret_token">([^<]+)<', answer.get_data(as_text=True))
    assert answer.status_code == 200 and made is not None
    assert re.fullmatch(r"[A-Za-z0-9_\-]{32}", made.group(1))
    assert made.group(1) not in client.get(channels_url).get_data(as_text=True)


def test_whatsapp_keeps_its_phone_number_id_as_an_identifier_shown_in_full(
    client: FlaskClient, db: Session, token: str, channels_url: str, department: Department
) -> None:
    client.post(
        f"{channels_url}new/whatsapp",
        data={
            "csrf_token": token,
            "name": "+81 3 1234 5678",
            "department_id": str(department.id),
            "phone_number_id": "106540352242922",
            "access_token": "EAAG" + "x" * 40,
            "app_secret": LINE_SECRET,
            "verify_token": "my-verify-token",
        },
    )

    account = _only_account(db)
    assert account.identifiers == {"phone_number_id": "106540352242922"}
    page = client.get(channels_url).get_data(as_text=True)
    assert 'data-credential="phone_number_id">106540352242922<' in page
    assert 'data-credential="verify_token">••••oken<' in page


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"department_id": "999999"}, "department_id"),
        ({"department_id": "Support"}, "department_id"),
        ({"channel_secret": "not-hex"}, "channel_secret"),
        ({"channel_access_token": ""}, "channel_access_token"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    client: FlaskClient,
    db: Session,
    token: str,
    channels_url: str,
    department: Department,
    changes: dict[str, str],
    field: str,
) -> None:
    answer = _connect_line(client, channels_url, token, department, **changes)

    assert answer.status_code == 422
    assert re.findall(r'data-error-for="(\w+)"', answer.get_data(as_text=True)) == [field]
    assert (_accounts(db), _secrets(db)) == ([], [])


def test_two_accounts_may_not_share_a_name(
    client: FlaskClient, db: Session, token: str, channels_url: str, department: Department
) -> None:
    _connect_line(client, channels_url, token, department)

    answer = _connect_line(client, channels_url, token, department)

    assert answer.status_code == 422
    assert "Another channel account has this name." in answer.get_data(as_text=True)
    assert len(_accounts(db)) == 1


def test_an_unknown_channel_answers_404(client: FlaskClient, token: str, channels_url: str) -> None:
    assert client.get(f"{channels_url}new/icq").status_code == 404


# ------------------------------------------------------------------------------ changing


def test_editing_keeps_a_secret_left_blank_and_replaces_one_given(
    client: FlaskClient, db: Session, token: str, channels_url: str, department: Department
) -> None:
    _connect_line(client, channels_url, token, department)
    account = _only_account(db)
    form = client.get(f"{channels_url}{account.id}").get_data(as_text=True)
    assert 'data-hint="channel_secret">Stored: ••••cdef.' in form

    answer = client.post(
        f"{channels_url}{account.id}",
        data={
            "csrf_token": token,
            "name": "LINE (Tokyo)",
            "department_id": str(department.id),
            "channel_secret": "",
            "channel_access_token": "a-brand-new-channel-access-token-9f9f",
        },
    )

    assert answer.status_code == 303
    page = client.get(channels_url).get_data(as_text=True)
    assert "LINE (Tokyo)" in page
    assert 'data-credential="channel_secret">••••cdef<' in page
    assert 'data-credential="channel_access_token">••••9f9f<' in page


def test_a_bad_edit_changes_nothing(
    client: FlaskClient, db: Session, token: str, channels_url: str, department: Department
) -> None:
    _connect_line(client, channels_url, token, department)
    account = _only_account(db)
    before = _secrets(db)

    answer = client.post(
        f"{channels_url}{account.id}",
        data={
            "csrf_token": token,
            "name": "Renamed",
            "department_id": str(department.id),
            "channel_secret": "zz",
        },
    )

    assert answer.status_code == 422
    db.rollback()
    assert db.get(ChannelAccount, account.id).name == "LINE official account"
    assert _secrets(db) == before


def test_disconnecting_deletes_the_account_and_its_credentials(
    client: FlaskClient, db: Session, token: str, channels_url: str, department: Department
) -> None:
    _connect_line(client, channels_url, token, department)
    account = _only_account(db)
    confirm = client.get(f"{channels_url}{account.id}/remove")
    assert confirm.status_code == 200

    answer = client.post(f"{channels_url}{account.id}/remove", data={"csrf_token": token})

    assert answer.status_code == 303
    assert (_accounts(db), _secrets(db)) == ([], [])


def test_an_account_that_does_not_exist_answers_404(
    client: FlaskClient, token: str, channels_url: str
) -> None:
    assert client.get(f"{channels_url}4242").status_code == 404


# ------------------------------------------------------------------------------ who may


def test_an_agent_without_the_permission_gets_403_and_no_link(
    client: FlaskClient,
    db: Session,
    sign_in_as: Callable[[Agent], dict[str, str]],
    make_agent: Callable[..., Agent],
    department: Department,
    channels_url: str,
) -> None:
    agent = make_agent("support@example.com", departments=[department])
    sign_in_as(agent)

    assert client.get(channels_url).status_code == 403
    assert "IM channels" not in client.get("/tickets").get_data(as_text=True)

    db.add(ProfilePermission(profile_id=agent.profile_id, permission=MANAGE_CHANNELS))
    db.commit()

    assert client.get(channels_url).status_code == 200
