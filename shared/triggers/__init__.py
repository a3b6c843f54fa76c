"""Timer and queue triggers: thin wrappers that call the core with the process's services."""
