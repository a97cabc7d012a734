"""An administrator imports a CSV with a bad row: preview, progress, rejected-rows download."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core import worker
from core.host import Host
from core.models import Agent, Department

pytestmark = pytest.mark.browser

ROWS = (
    "姓,名,メールアドレス,携帯電話\n"
    "山田,太郎,taro@example.jp,090-1234-5678\n"
    "佐藤,花子,not-an-address,\n"
    "Smith,John,john@example.com,\n"
)


@pytest.fixture
def importer(make_agent: Callable[..., Agent], support: Department) -> Agent:
    """An administrator (who may import) of "Support"."""
    return make_agent("importer@example.com", profile="Administrator", departments=[support])


def test_import_with_a_bad_row_previews_runs_and_offers_the_rejected_rows(
    page,  # type: ignore[no-untyped-def]
    live_server: str,
    sign_in: Callable[[str], None],
    importer: Agent,
    host: Host,
    tmp_path: Path,
) -> None:
    sign_in(importer.email)
    page.goto(f"{live_server}/contacts/import")
    page.set_input_files(
        "#import-file",
        {"name": "people.csv", "mimeType": "text/csv", "buffer": ROWS.encode("cp932")},
    )
    page.select_option("#import-encoding", "shift_jis")
    page.click("#upload-form button[type=submit]")

    page.wait_for_selector("#mapping-table")
    assert page.input_value("#map-2") == "email"
    assert "2 of 3 rows are valid" in page.inner_text("#preview-totals")
    bad_row = page.locator('#preview-rows tr[data-row="3"]')
    assert "Not a valid email address." in bad_row.inner_text()

    page.click("#start-import")
    page.wait_for_selector("#import-progress")
    worker.run(host, burst=True, with_scheduler=False)
    # The page polls the progress and reloads once the import is done.
    page.wait_for_selector("#rejected-rows-link")
    assert page.locator("#import-progress-bar").get_attribute("value") == "100"
    assert page.inner_text('[data-count="rejected"]') == "1"
    assert page.inner_text('[data-count="created"]') == "2"

    with page.expect_download() as download_info:
        page.click("#rejected-rows-link")
    saved = tmp_path / "rejected.csv"
    download_info.value.save_as(saved)
    lines = saved.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[0] == "姓,名,メールアドレス,携帯電話,errors"
    assert lines[1] == "佐藤,花子,not-an-address,,メールアドレス: Not a valid email address."
