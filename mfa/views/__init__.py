"""The second-factor screens: enrolment (J8), the challenge and account recovery (J10,
J11), and the success page with its changes (J9)."""
