"""Marketplace vocabularies as data: one YAML file per marketplace maps its status codes onto the canonical ones.

docs/mappings.md describes the file format and per-account overrides. Loading rejects anything an operator can
get wrong, naming the file and the key path; ``check`` proves that a vocabulary covers every code its marketplace
documents, so a missing rule is found by a test or by ``connector mappings check``, not by a live order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from adapters import CARRIERS, MARKETPLACE_LOGINS
from connector.domain.commands import CommandKind
from connector.domain.lifecycle import CancelReason, PaymentStatus, ShipmentStatus, Status
from connector.errors import ConfigError

DIRECTORY = Path(__file__).resolve().parent
# A marketplace's file maps order statuses; a carrier's maps its parcel status codes and says what its numbers look like.
ORDER, SHIPMENT = "order_status", "shipment_status"
KINDS = (ORDER, SHIPMENT)

_HINT = "docs/mappings.md describes the mapping file format"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")
_FILE_KEYS = ("name", "kind", "documented", "observed", "statuses", "payment_statuses", "splits", "push",
              "ttn_format")
_PUSH_KEYS = {"commands": CommandKind, "cancel_reasons": CancelReason, "refused": CommandKind}
_REQUIRED = ("name", "kind", "documented", "statuses")
_RULE_KEYS = ("status", "cancel_reason", "label", "review", "after_delivery")
# ``unknown`` is what an unmapped code becomes; a rule that maps a documented code to it would hide a gap.
_MAPPABLE = tuple(s for s in Status if s is not Status.UNKNOWN)
_PARCEL_MAPPABLE = tuple(s for s in ShipmentStatus if s is not ShipmentStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class StatusRule:
    status: Status
    cancel_reason: CancelReason | None = None
    label: str = ""
    review: str = ""  # non-empty: apply the status but flag the order for a person, with this note
    # What the code means once the order was delivered (a return flow after a sale is a return, not a failed
    # delivery); None: the same as ``status``. The store decides, as only it knows how far the order came.
    after_delivery: Status | None = None


UNKNOWN_RULE = StatusRule(Status.UNKNOWN)


@dataclass(frozen=True, slots=True)
class ShipmentRule:
    """A carrier's code → the canonical shipment status (a carrier file's rules)."""

    status: ShipmentStatus
    label: str = ""


UNKNOWN_SHIPMENT = ShipmentRule(ShipmentStatus.UNKNOWN)


@dataclass(frozen=True)
class Vocabulary:
    name: str
    kind: str
    documented: tuple[str, ...]
    statuses: Mapping[str, StatusRule]
    payment_statuses: Mapping[str, PaymentStatus]
    source: str  # the file it was read from; "base + override" when an account overrides it
    # Codes seen in practice (the cabinet, public clients) that the documentation does not list: still mapped,
    # and held to the same check, but counted apart so nobody mistakes them for documented ones.
    observed: tuple[str, ...] = ()
    # The other direction, for the push planner: commands → marketplace codes, cancel reasons → codes, and the
    # reason a command is refused where the marketplace has no way to do it.
    push: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    # A status whose meaning the history comment decides (Chopni's "refunded": refunded or exchanged):
    # code → [(a word the comment may contain, the rule it then means)], first match wins.
    splits: Mapping[str, tuple[tuple[str, StatusRule], ...]] = field(default_factory=lambda: MappingProxyType({}))
    # A carrier's tracking numbers, as a regular expression over the number without spaces, in upper case.
    ttn_format: str = ""

    def rule(self, code: str | int | None) -> StatusRule:
        if code is None:
            return UNKNOWN_RULE
        return self.statuses.get(str(code).strip(), UNKNOWN_RULE)

    def rule_with_comment(self, code: str | int | None, comment: str) -> StatusRule:
        """``rule`` refined by the words of the comment that came with the status, where the file says so."""
        text = comment.casefold()
        for word, rule in self.splits.get(str(code).strip() if code is not None else "", ()):
            if word in text:
                return rule
        return self.rule(code)

    def shipment(self, code: str | int | None) -> ShipmentRule:
        """A carrier file's rule for ``code``; an unknown code is kept raw by the caller and means UNKNOWN."""
        rule = self.statuses.get(str(code).strip()) if code is not None else None
        return rule if isinstance(rule, ShipmentRule) else UNKNOWN_SHIPMENT

    def valid_ttn(self, ttn: str) -> bool:
        return bool(self.ttn_format) and re.fullmatch(self.ttn_format, normal_ttn(ttn)) is not None

    def payment(self, name: str | None) -> PaymentStatus:
        if name is None:
            return PaymentStatus.UNKNOWN
        return self.payment_statuses.get(str(name).strip(), PaymentStatus.UNKNOWN)

    def gaps(self) -> list[str]:
        return [f'statuses."{code}": {group} but not mapped; add a rule for it'
                for group, codes in (("documented", self.documented), ("observed", self.observed))
                for code in codes if code not in self.statuses]


