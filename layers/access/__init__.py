"""Access and audit: who is looking, what they may see, suppression, the audit log."""
