"""Publish: the public monthly site, written once and read by the public view."""