def normal_ttn(ttn: str) -> str:
    """Sellers paste numbers with spaces and in lower case; carriers compare them without either."""
    return "".join(str(ttn).split()).upper()


def available() -> list[str]:
    """The names of the shipped mapping files: one per marketplace or carrier the adapters registry knows.

    An operator's override kept in this directory (config.example.yaml suggests ./mappings/<account>.yaml, which
    is this directory in a checkout) is not a shipped vocabulary and is left to the account that names it.
    """
    known = {*MARKETPLACE_LOGINS, *CARRIERS}
    return sorted(path.stem for path in DIRECTORY.glob("*.yaml") if path.stem in known)


def check(vocabulary: Vocabulary) -> list[str]:
    """Every problem: documented codes without a rule, and rules that break the format's invariants.

    Loading already refuses invalid files; this also covers a vocabulary built in code.
    """
    problems = vocabulary.gaps()
    for code, rule in vocabulary.statuses.items():
        path = f'statuses."{code}"'
        if vocabulary.kind == SHIPMENT:
            if not isinstance(rule, ShipmentRule) or rule.status is ShipmentStatus.UNKNOWN:
                problems.append(f"{path}.status: "
                                + _not_one_of(rule.status, "a canonical shipment status", _PARCEL_MAPPABLE))
        elif not isinstance(rule.status, Status) or rule.status is Status.UNKNOWN:
            problems.append(f"{path}.status: {_not_one_of(rule.status, 'a canonical status', _MAPPABLE)}")
        elif rule.cancel_reason is not None and not isinstance(rule.cancel_reason, CancelReason):
            problems.append(f"{path}.cancel_reason: "
                            + _not_one_of(rule.cancel_reason, "a cancel reason", CancelReason))
        else:
            problems += [f"{path}.{key}: {message}"
                         for key, message in _consistency(rule.status, rule.cancel_reason)]
    for name, value in vocabulary.payment_statuses.items():
        if not isinstance(value, PaymentStatus):
            problems.append(f'payment_statuses."{name}": '
                            + _not_one_of(value, "a payment status", PaymentStatus))
    return problems


@functools.cache
def load(name: str, override: str | Path | None = None) -> Vocabulary:
    """The shipped vocabulary ``name``, with ``override``'s entries replacing its own key by key.

    An override may add documented codes but never removes one, so an account's mapping stays total over what
    the marketplace documents.
    """
    path = _shipped(name)
    fields = _parse(_read(path), str(path), partial=False)
    if fields["name"] != name:
        raise ConfigError(f"name: {fields['name']!r} does not match the file name {name!r}", path=str(path),
                          hint=_HINT)
    source = str(path)
    if override is not None:
        over_path = Path(override).expanduser()
        over = _parse(_read(over_path, required_by=name), str(over_path), partial=True, kind=fields["kind"])
        fields = _merge(fields, over, str(over_path))
        source = f"{path} + {over_path}"
    return Vocabulary(
        name=fields["name"],
        kind=fields["kind"],
        documented=fields["documented"],
        observed=fields.get("observed", ()),
        statuses=MappingProxyType(fields["statuses"]),
        payment_statuses=MappingProxyType(fields.get("payment_statuses", {})),
        splits=MappingProxyType(fields.get("splits", {})),
        source=source,
        push=MappingProxyType({k: MappingProxyType(v) for k, v in fields.get("push", {}).items()}),
        ttn_format=fields.get("ttn_format", ""),
    )


def _shipped(name: str) -> Path:
    path = DIRECTORY / f"{name}.yaml"
    if not _NAME.match(name) or not path.is_file():
        raise ConfigError(f"no mapping named {name!r} is shipped",
                          hint="shipped: " + (", ".join(available()) or "none"))
    return path


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; in a mapping file that loses a rule, so refuse it."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found the key {key!r} twice",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read(path: Path, *, required_by: str | None = None) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = (f"check the account's mapping: key; it names a file that overrides mappings/{required_by}.yaml"
                if required_by else _HINT)
        raise ConfigError("mapping file does not exist", path=str(path), hint=hint) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the mapping file: {exc.strerror}", path=str(path)) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ConfigError(f"not valid YAML{at}: {getattr(exc, 'problem', None) or exc}", path=str(path),
                          hint=_HINT) from None


