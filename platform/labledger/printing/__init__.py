"""Print templates: labels and documents of records, defined as configuration."""
