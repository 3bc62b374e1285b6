"""Signing a letter and confirming the signature by email."""