def _parse(data: Any, source: str, *, partial: bool, kind: str = ORDER) -> dict[str, Any]:
    """The file's fields, validated; ``partial`` (an override) makes every key optional."""
    problems: list[str] = []
    if data is None and partial:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"must be a mapping of keys to values, not {type(data).__name__}", path=source,
                          hint=_HINT)
    problems += [f"{key}: unknown key; a mapping file has {', '.join(_FILE_KEYS)}"
                 for key in data if key not in _FILE_KEYS]
    if not partial:
        problems += [f"{key}: missing" for key in _REQUIRED if key not in data]
    fields: dict[str, Any] = {}
    if "name" in data:
        if isinstance(data["name"], str) and _NAME.match(data["name"]):
            fields["name"] = data["name"]
        else:
            problems.append(f"name: {data['name']!r} is not a name; use lower case letters, digits, - and _")
    if "kind" in data:
        if data["kind"] in KINDS:
            fields["kind"] = data["kind"]
        else:
            problems.append(f"kind: {_not_one_of(data['kind'], 'a mapping kind', KINDS)}")
    if "documented" in data:
        fields["documented"] = _documented(data["documented"], problems)
    if "observed" in data:
        fields["observed"] = _documented(data["observed"], problems, key="observed")
        problems += [f"observed: {code!r} is documented; a code is one or the other"
                     for code in fields["observed"] if code in fields.get("documented", ())]
    if "statuses" in data:
        fields["statuses"] = _statuses(data["statuses"], problems, fields.get("kind", kind))
    if "ttn_format" in data:
        fields["ttn_format"] = _ttn_format(data["ttn_format"], fields.get("kind", kind), problems)
    elif fields.get("kind") == SHIPMENT and not partial:
        problems.append("ttn_format: missing; a carrier's file says what its tracking numbers look like")
    if "payment_statuses" in data:
        fields["payment_statuses"] = _payment_statuses(data["payment_statuses"], problems)
    if "splits" in data:
        fields["splits"] = _splits(data["splits"], fields.get("statuses", {}), partial, problems)
    if "push" in data:
        fields["push"] = _push(data["push"], fields.get("statuses", {}), partial, problems)
    if problems:
        raise ConfigError("\n  ".join(problems), path=source, hint=_HINT)
    return fields


def _documented(value: Any, problems: list[str], key: str = "documented") -> tuple[str, ...]:
    """``"1-7, 10-13, 48"`` (or a list of such parts) → every code, in order, once. ``key`` names the list in
    problems (``documented`` or ``observed``)."""
    parts = value if isinstance(value, list) else [value]
    codes: dict[str, None] = {}
    before = len(problems)
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, str | int):
            problems.append(f"{key}: {part!r} is neither a code nor a range; write e.g. 1-7, 10, 24-91")
            continue
        for token in str(part).split(","):
            token = token.strip()
            if match := _RANGE.match(token):
                low, high = int(match[1]), int(match[2])
                if low > high:
                    problems.append(f"{key}: range {token!r} runs backwards; write {high}-{low}")
                codes.update(dict.fromkeys(str(n) for n in range(low, high + 1)))
            elif not token or (token[0].isdigit() and not token.isdigit()):
                # A code that starts with a digit is a number or a range of numbers: "1-" and "3..5" are typos.
                problems.append(f"{key}: {token!r} is not a code or a range like 24-91")
            else:
                codes[token] = None
    if not codes and len(problems) == before:
        problems.append(f"{key}: names no codes, so nothing proves the mapping total")
    return tuple(codes)


def _key(section: str, key: Any, problems: list[str]) -> str | None:
    if isinstance(key, str) and key.strip():
        return key.strip()
    problems.append(f"{section}.{key!r}: keys are text; quote them, e.g. \"17\": {{status: ...}}")
    return None


def _ttn_format(value: Any, kind: str | None, problems: list[str]) -> str:
    if kind != SHIPMENT:
        problems.append("ttn_format: only a carrier's file (kind: shipment_status) has one")
        return ""
    try:
        re.compile(value if isinstance(value, str) and value else "(")
    except re.error as exc:
        problems.append(f"ttn_format: {value!r} is not a regular expression ({exc})")
        return ""
    return value


