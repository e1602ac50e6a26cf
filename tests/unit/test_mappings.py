"""The status vocabularies in mappings/: the Rozetka file is total and maps as decided, overrides merge key by
key, a broken file names its key path, and ``connector mappings check`` reports gaps with the right exit code."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml

import mappings
from connector.cli.app import main
from connector.domain import CancelReason, PaymentStatus, Status
from connector.errors import ConfigError

# Written out independently of rozetka.yaml's own lines, from the apiDoc's model "Статуси замовлення
# [OrdersStatuses]" (GERA-OneTeam/Rozetka-API-Seller, docs/categories/models.md): the ids it lists, and the ids orders
# carry that it does not (cabinet statuses of the /v1/orders/search-data example; 48 from older third-party lists).
ROZETKA_OBSERVED = {"10", "32", "34", "35", "36", "39", "41", "48"}
ROZETKA_DOCUMENTED = {str(n) for n in range(1, 92)} - {"8", "9", "14", "21", "22", "23"} - ROZETKA_OBSERVED
# The model's names where the seller cabinet words them differently: the labels follow the documentation.
ROZETKA_DOCUMENTED_NAMES = {"3": "Передано в службу доставки", "5": "Чекає в пункті самовивозу",
                            "6": "Замовлення виконано", "11": "Не прийшов за замовленням",
                            "12": "Відмова при отриманні", "17": "Не влаштовують умови оплати",
                            "18": "Не вдалося зв'язатися", "19": "Замовлення повернено",
                            "26": "Опрацьовується менеджером", "28": "Неправильні контактні дані",
                            "29": "Ціна змінилася", "31": "Скасування. Створено дублююче замовлення",
                            "33": "Умови доставки не влаштовують", "38": "Не влаштовує товар",
                            "46": "Відновлено при продзвоні", "49": "Повторне замовлення"}


@pytest.fixture(autouse=True)
def isolated():
    # load() is cached per (name, override); a test that swaps the directory must not leak into the next one.
    mappings.load.cache_clear()
    yield
    mappings.load.cache_clear()


@pytest.fixture
def shipped(tmp_path, monkeypatch) -> Path:
    """An empty stand-in for the package's directory of shipped files."""
    directory = tmp_path / "shipped"
    directory.mkdir()
    monkeypatch.setattr(mappings, "DIRECTORY", directory)
    return directory


