"""The HTTP front end: the web server (links, health, metrics), the team API and its webhooks."""
