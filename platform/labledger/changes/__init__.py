"""Change control: configuration changes proposed, reviewed, signed and activated.

EU GMP Annex 11 §10 and 21 CFR 11.10(k) expect configuration to change only
through a documented procedure. A change request holds proposed definitions
with a title and a reason; it shows what it changes in words a reviewer reads
and what it means for the records already here, is approved by the electronic
signature of someone other than its author, and becomes active in one
transaction.
"""
