"""The browser application: server-rendered Jinja2 pages with htmx, all from metadata."""
