"""The secret store: tokens, client secrets, webhook client states and signing keys."""
