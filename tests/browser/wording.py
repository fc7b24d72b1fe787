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
    setup_title: str  # the second-factor set-up after registration (J2 -> J8)
    setup_handoff: str
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
    sign_out: str
    account_title: str
    # Second factors (J8-J11)
    method_app: str
    method_email: str
    app_setup_title: str
    qr_code: str
    code: str
    confirm: str
    wrong_code: str
    email_setup_title: str
    setup_code_mail: str
    recovery_codes_title: str
    download: str
    copy: str
    copied: str
    print_: str
    saved_codes: str
    saved_codes_required: str
    authenticated_title: str
    change_title: str
    changed_mail: str
    recover_account: str
    recovery_code: str
    recovery_code_refused: str
    back_to_code: str
    recovered_notice: str
    recovery_codes_left: str
    recovery_code_used_mail: str
    lost_codes: str
    lost_title: str
    lost_explained: str
    register_new_credential: str
    form_expired: str  # a form posted after its token (or a visitor's cookie, D15) expired


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
        setup_title="Set up two-factor authentication",
        setup_handoff="Two-factor authentication is mandatory.",
        challenge_handoff="Enter the 6-digit code your authenticator app shows for this service.",
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
        sign_out="Sign out",
        account_title="Your account",
        method_app="Authenticator app (recommended)",
        method_email="Email",
        app_setup_title="Set up your authenticator app",
        qr_code="QR code to scan with your authenticator app",
        code="Code",
        confirm="Confirm",
        wrong_code="That code is not correct. Check it and try again.",
        email_setup_title="Set up email codes",
        setup_code_mail="Your code to set up email codes as your second factor is:",
        recovery_codes_title="Your recovery codes",
        download="Download",
        copy="Copy",
        copied="Copied",
        print_="Print",
        saved_codes="I have saved my recovery codes in a safe place",
        saved_codes_required="Confirm that you have saved your codes.",
        authenticated_title="Authentication successful",
        change_title="Change your two-factor authentication",
        changed_mail="was set up again, with an authenticator app.",
        recover_account="Recover the account",
        recovery_code="Recovery code",
        recovery_code_refused="That recovery code is not correct, or it was already used.",
        back_to_code="Back to the code from my method",
        recovered_notice="You signed in with a recovery code.",
        recovery_codes_left="Recovery codes left",
        recovery_code_used_mail="with one of your recovery codes instead of your two-factor method.",
        lost_codes="I have lost my method and my recovery codes",
        lost_title="Lost your method and your recovery codes",
        lost_explained="Register a new username and password",
        register_new_credential="Register a new credential",
        form_expired="This form has expired or was sent from another page. Go back, "
                     "reload the page and try again.",
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
        setup_title="Configurer l'authentification à deux facteurs",
        setup_handoff="L'authentification à deux facteurs est obligatoire.",
        challenge_handoff=(
            "Saisissez le code à 6 chiffres que votre application d'authentification affiche "
            "pour ce service."
        ),
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
        sign_out="Se déconnecter",
        account_title="Votre compte",
        method_app="Application d'authentification (recommandée)",
        method_email="Courriel",
        app_setup_title="Configurer votre application d'authentification",
        qr_code="Code QR à balayer avec votre application d'authentification",
        code="Code",
        confirm="Confirmer",
        wrong_code="Ce code est incorrect. Vérifiez-le et réessayez.",
        email_setup_title="Configurer les codes par courriel",
        setup_code_mail="Votre code pour configurer les codes par courriel comme deuxième facteur est\u00a0:",
        recovery_codes_title="Vos codes de récupération",
        download="Télécharger",
        copy="Copier",
        copied="Copiés",
        print_="Imprimer",
        saved_codes="J'ai conservé mes codes de récupération en lieu sûr",
        saved_codes_required="Confirmez que vous avez conservé vos codes.",
        authenticated_title="Confirmation d'authentification réussie",
        change_title="Modifier votre authentification à deux facteurs",
        changed_mail="a été configurée à nouveau, avec une application d'authentification.",
        recover_account="Récupérer le compte",
        recovery_code="Code de récupération",
        recovery_code_refused="Ce code de récupération est incorrect ou il a déjà été utilisé.",
        back_to_code="Retour au code de ma méthode",
        recovered_notice="Votre connexion s'est faite avec un code de récupération.",
        recovery_codes_left="Codes de récupération restants",
        recovery_code_used_mail=(
            "avec l'un de vos codes de récupération au lieu de votre méthode d'authentification "
            "à deux facteurs."
        ),
        lost_codes="J'ai perdu ma méthode et mes codes de récupération",
        lost_title="Vous avez perdu votre méthode et vos codes de récupération",
        lost_explained="Inscrivez-vous pour obtenir un nouveau nom d'utilisateur et un nouveau mot de passe",
        register_new_credential="S'inscrire de nouveau",
        form_expired="Ce formulaire a expiré ou a été envoyé à partir d'une autre page. "
                     "Retournez à la page précédente, actualisez-la et réessayez.",
    ),
}
