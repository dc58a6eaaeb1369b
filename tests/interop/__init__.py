"""Interop with ONE-api itself: files one-tui writes, read and written by ONE 3.6.1 and 2.11.2."""
