"""Configuration bundles: one JSON document carrying roles, workflows, types and seed records.

``format`` reads and writes the document, ``export`` builds one from the
database, ``importer`` previews and applies one, ``seeds`` loads the shipped
bundles at ``labledger init`` and ``cli`` adds ``labledger config``.
"""
