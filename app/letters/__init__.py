"""The public pages of a letter: its text, its count and its list of signers."""
