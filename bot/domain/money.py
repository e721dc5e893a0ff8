"""Amounts of money as whole micro-units (a millionth of the currency's unit).

The ledger adds and subtracts amounts on every enqueue and delivery and must come
back to exactly what the jobs hold, which floats cannot promise; a millionth is
finer than any provider's per-second price (fal's cheapest are $0.0x a second).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

MICROS_PER_UNIT = 1_000_000
# A budget or a price above this is a typo, not a plan; far inside 64-bit integers.
MAX_AMOUNT_MICROS = 1_000_000_000 * MICROS_PER_UNIT
DEFAULT_CURRENCY = "USD"
CURRENCY_PATTERN = r"^[A-Z]{3}$"  # an ISO 4217 code


def to_micros(amount: float | str | Decimal) -> int:
    """An amount in the currency's unit as micro-units, rounded to the nearest (0.1 + 0.2 is 300000)."""
    try:
        # Through the shortest decimal text of a float, so 0.168 is 168000, not 167999.
        value = Decimal(repr(amount) if isinstance(amount, float) else amount)
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not an amount")
    return int((value * MICROS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_EVEN))


def format_money(micros: int, currency: str) -> str:
    """Cents for whole-cent amounts ("2.40 USD"), every digit that counts otherwise ("0.052 USD")."""
    return f"{format_amount(micros)} {currency}"


def format_amount(micros: int) -> str:
    """The number alone, as `format_money` writes it."""
    sign = "-" if micros < 0 else ""
    units, rest = divmod(abs(micros), MICROS_PER_UNIT)
    decimals = f"{rest:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{units}.{decimals}"
