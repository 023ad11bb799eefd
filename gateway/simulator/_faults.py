"""Fault injection: latency, 5xx, 429 + Retry-After, dropped connections, malformed JSON,
and the drift mode (answer in SDK 0.5.0 shapes).

A fault is a :class:`FaultRule`: a kind, how often it fires (the next ``count`` matching
requests, or each matching request with probability ``ratio``, or every matching request
when neither is given) and an optional scope (HTTP method and/or path prefix). Rules are
checked in insertion order; latency rules all apply (their delays add up) and the first
matching terminal rule (error, rate_limit, drop, malformed) decides the response.
Probabilities use a seeded RNG, so a seeded run injects the same faults.

``drift_status_literals`` goes one step past SDK 0.5.0: in drift mode, rows render the
mapped call statuses under literals newer than any contract (e.g. ``{"queued_for_calling":
"waiting_in_line"}``), in bodies and in the ``statuses`` filter alike.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["FAULT_KINDS", "FaultRule", "Faults"]

FAULT_KINDS = ("latency", "error", "rate_limit", "drop", "malformed")


@dataclass
class FaultRule:
    kind: str
    count: int | None = None  # fire for the next N matching requests, then expire
    ratio: float | None = None  # fire with this probability per matching request
    status: int = 503  # for "error"
    retry_after: float | None = 1.0  # seconds: "rate_limit" always sends it, "error" if set
    seconds: float = 0.0  # for "latency"
    method: str | None = None
    path: str | None = None  # path prefix, e.g. "/campaigns" or "/campaigns/cmp_1/rows"
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or path.startswith(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Faults:
    """The mutable fault configuration of one simulator (``sim.faults``)."""

    def __init__(self, seed: int = 0) -> None:
        self.rules: list[FaultRule] = []
        self.drift = False
        self.drift_status_literals: dict[str, str] = {}  # drifted call status -> new literal
        self._rng = random.Random(f"{seed}:faults")

    # -- configuration -------------------------------------------------------------------
    def set(self, kind: str, *, count: int | None = None, ratio: float | None = None,
            status: int | None = None, retry_after: float | None = None,
            seconds: float | None = None, method: str | None = None,
            path: str | None = None) -> FaultRule:
        """Add a rule. ``kind`` is one of FAULT_KINDS (or "drift" to switch drift on)."""
        if kind == "drift":
            self.drift = True
            return FaultRule(kind="drift")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if count is not None and count < 0:
            raise ValueError("count must be >= 0")
        if ratio is not None and not 0.0 <= ratio <= 1.0:
            raise ValueError("ratio must be between 0 and 1")
        if kind == "error" and status is not None and not 400 <= status <= 599:
            raise ValueError("error faults must use a 4xx or 5xx status")
        if kind == "latency" and (seconds is None or seconds < 0):
            raise ValueError("latency faults need seconds >= 0")
        rule = FaultRule(
            kind=kind, count=count, ratio=ratio,
            status=status if status is not None else (500 if ratio is not None else 503),
            retry_after=retry_after if retry_after is not None or kind == "error" else 1.0,
            seconds=seconds or 0.0, method=method, path=path,
        )
        self.rules.append(rule)
        return rule

    def add_latency(self, seconds: float, **scope: Any) -> FaultRule:
        return self.set("latency", seconds=seconds, **scope)

    def fail_next(self, n: int = 1, status: int = 503, retry_after: float | None = None,
                  **scope: Any) -> FaultRule:
        """The next ``n`` matching requests answer ``status`` (4xx or 5xx), with a
        Retry-After header when ``retry_after`` is given."""
        return self.set("error", count=n, status=status, retry_after=retry_after, **scope)

    def fail_ratio(self, ratio: float, status: int = 500, **scope: Any) -> FaultRule:
        return self.set("error", ratio=ratio, status=status, **scope)

    def rate_limit_next(self, n: int = 1, retry_after: float = 1.0, **scope: Any) -> FaultRule:
        return self.set("rate_limit", count=n, retry_after=retry_after, **scope)

    def drop_next(self, n: int = 1, **scope: Any) -> FaultRule:
        return self.set("drop", count=n, **scope)

    def malformed_next(self, n: int = 1, **scope: Any) -> FaultRule:
        return self.set("malformed", count=n, **scope)

    def clear(self) -> None:
        """Remove every rule and switch drift (and its renamed literals) off."""
        self.rules.clear()
        self.drift = False
        self.drift_status_literals = {}

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a JSON spec (control API): {"drift": bool, "clear": bool, "faults": [..],
        "drift_status_literals": {status: literal}}.

        Each item of ``faults`` is the keyword arguments of :meth:`set` plus ``kind``.
        A single rule may also be given at top level: {"kind": "error", "count": 2}.
        """
        if spec.get("clear"):
            self.clear()
        if "drift" in spec:
            self.drift = bool(spec["drift"])
        if "drift_status_literals" in spec:
            literals = spec["drift_status_literals"] or {}
            if not isinstance(literals, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) and v for k, v in literals.items()):
                raise ValueError("drift_status_literals must map call statuses to literals")
            self.drift_status_literals = dict(literals)
        top = ("drift", "clear", "faults", "drift_status_literals")
        items = list(spec.get("faults") or [])
        if "kind" in spec:
            items.append({k: v for k, v in spec.items() if k not in top})
        allowed = {"kind", "count", "ratio", "status", "retry_after", "seconds", "method", "path"}
        for item in items:
            if not isinstance(item, dict) or "kind" not in item:
                raise ValueError("each fault must be an object with a 'kind'")
            unknown = set(item) - allowed
            if unknown:
                raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
            kind = item.pop("kind")
            self.set(kind, **item)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"drift": self.drift, "faults": [r.to_dict() for r in self.rules]}
        if self.drift_status_literals:
            out["drift_status_literals"] = dict(self.drift_status_literals)
        return out

    # -- evaluation ----------------------------------------------------------------------
    def _fires(self, rule: FaultRule) -> bool:
        if rule.count is not None:
            if rule.count <= 0:
                return False
            rule.count -= 1
            return True
        if rule.ratio is not None:
            return self._rng.random() < rule.ratio
        return True

    def pick(self, method: str, path: str) -> tuple[float, FaultRule | None]:
        """(total added latency, the terminal rule to apply or None) for one request."""
        delay = 0.0
        chosen: FaultRule | None = None
        for rule in self.rules:
            if not rule.matches(method, path):
                continue
            if rule.kind == "latency":
                if self._fires(rule):
                    rule.fired += 1
                    delay += rule.seconds
            elif chosen is None and self._fires(rule):
                rule.fired += 1
                chosen = rule
        # Spent count-based rules are removed so the state stays readable.
        self.rules = [r for r in self.rules if r.count is None or r.count > 0]
        return delay, chosen
