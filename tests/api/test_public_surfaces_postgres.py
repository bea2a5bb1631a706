"""The public-surface tests where the database matters, again on PostgreSQL (production's).

Area checks are SQL filters, the public Open311 view joins and groups in SQL, the statement
count depends on the dialect's loading, photos are purged by a DELETE with a subquery, and
the public-comment column comes from a migration: each is run here on a fresh database.
"""

from __future__ import annotations

import pytest

from tests.api.test_public_open311 import (
    test_open311_lists_cost_the_same_statements_for_10_and_200_tickets,
    test_public_view_holds_no_crew_notes_names_or_camera_positions,
    test_services_list_exactly_what_a_post_accepts,
    test_stored_control_characters_do_not_break_the_feed,
)
from tests.api.test_small_leaks import (
    test_photos_are_deleted_with_the_tickets_personal_data,
    test_uploaded_photos_keep_no_metadata_and_are_not_sniffed,
)
from tests.api.test_ticket_access import (
    test_crew_report_on_another_areas_asset_does_not_reach_its_ticket,
    test_every_ticket_route_refuses_another_areas_crew,
)

pytestmark = pytest.mark.integration

__all__ = [
    "test_crew_report_on_another_areas_asset_does_not_reach_its_ticket",
    "test_every_ticket_route_refuses_another_areas_crew",
    "test_open311_lists_cost_the_same_statements_for_10_and_200_tickets",
    "test_photos_are_deleted_with_the_tickets_personal_data",
    "test_public_view_holds_no_crew_notes_names_or_camera_positions",
    "test_services_list_exactly_what_a_post_accepts",
    "test_stored_control_characters_do_not_break_the_feed",
    "test_uploaded_photos_keep_no_metadata_and_are_not_sniffed",
]


@pytest.fixture
def db_url(postgres_url: str) -> str:
    return postgres_url
