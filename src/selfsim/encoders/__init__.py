"""Encoders: turn texts into unit-length vectors."""
