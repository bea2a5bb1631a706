"""The same API, Open311 and webhook tests on PostgreSQL (production's database).

The test functions are imported from their modules and run again here with ``db_url``
pointing at a fresh database on the PostgreSQL server, so dialect differences (JSON
columns, datetime comparisons, the distance ordering arithmetic) are exercised for real.
"""

from __future__ import annotations

import pytest

from tests.api.test_auth import test_admin_manages_users_and_tokens_and_roles_are_enforced
from tests.api.test_open311 import (
    test_malformed_posts_are_refused_with_open311_errors_and_change_nothing,
    test_personal_data_is_purged_after_retention,
    test_post_then_get_round_trips_without_personal_data,
    test_query_window_filters_and_bad_parameters,
    test_updates_carry_fixmystreet_extended_statuses,
)
from tests.api.test_tickets_api import (
    test_actions_and_invalid_transitions,
    test_create_by_hand_with_photo_and_limits,
    test_crew_sees_and_touches_only_their_area,
    test_filters_sort_by_distance_and_paginate,
)
from tests.api.test_webhooks import (
    api_config,
    test_delivery_survives_a_receiver_that_is_down,
    test_overdue_tickets_escalate_once,
)

pytestmark = pytest.mark.integration

__all__ = [
    "api_config",  # the webhook tests' receivers listen on loopback
    "test_actions_and_invalid_transitions",
    "test_admin_manages_users_and_tokens_and_roles_are_enforced",
    "test_create_by_hand_with_photo_and_limits",
    "test_crew_sees_and_touches_only_their_area",
    "test_delivery_survives_a_receiver_that_is_down",
    "test_filters_sort_by_distance_and_paginate",
    "test_malformed_posts_are_refused_with_open311_errors_and_change_nothing",
    "test_overdue_tickets_escalate_once",
    "test_personal_data_is_purged_after_retention",
    "test_post_then_get_round_trips_without_personal_data",
    "test_query_window_filters_and_bad_parameters",
    "test_updates_carry_fixmystreet_extended_statuses",
]


@pytest.fixture
def db_url(postgres_url: str) -> str:
    return postgres_url
