"""Tests against the real Alyx 3.6.1 (marker ``real_alyx``) and contracts demo <-> real Alyx."""
