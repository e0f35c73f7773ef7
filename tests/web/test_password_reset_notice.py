"""After an administrator resets a password, the user sees who did it and what happened since."""

from __future__ import annotations

from sqlalchemy import select

from labledger.db.tables import audit_event
from labledger.identity.users import reset_password
from labledger.web.display import utc_text
from tests.conftest import TEST_PASSWORD
from tests.web.helpers import csrf_token, sign_in


def _times(db, action: str) -> list[str]:
    with db.read() as conn:
        return [
            utc_text(moment)
            for moment in conn.execute(
                select(audit_event.c.occurred_at)
                .where(audit_event.c.action == action)
                .order_by(audit_event.c.seq)
            ).scalars()
        ]


def test_the_reset_notice_names_the_admin_the_last_sign_in_and_failures(
    client, db, make_person, admin
):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    client.post("/logout", headers={"x-csrftoken": csrf_token(client)})
    for _ in range(2):
        assert sign_in(client, "ann", "not my password").status_code == 401
    with db.write() as conn:
        one_time = reset_password(conn, admin.principal, "ann")
    sign_in(client, "ann", one_time)

    landed = client.get("/")
    assert landed.url.path == "/account/password"
    [reset_at] = _times(db, "user.password_reset")
    earlier_sign_in, _current = _times(db, "login")
    notice = landed.text
    assert "Your password was reset" in notice
    assert f"Reset by <strong>admin</strong> on {reset_at}." in notice
    assert f"Your last successful sign-in before this one: {earlier_sign_in}." in notice
    assert "Failed sign-in or signing attempts since then: <strong>2</strong>." in notice

    token = csrf_token(client, "/account/password")
    form = {
        "old_password": one_time,
        "new_password": "a brand new secret",
        "repeat_password": "a brand new secret",
        "_csrf_token": token,
    }
    assert client.post("/account/password", data=form).status_code == 200
    assert 'id="reset-notice"' not in client.get("/account/password").text, (
        "once the user chose their own password the notice is gone"
    )
