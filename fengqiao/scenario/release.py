"""The demo's release cases (刑满释放人员必接必送)."""

from __future__ import annotations

RELEASE_DAYS = 35  # the notice comes 35 days before the expected release
# Release cases (必接必送): (what happens, key person?, steps). Times are days after the notice.
RELEASE_VARIANTS: list[tuple[str, bool, list[tuple[str, str, float]]]] = [
    (
        "key person, every step on time 重点对象全程按时",
        True,
        [
            ("ReleaseNoticeIssued", "prison", 0),
            ("ReleaseNoticeAcknowledged", "judicial_office", 1),
            ("PickupPlanned", "judicial_office", 20),
            ("PersonReleased", "prison", RELEASE_DAYS + 0.05),
            ("PersonReceived", "judicial_office", RELEASE_DAYS + 0.07),
            ("PersonDelivered", "judicial_office", RELEASE_DAYS + 0.3),
            ("PersonReported", "judicial_office", RELEASE_DAYS + 3),
            ("HouseholdRegistered", "police_station", RELEASE_DAYS + 8),
            ("ResettlementPlanCreated", "judicial_office", RELEASE_DAYS + 9),
        ],
    ),
    (
        "ordinary person 一般对象",
        False,
        [
            ("ReleaseNoticeIssued", "prison", 0),
            ("ReleaseNoticeAcknowledged", "judicial_office", 2),
            ("PersonReleased", "prison", RELEASE_DAYS + 0.05),
            ("PersonReported", "judicial_office", RELEASE_DAYS + 5),
            ("HouseholdRegistered", "police_station", RELEASE_DAYS + 6),
        ],
    ),
    (
        "key person, nobody at the gate 重点对象未接回",
        True,
        [
            ("ReleaseNoticeIssued", "prison", 0),
            ("ReleaseNoticeAcknowledged", "judicial_office", 1),
            ("PickupPlanned", "judicial_office", 25),
            ("PersonReleased", "prison", RELEASE_DAYS + 0.05),
        ],
    ),
]
