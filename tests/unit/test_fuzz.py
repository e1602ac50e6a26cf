"""Every parser that reads outside input, fed arbitrary input by hypothesis within a bounded budget.

What each may do with garbage is its contract: a marketplace mapper returns the record with its error (never
raises: one bad order must not stop a page); a carrier mapper reports the number as unknown or not found; the
config and the mapping loader raise ConfigError naming the key; the CLI answers with an exit code, never a
traceback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.chopni import mapper as chopni
from adapters.chopni.page import parse_order_page
from adapters.econt import mapper as econt
from adapters.novaposhta import mapper as novaposhta
from adapters.rozetka import mapper as rozetka
from adapters.speedy import mapper as speedy
from adapters.ukrposhta import mapper as ukrposhta
from connector.config import parse_settings
from connector.domain import ShipmentStatus
from connector.errors import ConfigError, PayloadError
from mappings import _parse as parse_mapping
from mappings import load

BUDGET = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 11, 27, tzinfo=UTC)

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                    st.decimals(allow_nan=False, allow_infinity=False).map(str))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(st.text(max_size=12), inner, max_size=6)),
                           max_leaves=25)
# Payloads shaped like the real ones (the right keys, any values) reach deeper than random dictionaries do.
ROZETKA_KEYS = ("id", "status", "status_data", "created", "changed", "cost", "cost_with_discount", "purchases",
                "user_title", "user_phone", "user", "ttn", "delivery", "payment")
rozetka_like = st.dictionaries(st.sampled_from(ROZETKA_KEYS), json_values, max_size=len(ROZETKA_KEYS))


@BUDGET
@given(st.one_of(json_values, rozetka_like))
def test_the_rozetka_mapper_returns_every_payload_with_an_order_or_its_error(payload):
    result = rozetka.pulled(payload, "rozetka-main", load("rozetka"))
    assert (result.order is None) != (result.error is None)
    assert json.loads(result.raw.body) is not None or result.raw.body == "null"


@BUDGET
@given(st.dictionaries(st.sampled_from(("order_id", "suborder_status", "firstname", "lastname", "telephone",
                                        "email", "date_added", "currency_code")), scalars, max_size=8),
       st.text(max_size=300) | st.sampled_from(["<html><body><div class='ms-account-order-info'></div></body>"
                                                "</html>", ""]))
def test_the_chopni_mapper_returns_every_row_and_page_with_an_order_or_its_error(row, page):
    result = chopni.pulled(row, page, "chopni-main", load("chopni"), NOW)
    assert (result.order is None) != (result.error is None)


@BUDGET
@given(st.text(max_size=500))
def test_the_chopni_page_parser_raises_nothing_but_a_payload_error(page):
    try:
        parse_order_page(page, "1")
    except PayloadError:
        pass


@BUDGET
@given(st.one_of(json_values, st.dictionaries(st.sampled_from(("Number", "StatusCode", "Status", "DateCreated",
                                                                "TrackingUpdateDate", "DateScan",
                                                                "RecipientDateTime", "DatePayedKeeping")),
                                               scalars, max_size=8)))
def test_a_nova_poshta_record_of_any_shape_becomes_a_report(record):
    report = novaposhta.report(record, load("novaposhta"), ttn="20450000000000")
    assert isinstance(report.status, ShipmentStatus)


@BUDGET
@given(json_values)
def test_a_ukrposhta_history_of_any_shape_becomes_a_report(events):
    assert isinstance(ukrposhta.report("0500012345678", events, load("ukrposhta")).status, ShipmentStatus)


@BUDGET
@given(st.dictionaries(st.sampled_from(("shipmentStatuses", "status", "error")), json_values, max_size=3))
def test_an_econt_answer_of_any_shape_gives_every_number_asked_a_report(payload):
    reports = econt.reports(payload, ["1051234567890"], load("econt"))
    assert set(reports) == {"1051234567890"}


@BUDGET
@given(st.dictionaries(st.sampled_from(("parcels", "error")), json_values, max_size=2))
def test_a_speedy_answer_of_any_shape_gives_every_number_asked_a_report(payload):
    reports = speedy.reports(payload, ["61234567890"], load("speedy"))
    assert set(reports) == {"61234567890"}


@BUDGET
@given(json_values)
def test_any_configuration_is_accepted_or_refused_with_a_config_error(data):
    try:
        parse_settings(data)
    except ConfigError as exc:
        assert exc.exit_code == 2 and exc.message


@BUDGET
@given(json_values)
def test_any_mapping_file_is_accepted_or_refused_with_a_config_error(data):
    try:
        parse_mapping(data, "fuzzed.yaml", partial=False)
    except ConfigError as exc:
        assert "fuzzed.yaml" in str(exc)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12), max_size=4))
def test_any_command_line_ends_in_an_exit_code_not_a_traceback(argv):
    from connector.cli.app import main
    try:
        code = main(["--config", "/nonexistent/connector.yaml", *argv])
    except SystemExit as exc:  # --help and --version exit through Click
        code = exc.code
    assert code in (0, 1, 2)
