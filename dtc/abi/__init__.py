"""Device tree ABI stability: what a newer tree takes away from users of an older one.

normalise (a tree as a record: phandles as paths, values decoded) -> match
(which old node is which new node) -> diff (changes, classed by the rules as
data in rules.py); baseline keeps records per kernel version for CI; schemas
compares binding schemas as dt-cmp-schema does.
"""

from .diff import Comparison, Finding, diff
from .normalise import normalise
from .rules import RULES, RuleSet

__all__ = ["RULES", "Comparison", "Finding", "RuleSet", "diff", "normalise"]
