"""Tests against the real Alyx 3.6.1: the app driven by Pilot, and the requests one-tui sends per
mode compared with ONE-api 2.11.2's for the same calls (from the server's access log)."""
