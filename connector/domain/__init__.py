"""The canonical model. Pure: no I/O, no clocks except where a caller passes ``now``."""

from connector.domain.commands import COMMANDS, Command, CommandKind, build_command
from connector.domain.lifecycle import (
    Actor,
    CancelReason,
    Outcome,
    SHIPMENT_TERMINAL,
    PaymentStatus,
    ShipmentStatus,
    Status,
    decide,
)
from connector.domain.order import (
    Buyer,
    MarketplaceStatus,
    Order,
    OrderKey,
    OrderLine,
    RawPayload,
    Shipment,
    StatusEvent,
    utcnow,
)

__all__ = [
    "COMMANDS", "SHIPMENT_TERMINAL", "Actor", "Buyer", "CancelReason", "Command", "CommandKind", "MarketplaceStatus", "Order",
    "OrderKey", "OrderLine", "Outcome", "PaymentStatus", "RawPayload", "Shipment", "ShipmentStatus", "Status", "StatusEvent",
    "build_command", "decide", "utcnow",
]
