"""What the pages say, in English and in French, as a person reads it.

The English is the msgids of the templates and views; the French is the catalogue's
(``translations/fr/LC_MESSAGES/messages.po``), in the vocabulary of JOURNEYS.md. Tests
find fields by these labels and check these messages, so a page that drops a label or a
translation fails here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wording:
    language_name: str  # how the language toggle names this language
    sign_in: str
    register: str
    continue_: str
    username: str
    password: str
    confirm_password: str
    recovery_email: str
    confirmation_code: str
    confirm_email_title: str
    two_factor_title: str
    setup_handoff: str  # the set-up hand-off after registration (J2 -> J8)
    challenge_handoff: str  # the second-factor step after the password (J1)
    wrong_credentials: str
    locked_1_minute: str
    locked_2_minutes: str
    common_password: str
    contains_username: str
    session_expired: str
    sign_in_again: str
    idle_warning_title: str
    stay_signed_in: str
    revoked_title: str
    register_again: str


WORDING = {
    "en": Wording(
        language_name="English",
        sign_in="Sign in",
        register="Register",
        continue_="Continue",
        username="Username",
        password="Password",
        confirm_password="Confirm password",
        recovery_email="Recovery email (optional)",
        confirmation_code="Confirmation code",
        confirm_email_title="Confirm your recovery email",
        two_factor_title="Two-factor authentication",
        setup_handoff="The next step is to set up two-factor authentication",
        challenge_handoff="The next step is two-factor authentication",
        wrong_credentials="The username or password is not correct.",
        locked_1_minute="Too many attempts. Try again in 1 minute.",
        locked_2_minutes="Too many attempts. Try again in 2 minutes.",
        common_password="one of the most common passwords",
        contains_username="The password must not contain your username.",
        session_expired="Session expired",
        sign_in_again="Sign in again",
        idle_warning_title="Your session is about to expire",
        stay_signed_in="Stay signed in",
        revoked_title="Username and password revoked",
        register_again="register again with each portal",
    ),
    "fr": Wording(
        language_name="Français",
        sign_in="Se connecter",
        register="S'inscrire",
        continue_="Continuer",
        username="Nom d'utilisateur",
        password="Mot de passe",
        confirm_password="Confirmer le mot de passe",
        recovery_email="Courriel de récupération (facultatif)",
        confirmation_code="Code de confirmation",
        confirm_email_title="Confirmez votre courriel de récupération",
        two_factor_title="Authentification à deux facteurs",
        setup_handoff="L'étape suivante consiste à configurer l'authentification à deux facteurs",
        challenge_handoff="L'étape suivante est l'authentification à deux facteurs",
        wrong_credentials="Le nom d'utilisateur ou le mot de passe est incorrect.",
        locked_1_minute="Trop de tentatives. Réessayez dans 1 minute.",
        locked_2_minutes="Trop de tentatives. Réessayez dans 2 minutes.",
        common_password="mots de passe les plus courants",
        contains_username="Le mot de passe ne doit pas contenir votre nom d'utilisateur.",
        session_expired="Session expirée",
        sign_in_again="Se reconnecter",
        idle_warning_title="Votre session va bientôt expirer",
        stay_signed_in="Continuer la session",
        revoked_title="Nom d'utilisateur et mot de passe révoqués",
        register_again="inscrivez-vous à nouveau à chaque portail",
    ),
}
