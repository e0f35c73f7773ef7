"""The record dossier: a complete, human-readable copy of one record (21 CFR 11.10(b))."""