def write(path: Path, data: object) -> Path:
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def config_error(name: str, override: Path | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        mappings.load(name, override)
    return caught.value.message


# ---- the shipped Rozetka vocabulary


def test_rozetka_is_total_over_every_documented_status():
    rozetka = mappings.load("rozetka")
    assert set(rozetka.documented) == ROZETKA_DOCUMENTED and len(ROZETKA_DOCUMENTED) == 77
    assert mappings.check(rozetka) == []
    assert all(rozetka.rule(code).status is not Status.UNKNOWN for code in ROZETKA_DOCUMENTED)
    assert all(rozetka.rule(code).label for code in ROZETKA_DOCUMENTED)
    assert "rozetka" in mappings.available()


def test_rozetka_keeps_codes_seen_only_in_practice_apart_and_still_mapped():
    rozetka = mappings.load("rozetka")
    assert set(rozetka.observed) == ROZETKA_OBSERVED and not set(rozetka.observed) & set(rozetka.documented)
    assert all(rozetka.rule(code).status is not Status.UNKNOWN and rozetka.rule(code).label
               for code in ROZETKA_OBSERVED)


def test_rozetka_labels_are_the_documentations_names():
    rozetka = mappings.load("rozetka")
    assert {code: rozetka.rule(code).label for code in ROZETKA_DOCUMENTED_NAMES} == ROZETKA_DOCUMENTED_NAMES


def test_return_flow_statuses_mean_a_return_once_the_order_was_delivered():
    rozetka = mappings.load("rozetka")
    for code in ("86", "89", "90", "91"):
        rule = rozetka.rule(code)
        assert (rule.status, rule.after_delivery) == (Status.DELIVERY_FAILED, Status.RETURN_REQUESTED), code
    assert rozetka.rule("83").after_delivery is None and rozetka.rule("6").after_delivery is None


def test_an_observed_code_without_a_rule_is_a_gap_like_a_documented_one(shipped):
    write(shipped / "rozetka.yaml", {"name": "rozetka", "kind": "order_status", "documented": "1", "observed": "48",
                                     "statuses": {"1": {"status": "new"}}})
    vocabulary = mappings.load("rozetka")
    assert vocabulary.observed == ("48",)
    assert mappings.check(vocabulary) == ['statuses."48": observed but not mapped; add a rule for it']


def test_other_marketplaces_files_need_no_observed_list():
    assert all(mappings.load(name).observed == () for name in mappings.available() if name != "rozetka")


@pytest.mark.parametrize(("code", "status", "reason"), [
    ("1", Status.NEW, None),
    ("26", Status.ACCEPTED, None),
    ("2", Status.PROCESSING, None),
    ("61", Status.READY_TO_SHIP, None),
    ("80", Status.READY_TO_SHIP, None),  # the carrier has not collected it yet
    ("3", Status.SHIPPED, None),
    ("5", Status.READY_FOR_PICKUP, None),
    ("6", Status.COMPLETED, None),
    ("46", Status.COMPLETED, None),
    ("12", Status.DELIVERY_FAILED, None),
    ("86", Status.DELIVERY_FAILED, None),
    ("19", Status.RETURNED, None),
    ("71", Status.RETURNED, None),
    ("72", Status.REFUNDED, None),
    ("7", Status.CANCELLED, CancelReason.MARKETPLACE),
    ("13", Status.CANCELLED, CancelReason.MARKETPLACE),
    ("49", Status.CANCELLED, CancelReason.DUPLICATE),
    ("31", Status.CANCELLED, CancelReason.DUPLICATE),
    ("25", Status.CANCELLED, CancelReason.TEST_ORDER),
    ("44", Status.CANCELLED, CancelReason.FRAUD),
    ("30", Status.CANCELLED, CancelReason.RESERVE_EXPIRED),
    ("17", Status.CANCELLED, CancelReason.PAYMENT_FAILED),
    ("77", Status.CANCELLED, CancelReason.PAYMENT_FAILED),
    ("33", Status.CANCELLED, CancelReason.DELIVERY_TERMS),
    ("42", Status.CANCELLED, CancelReason.OUT_OF_STOCK),
    ("18", Status.CANCELLED, CancelReason.BUYER_UNREACHABLE),
    ("29", Status.CANCELLED, CancelReason.PRICE_CHANGED),
    ("40", Status.CANCELLED, CancelReason.BUYER_REQUEST),
])
def test_rozetka_ids_map_as_decided(code, status, reason):
    rule = mappings.load("rozetka").rule(code)
    assert (rule.status, rule.cancel_reason) == (status, reason)


def test_doubtful_rozetka_statuses_are_applied_but_flagged_for_review():
    rozetka = mappings.load("rozetka")
    assert rozetka.rule("68").status is Status.COMPLETED and "part" in rozetka.rule("68").review
    assert rozetka.rule("15").status is Status.READY_TO_SHIP and "TTN" in rozetka.rule("15").review
    assert rozetka.rule("46").review and rozetka.rule("88").review
    assert rozetka.rule("6").review == "" and rozetka.rule("26").label == "Опрацьовується менеджером"


@pytest.mark.parametrize("code", ["999", 999, None, "", "abc"])
def test_an_unknown_or_missing_code_maps_to_unknown(code):
    assert mappings.load("rozetka").rule(code) == mappings.StatusRule(Status.UNKNOWN)


def test_codes_are_compared_as_stripped_strings():
    rozetka = mappings.load("rozetka")
    assert rozetka.rule(26) == rozetka.rule(" 26 ") == rozetka.rule("26")


def test_every_rozetka_payment_status_is_mapped():
    rozetka = mappings.load("rozetka")
    names = ("cancelled", "paid", "unpaid", "unapproved", "part-paid", "expired", "hold", "returned",
             "part-returned", "ready_for_return")
    assert set(rozetka.payment_statuses) == set(names)
    assert rozetka.payment("paid") is PaymentStatus.PAID
    assert rozetka.payment("part-paid") is PaymentStatus.UNPAID  # no goods against a partial payment
    assert rozetka.payment("part-returned") is PaymentStatus.PARTIALLY_REFUNDED
    assert rozetka.payment("returned") is PaymentStatus.REFUNDED
    assert rozetka.payment(None) is PaymentStatus.UNKNOWN
    assert rozetka.payment("bitcoin") is PaymentStatus.UNKNOWN


def test_the_loaded_vocabulary_cannot_be_changed_by_its_users():
    rozetka = mappings.load("rozetka")
    with pytest.raises(TypeError):
        rozetka.statuses["1"] = mappings.StatusRule(Status.CANCELLED)  # type: ignore[index]
    assert mappings.load("rozetka") is rozetka


# ---- overrides


def test_an_override_replaces_one_entry_and_keeps_the_rest(tmp_path):
    override = write(tmp_path / "rozetka-main.yaml", {
        "statuses": {"26": {"status": "processing", "label": "ours"}},
        "payment_statuses": {"hold": "unpaid"},
    })
    merged = mappings.load("rozetka", override)
    assert merged.rule("26") == mappings.StatusRule(Status.PROCESSING, label="ours")
    assert merged.payment("hold") is PaymentStatus.UNPAID and merged.payment("paid") is PaymentStatus.PAID
    assert merged.rule("1").status is Status.NEW
    assert len(merged.statuses) == len(mappings.load("rozetka").statuses)
    assert mappings.check(merged) == [] and str(override) in merged.source
    assert mappings.load("rozetka").rule("26").status is Status.ACCEPTED  # the shipped file is untouched


def test_an_override_can_add_documented_codes_but_not_drop_any(tmp_path):
    override = write(tmp_path / "o.yaml",
                     {"documented": "1, 92-93", "statuses": {"92": {"status": "shipped"}}})
    merged = mappings.load("rozetka", override)
    assert set(merged.documented) == ROZETKA_DOCUMENTED | {"92", "93"}
    assert merged.gaps() == ['statuses."93": documented but not mapped; add a rule for it']


def test_an_override_for_another_marketplace_is_refused(tmp_path):
    override = write(tmp_path / "o.yaml", {"name": "chopni", "statuses": {}})
    assert "name: 'chopni' does not match" in config_error("rozetka", override)


def test_a_missing_override_file_is_a_config_error(tmp_path):
    assert "does not exist" in config_error("rozetka", tmp_path / "nope.yaml")


# ---- broken files


@pytest.mark.parametrize(("content", "expected"), [
    ('statuses:\n  "17": {status: canceled}\n',
     """statuses."17".status: 'canceled' is not a canonical status; one of: new, accepted"""),
    ('statuses:\n  "17": {status: unknown}\n', 'statuses."17".status: \'unknown\' is not a canonical status'),
    ('statuses:\n  "26": {status: accepted, cancel_reason: fraud}\n',
     'statuses."26".cancel_reason: only a cancelled status takes a cancel reason'),
    ('statuses:\n  "17": {status: cancelled}\n', 'statuses."17".cancel_reason: missing'),
    ('statuses:\n  "17": {status: cancelled, cancel_reason: changed_mind}\n',
     "statuses.\"17\".cancel_reason: 'changed_mind' is not a cancel reason"),
    ('statuses:\n  "17": {label: x}\n', 'statuses."17".status: missing'),
    ('statuses:\n  "17": {status: new, lable: x}\n', 'statuses."17".lable: unknown key'),
    ('statuses:\n  "17": new\n', 'statuses."17": must be a rule'),
    ("statuses:\n  17: {status: new}\n", "statuses.17: keys are text; quote them"),
    ('documented: "1-7, 10-"\n', "documented: '10-' is not a code or a range"),
    ('documented: "9-3"\n', "documented: range '9-3' runs backwards"),
    ('observed: "48-"\n', "observed: '48-' is not a code or a range"),
    ('observed: "26"\n', "observed: '26' is documented; a code is one or the other"),
    ('statuses:\n  "86": {status: delivery_failed, after_delivery: returning}\n',
     """statuses."86".after_delivery: 'returning' is not a canonical status"""),
    ("payment_statuses:\n  paid: payed\n", "payment_statuses.\"paid\": 'payed' is not a payment status"),
    ("colour: red\n", "colour: unknown key"),
    ('statuses:\n  "17": {status: new}\n  "17": {status: accepted}\n', "found the key '17' twice"),
    ('statuses:\n  "17": {status: new\n', "not valid YAML at line"),
])
def test_a_broken_override_names_the_file_and_the_key_path(tmp_path, content, expected):
    override = write(tmp_path / "broken.yaml", content)
    message = config_error("rozetka", override)
    assert message.startswith(f"{override}: ") and expected in message


def test_a_broken_file_reports_every_problem_at_once(tmp_path):
    content = 'statuses:\n  "1": {status: neu}\n  "2": {status: cancelled}\n'
    override = write(tmp_path / "broken.yaml", content)
    message = config_error("rozetka", override)
    assert 'statuses."1".status' in message and 'statuses."2".cancel_reason' in message


def test_a_shipped_file_must_have_every_required_key_and_its_own_name(shipped):
    write(shipped / "rozetka.yaml", {"name": "rozetka", "statuses": {}})
    message = config_error("rozetka")
    assert "rozetka.yaml: " in message and "kind: missing" in message and "documented: missing" in message
    mappings.load.cache_clear()
    write(shipped / "rozetka.yaml",
          {"name": "chopni", "kind": "order_status", "documented": "1", "statuses": {}})
    assert "does not match the file name" in config_error("rozetka")


def test_an_unknown_name_is_a_config_error_listing_the_shipped_ones():
    with pytest.raises(ConfigError) as caught:
        mappings.load("amazon")
    assert "no mapping named 'amazon'" in caught.value.message and "rozetka" in (caught.value.hint or "")


# ---- check()


def test_check_reports_a_documented_code_without_a_rule(shipped):
    write(shipped / "rozetka.yaml", {"name": "rozetka", "kind": "order_status", "documented": "1-3, 5",
                                     "statuses": {"1": {"status": "new"}, "2": {"status": "processing"}}})
    vocabulary = mappings.load("rozetka")
    assert vocabulary.documented == ("1", "2", "3", "5")
    problems = mappings.check(vocabulary)
    assert len(problems) == 2 and '"3"' in problems[0] and '"5"' in problems[1]


def test_check_also_catches_a_vocabulary_built_in_code():
    vocabulary = mappings.Vocabulary(
        name="x", kind="order_status", documented=("1", "2"), source="code",
        statuses=MappingProxyType({"1": mappings.StatusRule(Status.CANCELLED),
                                   "2": mappings.StatusRule(Status.NEW, CancelReason.FRAUD)}),
        payment_statuses=MappingProxyType({"paid": "paid"}),  # type: ignore[dict-item]
    )
    problems = mappings.check(vocabulary)
    assert any('"1".cancel_reason: missing' in p for p in problems)
    assert any('"2".cancel_reason: only a cancelled status' in p for p in problems)
    assert any('payment_statuses."paid"' in p for p in problems)


def test_available_lists_marketplace_files_not_an_operators_override_beside_them(shipped):
    for name in ("rozetka", "rozetka-main"):
        write(shipped / f"{name}.yaml", {"statuses": {}})
    assert mappings.available() == ["rozetka"]


# ---- connector mappings check


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def account_config(tmp_path: Path, override: Path) -> str:
    return str(write(tmp_path / "connector.yaml", {
        "accounts": [{"name": "rozetka-main", "marketplace": "rozetka", "base_url": "http://127.0.0.1:9",
                      "username": "shop@example.com", "password_env": "TEST_ROZETKA_PASSWORD",
                      "mapping": str(override)}],
    }))


def test_cli_check_without_a_config_checks_the_shipped_files_and_prints_pure_json(capsys, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    code, out, _ = run(capsys, "mappings", "check", "--json")
    assert code == 0
    rows = json.loads(out)
    rozetka = next(r for r in rows if r["mapping"] == "rozetka")
    assert rozetka == {"mapping": "rozetka", "account": None, "kind": "order_status",
                       "source": rozetka["source"], "documented": 77, "observed": 8, "mapped": 85, "problems": []}
    assert all(r["observed"] == 0 for r in rows if r["mapping"] != "rozetka")


def test_cli_check_prints_a_table(capsys, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    code, out, _ = run(capsys, "mappings", "check")
    assert code == 0 and "rozetka" in out and "order_status" in out and "observed" in out
    assert all(n in out for n in ("77", "8", "85"))


def test_cli_check_exits_1_naming_the_gap_in_an_accounts_override(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    override = write(tmp_path / "rozetka-main.yaml", {"documented": "92"})
    config = account_config(tmp_path, override)
    code, out, _ = run(capsys, "--config", config, "mappings", "check")
    assert code == 1 and "rozetka (account rozetka-main)" in out and 'statuses."92"' in out
    code, out, _ = run(capsys, "--config", config, "mappings", "check", "--json")
    rows = json.loads(out)
    assert code == 1 and [r["account"] for r in rows] == [None] * len(mappings.available()) + ["rozetka-main"]
    assert rows[0]["problems"] == [] and rows[-1]["documented"] == 78 and "92" in rows[-1]["problems"][0]


def test_cli_check_reads_the_config_from_the_environment_too(capsys, monkeypatch, tmp_path):
    override = write(tmp_path / "rozetka-main.yaml", {"statuses": {"26": {"status": "processing"}}})
    monkeypatch.setenv("CONNECTOR_CONFIG", account_config(tmp_path, override))
    code, out, _ = run(capsys, "mappings", "check", "--json")
    assert code == 0 and [r["account"] for r in json.loads(out)] == [None] * len(mappings.available()) + ["rozetka-main"]


def test_cli_check_exits_2_on_a_broken_override(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    override = write(tmp_path / "rozetka-main.yaml", 'statuses:\n  "17": {status: canceled}\n')
    config = account_config(tmp_path, override)
    code, out, err = run(capsys, "--config", config, "mappings", "check", "--json")
    err = err.replace("\n", "")  # stderr is wrapped to the terminal's width
    assert code == 2 and out == ""
    assert "rozetka-main.yaml" in err and 'statuses."17".status' in err


def test_chopni_refunded_splits_into_exchanged_by_the_comment():
    chopni = mappings.load("chopni")
    assert chopni.rule_with_comment("refunded", "Exchanged for size M").status is Status.EXCHANGED
    assert chopni.rule_with_comment("refunded", "refunded 49.90 EUR to card").status is Status.REFUNDED
    assert chopni.rule_with_comment("complete", "exchanged").status is Status.COMPLETED  # only split statuses


def test_chopni_is_total_and_knows_the_manuals_flow():
    chopni = mappings.load("chopni")
    assert mappings.check(chopni) == []
    assert [chopni.rule(n).status for n in ("pending", "processing", "shipped", "complete")] == [
        Status.NEW, Status.PROCESSING, Status.SHIPPED, Status.COMPLETED]
    assert chopni.payment("cod") is PaymentStatus.CASH_ON_DELIVERY and chopni.payment("processed") is PaymentStatus.PAID
