"""The simulated Microsoft side: Entra ID directory and identity platform, and Microsoft Graph."""
