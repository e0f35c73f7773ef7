"""Periodic review and access review (EU GMP Annex 11 §§11, 12; 21 CFR 11.10(d), (g)):
reports for the quality unit, stated from the audit trail and the user tables."""
