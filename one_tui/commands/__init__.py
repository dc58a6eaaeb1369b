"""`one-tui` sub-commands, one module each (`add_parser(sub)`, `run(ns) -> int`)."""
