"""one-tui: a terminal UI for ONE and Alyx.

Kept empty of imports so that `one-tui --help` and the first frame stay fast.
"""

__version__ = "0.1.0"
