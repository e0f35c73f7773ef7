"""Every size limit of the expression language, in one place.

They are far above what a sensible admin expression needs and far below what
it takes to hurt the process: the parser enforces the first three before any
translation, the operators and functions the rest while evaluating.
"""

from __future__ import annotations

MAX_SOURCE_LENGTH = 2000
MAX_NODES = 500
MAX_DEPTH = 50
MAX_EXPONENT = 100
MAX_INT_BITS = 4096
MAX_FLOAT_MAGNITUDE = 1e300
MAX_SEQUENCE_LENGTH = 100_000
MAX_DATE_TEXT = 64
MAX_NDIGITS = 100
MAX_NUMBER_TEXT = 400

#: How many distinct compiled expressions are kept.
CACHE_SIZE = 4096