def _statuses(value: Any, problems: list[str], kind: str = ORDER) -> dict[str, StatusRule | ShipmentRule]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"statuses: must map each code to a rule, not be a {type(value).__name__}")
        return {}
    rules: dict[str, StatusRule] = {}
    for raw_key, entry in value.items():
        code = _key("statuses", raw_key, problems)
        if code is None:
            continue
        if code in rules:
            problems.append(f'statuses."{code}": given twice (keys are compared without surrounding spaces)')
        rule = (_shipment_rule if kind == SHIPMENT else _rule)(f'statuses."{code}"', entry, problems)
        if rule is not None:
            rules[code] = rule
    return rules


def _rule(path: str, entry: Any, problems: list[str]) -> StatusRule | None:
    if not isinstance(entry, dict):
        problems.append(f"{path}: must be a rule like {{status: accepted, label: \"...\"}}, not {entry!r}")
        return None
    before = len(problems)
    problems += [f"{path}.{key}: unknown key; a rule has {', '.join(_RULE_KEYS)}"
                 for key in entry if key not in _RULE_KEYS]
    for key in ("label", "review"):
        if not isinstance(entry.get(key, ""), str):
            problems.append(f"{path}.{key}: must be text, not {entry[key]!r}")
    status = reason = after = None
    if entry.get("after_delivery") is not None:
        if entry["after_delivery"] in _MAPPABLE:
            after = Status(entry["after_delivery"])
        else:
            problems.append(f"{path}.after_delivery: "
                            + _not_one_of(entry["after_delivery"], "a canonical status", _MAPPABLE))
    if "status" not in entry:
        problems.append(f"{path}.status: missing")
    elif entry["status"] in _MAPPABLE:
        status = Status(entry["status"])
    else:
        problems.append(f"{path}.status: {_not_one_of(entry['status'], 'a canonical status', _MAPPABLE)}")
    reason_valid = True
    if entry.get("cancel_reason") is not None:
        if entry["cancel_reason"] in list(CancelReason):
            reason = CancelReason(entry["cancel_reason"])
        else:
            reason_valid = False
            problems.append(f"{path}.cancel_reason: "
                            + _not_one_of(entry["cancel_reason"], "a cancel reason", CancelReason))
    if status is not None and reason_valid:
        problems += [f"{path}.{key}: {message}" for key, message in _consistency(status, reason)]
    if len(problems) > before or status is None:
        return None
    return StatusRule(status, reason, entry.get("label", ""), entry.get("review", ""), after)


def _shipment_rule(path: str, entry: Any, problems: list[str]) -> ShipmentRule | None:
    if not isinstance(entry, dict):
        problems.append(f"{path}: must be a rule like {{status: in_transit, label: \"...\"}}, not {entry!r}")
        return None
    before = len(problems)
    problems += [f"{path}.{key}: unknown key; a carrier's rule has status, label"
                 for key in entry if key not in ("status", "label")]
    if not isinstance(entry.get("label", ""), str):
        problems.append(f"{path}.label: must be text, not {entry['label']!r}")
    if entry.get("status") not in _PARCEL_MAPPABLE:
        problems.append(f"{path}.status: "
                        + _not_one_of(entry.get("status"), "a canonical shipment status", _PARCEL_MAPPABLE))
    if len(problems) > before:
        return None
    return ShipmentRule(ShipmentStatus(entry["status"]), entry.get("label", ""))


def _payment_statuses(value: Any, problems: list[str]) -> dict[str, PaymentStatus]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"payment_statuses: must map each payment status name to a canonical one, "
                        f"not be a {type(value).__name__}")
        return {}
    result: dict[str, PaymentStatus] = {}
    for raw_key, target in value.items():
        name = _key("payment_statuses", raw_key, problems)
        if name is None:
            continue
        if target in list(PaymentStatus):
            result[name] = PaymentStatus(target)
        else:
            problems.append(f'payment_statuses."{name}": '
                            + _not_one_of(target, "a payment status", PaymentStatus))
    return result


