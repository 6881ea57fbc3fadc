"""People signing in: passwords, browser sessions, two-factor, invitations, password resets."""
