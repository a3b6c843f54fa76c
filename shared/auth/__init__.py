"""Who is calling: bearer JWTs from the host app's identity provider."""
