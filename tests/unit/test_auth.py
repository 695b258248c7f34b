from __future__ import annotations

import pytest

from chalicelib.domain.auth import Forbidden, OutOfScope, Principal, Role, Unauthenticated
from chalicelib.domain.errors import DomainError

ADMIN = Principal(key_id="key_admin", role=Role.ADMIN, scope=None)
WEB_KEY = Principal(key_id="key_web", role=Role.CHANNEL, scope="ch_web")
EAST_KEY = Principal(key_id="key_east", role=Role.WAREHOUSE, scope="wh_east")


def test_the_actor_names_the_scope_or_for_an_unscoped_key_the_key() -> None:
    assert WEB_KEY.actor == "channel:ch_web"
    assert EAST_KEY.actor == "warehouse:wh_east"
    assert ADMIN.actor == "admin:key_admin"


def test_a_key_with_one_of_the_required_roles_passes() -> None:
    WEB_KEY.require_role(Role.CHANNEL, Role.ADMIN)
    ADMIN.require_role(Role.CHANNEL, Role.ADMIN)
    EAST_KEY.require_role(Role.WAREHOUSE)


def test_a_key_without_the_required_role_is_forbidden_and_told_which_roles_would_do() -> None:
    with pytest.raises(Forbidden) as excinfo:
        EAST_KEY.require_role(Role.CHANNEL, Role.ADMIN)

    assert str(excinfo.value) == (
        "this action needs a key with the role channel or admin; this key's role is warehouse"
    )


def test_a_channel_key_is_not_an_admin_key() -> None:
    with pytest.raises(Forbidden, match="this key's role is channel"):
        WEB_KEY.require_role(Role.ADMIN)


def test_a_channel_key_reaches_its_own_channels_orders() -> None:
    WEB_KEY.require_channel_access("ch_web")


def test_a_channel_key_never_reaches_another_channels_orders() -> None:
    with pytest.raises(OutOfScope, match="may not access orders of another channel"):
        WEB_KEY.require_channel_access("ch_shopify")


def test_an_admin_key_reaches_every_channel_and_every_warehouse() -> None:
    ADMIN.require_channel_access("ch_web")
    ADMIN.require_channel_access("ch_shopify")
    ADMIN.require_warehouse_access("wh_east")


def test_a_warehouse_key_reaches_its_own_warehouse_only() -> None:
    EAST_KEY.require_warehouse_access("wh_east")
    with pytest.raises(OutOfScope, match="may not access another warehouse's work"):
        EAST_KEY.require_warehouse_access("wh_west")


def test_a_warehouse_key_reaches_work_that_names_its_warehouse_among_others_and_nothing_else() -> None:
    EAST_KEY.require_warehouse_among(["wh_west", "wh_east"])
    ADMIN.require_warehouse_among([None])
    for ids in ([], [None], ["wh_west"]):
        with pytest.raises(OutOfScope):
            EAST_KEY.require_warehouse_among(ids)
    with pytest.raises(OutOfScope):
        WEB_KEY.require_warehouse_among(["ch_web"])


def test_a_role_refusal_is_not_an_out_of_scope_refusal() -> None:
    with pytest.raises(Forbidden) as excinfo:
        WEB_KEY.require_role(Role.ADMIN)
    assert not isinstance(excinfo.value, OutOfScope)


def test_a_scope_grants_access_only_together_with_the_matching_role() -> None:
    # A warehouse key whose scope happens to equal a channel id is still no channel key, and back.
    confusable_warehouse = Principal(key_id="key_x", role=Role.WAREHOUSE, scope="ch_web")
    confusable_channel = Principal(key_id="key_y", role=Role.CHANNEL, scope="wh_east")

    with pytest.raises(Forbidden):
        confusable_warehouse.require_channel_access("ch_web")
    with pytest.raises(Forbidden):
        confusable_channel.require_warehouse_access("wh_east")


def test_a_channel_key_without_a_scope_reaches_no_channel() -> None:
    unscoped = Principal(key_id="key_z", role=Role.CHANNEL, scope=None)

    with pytest.raises(Forbidden):
        unscoped.require_channel_access("ch_web")
    assert unscoped.actor == "channel:key_z"


def test_authentication_and_authorisation_failures_are_domain_errors_of_their_own() -> None:
    assert issubclass(Forbidden, DomainError)
    assert issubclass(Unauthenticated, DomainError)
    assert not issubclass(Forbidden, Unauthenticated)


def test_roles_are_lowercase_strings() -> None:
    assert [r.value for r in Role] == ["channel", "warehouse", "admin"]
