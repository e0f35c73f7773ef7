"""Dashboards: the lab at a glance, defined as configuration.

A dashboard is a versioned configuration item (kind ``dashboard``, the
schema ``metadata/dashboard.schema.json``) published, bundled and changed
under change control like a print template. Its panels count the records of
one type each: per state, overdue, turnaround between two transitions, the
weekly rate of a yes/no field. ``definitions`` publishes and reads them,
``fit`` checks a panel against the configuration, ``queries`` asks the
database, ``panels`` turns the answers into each panel's numbers (one table
for the page, the CSV and the API) and ``charts`` draws them as SVG.
"""
