"""Configuration bundles: one JSON document carrying a configuration and seed records.

The configuration is roles, workflows, object types, import mappings,
print templates and dashboards.

``format`` reads and writes the document, ``export`` builds one from the
database, ``importer`` previews and applies one (its rooms: ``resolve``,
``publish``, ``impact``, ``dryrun``, ``apply``, ``report``, ``access``),
``seeds`` loads the shipped bundles at ``labledger init`` and ``cli`` adds
``labledger config``.
"""
