"""Sign-in partners (J14, issue 13): Clef as a broker. Portals keep talking OpenID
Connect to Clef only; Clef talks OpenID Connect to the partners (upstream providers
registered by an administrator) and links each partner identity to a Clef account."""