def _splits(value: Any, statuses: dict[str, StatusRule], partial: bool,
            problems: list[str]) -> dict[str, tuple[tuple[str, StatusRule], ...]]:
    """``splits: {code: [{words: [...], status: ..., label: ...}, ...]}``: each alternative is a rule of its own."""
    if not isinstance(value, dict):
        problems.append(f"splits: must map a code to its alternatives, not {type(value).__name__}")
        return {}
    result: dict[str, tuple[tuple[str, StatusRule], ...]] = {}
    for raw_key, alternatives in value.items():
        code = _key("splits", raw_key, problems)
        if code is None:
            continue
        if not partial and code not in statuses:
            problems.append(f'splits."{code}": not a code this file maps; split a mapped status')
        if not isinstance(alternatives, list):
            problems.append(f'splits."{code}": must be a list of alternatives')
            continue
        pairs: list[tuple[str, StatusRule]] = []
        for i, alt in enumerate(alternatives):
            path = f'splits."{code}"[{i}]'
            words = alt.get("words") if isinstance(alt, dict) else None
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
                problems.append(f"{path}.words: a non-empty list of words the comment may contain")
                continue
            rule = _rule(path, {k: v for k, v in alt.items() if k != "words"}, problems)
            if rule is not None:
                pairs += [(w.strip().casefold(), rule) for w in words]
        result[code] = tuple(pairs)
    return result


def _push(value: Any, statuses: dict[str, StatusRule], partial: bool,
          problems: list[str]) -> dict[str, dict[str, str]]:
    """``commands`` and ``cancel_reasons`` name marketplace codes the file maps; ``refused`` holds explanations."""
    if not isinstance(value, dict):
        problems.append(f"push: must be a mapping with {', '.join(_PUSH_KEYS)}, not {type(value).__name__}")
        return {}
    result: dict[str, dict[str, str]] = {}
    for section, entries in value.items():
        if section not in _PUSH_KEYS:
            problems.append(f"push.{section}: unknown key; push has {', '.join(_PUSH_KEYS)}")
            continue
        if not isinstance(entries, dict):
            problems.append(f"push.{section}: must be a mapping, not {type(entries).__name__}")
            continue
        allowed = [str(k) for k in _PUSH_KEYS[section]]
        result[section] = {}
        for key, target in entries.items():
            if key not in allowed:
                problems.append(f"push.{section}.{key}: " + _not_one_of(key, "a known name", allowed))
            elif section != "refused" and not partial and str(target) not in statuses:
                problems.append(f"push.{section}.{key}: {target!r} is not a code this file maps")
            else:
                result[section][key] = str(target)
    return result


def _consistency(status: Status, reason: CancelReason | None) -> list[tuple[str, str]]:
    """A cancel reason belongs to a cancellation and every cancellation has one: ERPs report on them."""
    if status is Status.CANCELLED and reason is None:
        return [("cancel_reason", "missing; a cancelled status needs one of: " + ", ".join(CancelReason))]
    if status is not Status.CANCELLED and reason is not None:
        return [("cancel_reason", f"only a cancelled status takes a cancel reason, and this one is {status}")]
    return []


def _merge(base: dict[str, Any], over: dict[str, Any], over_source: str) -> dict[str, Any]:
    # A name or kind that differs means the override was written for another marketplace: refuse, don't mix.
    for key in ("name", "kind"):
        if key in over and over[key] != base[key]:
            raise ConfigError(f"{key}: {over[key]!r} does not match the mapping it overrides ({base[key]!r})",
                              path=over_source, hint="leave name and kind out of an override, or match them")
    added = tuple(code for code in over.get("documented", ()) if code not in base["documented"])
    both = [code for code in over.get("observed", ()) if code in base["documented"] + added]
    if both:
        raise ConfigError(f"observed: {', '.join(map(repr, both))} {'is' if len(both) == 1 else 'are'} documented; "
                          "a code is one or the other",
                          path=over_source, hint=_HINT)
    seen = tuple(code for code in over.get("observed", ()) if code not in base.get("observed", ()))
    return {
        **base,
        "documented": base["documented"] + added,
        "observed": tuple(c for c in base.get("observed", ()) if c not in added) + seen,
        "statuses": {**base["statuses"], **over.get("statuses", {})},
        "ttn_format": over.get("ttn_format", base.get("ttn_format", "")),
        "payment_statuses": {**base.get("payment_statuses", {}), **over.get("payment_statuses", {})},
        "splits": {**base.get("splits", {}), **over.get("splits", {})},
        "push": {section: {**base.get("push", {}).get(section, {}), **over.get("push", {}).get(section, {})}
                 for section in {*base.get("push", {}), *over.get("push", {})}},
    }


def _not_one_of(value: Any, what: str, allowed: Iterable[str]) -> str:
    return f"{value!r} is not {what}; one of: {', '.join(allowed)}"
