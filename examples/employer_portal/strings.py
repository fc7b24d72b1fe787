"""Every sentence the sample portal shows, in English and in French.

A portal of its own, so it has its own small dictionary rather than Clef's catalogue.
The wording follows the employer portal of the model service's help page
(``shared/seed``), told of Clef.
"""

from __future__ import annotations

LANGUAGES = ("en", "fr")
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "portal": "Employer Portal",
        "skip": "Skip to main content",
        "language": "Language",
        "home_title": "Employer Portal: Sign in",
        "intro": (
            "The Employer Portal is for employers who hire temporary workers. It lets "
            "employers submit job offers for temporary workers."
        ),
        "access": "Access the Employer Portal",
        "sign_in": "Sign in with Clef",
        "how_title": "Don't know how to sign in?",
        "how_text": (
            "You sign in to the Employer Portal with your Clef username and password, "
            "then your second factor. Use the same credential each time you sign in."
        ),
        "devices": (
            "You can use the same Clef username and password on all your devices "
            "(computers, phones and tablets)."
        ),
        "register_title": "Register",
        "register_text": (
            "No Clef username yet? Choose “Sign in with Clef”, then “Register” on the "
            "Clef page."
        ),
        "bookmarks": (
            "Do not bookmark the pages you see once signed in: you must sign in to see them."
        ),
        "signed_in_notice": "You are signed in.",
        "go_to_account": "Go to your employer account",
        "signed_out_notice": "You are signed out of the Employer Portal.",
        "account_title": "Your employer account",
        "account_intro": "You are signed in with Clef.",
        "claims_title": "What Clef told the portal",
        "claims_text": (
            "Clef gives this portal an identifier that is used for it alone, and says when "
            "and how you signed in. It does not give your username."
        ),
        "claim_sub": "Your identifier for this portal (sub)",
        "claim_acr": "Level of the sign-in (acr)",
        "claim_amr": "Methods used (amr)",
        "claim_auth_time": "Signed in at (auth_time)",
        "claim_iss": "Issuer (iss)",
        "claim_aud": "Audience (aud)",
        "userinfo_title": "UserInfo",
        "userinfo_sub": "Identifier (sub)",
        "acr_urn:clef:acr:authenticator-app": "authenticator app",
        "acr_urn:clef:acr:email-code": "emailed code",
        "acr_urn:clef:acr:recovery-code": "recovery code",
        "acr_urn:clef:acr:phishing-resistant": "security key or passkey",
        "sign_out": "Sign out",
        "error_title": "Sign-in did not work",
        "error_text": "The portal could not complete your sign-in with Clef. Nothing was saved.",
        "try_again": "Try again",
        "footer": "A sample portal that signs people in with Clef (OpenID Connect).",
    },
    "fr": {
        "portal": "Portail des employeurs",
        "skip": "Passer au contenu principal",
        "language": "Langue",
        "home_title": "Portail des employeurs\u00a0: Se connecter",
        "intro": (
            "Le Portail des employeurs est destiné aux employeurs qui embauchent des "
            "travailleurs temporaires. Il leur permet de soumettre des offres d'emploi pour "
            "des travailleurs temporaires."
        ),
        "access": "Accès au Portail des employeurs",
        "sign_in": "Se connecter avec Clef",
        "how_title": "Vous ne savez pas comment vous connecter?",
        "how_text": (
            "Vous vous connectez au Portail des employeurs avec votre nom d'utilisateur et "
            "votre mot de passe de Clef, puis votre deuxième facteur. Utilisez le même "
            "justificatif chaque fois que vous ouvrez une session."
        ),
        "devices": (
            "Vous pouvez utiliser le même nom d'utilisateur et le même mot de passe de Clef "
            "sur tous vos appareils (ordinateurs, téléphones et tablettes)."
        ),
        "register_title": "S'inscrire",
        "register_text": (
            "Vous n'avez pas encore de nom d'utilisateur Clef? Choisissez «\u00a0Se connecter "
            "avec Clef\u00a0», puis «\u00a0S'inscrire\u00a0» sur la page de Clef."
        ),
        "bookmarks": (
            "N'ajoutez pas à vos favoris les pages que vous voyez une fois connecté\u00a0: "
            "vous devez vous connecter pour les voir."
        ),
        "signed_in_notice": "Vous êtes connecté.",
        "go_to_account": "Aller à votre compte d'employeur",
        "signed_out_notice": "Vous êtes déconnecté du Portail des employeurs.",
        "account_title": "Votre compte d'employeur",
        "account_intro": "Vous êtes connecté avec Clef.",
        "claims_title": "Ce que Clef a transmis au portail",
        "claims_text": (
            "Clef donne à ce portail un identifiant qui ne sert qu'à lui, et indique quand "
            "et comment vous vous êtes connecté. Il ne transmet pas votre nom d'utilisateur."
        ),
        "claim_sub": "Votre identifiant pour ce portail (sub)",
        "claim_acr": "Niveau de la connexion (acr)",
        "claim_amr": "Méthodes utilisées (amr)",
        "claim_auth_time": "Connecté le (auth_time)",
        "claim_iss": "Émetteur (iss)",
        "claim_aud": "Destinataire (aud)",
        "userinfo_title": "UserInfo",
        "userinfo_sub": "Identifiant (sub)",
        "acr_urn:clef:acr:authenticator-app": "application d'authentification",
        "acr_urn:clef:acr:email-code": "code par courriel",
        "acr_urn:clef:acr:recovery-code": "code de récupération",
        "acr_urn:clef:acr:phishing-resistant": "clé de sécurité ou clé d'accès",
        "sign_out": "Se déconnecter",
        "error_title": "La connexion n'a pas fonctionné",
        "error_text": (
            "Le portail n'a pas pu terminer votre connexion avec Clef. Rien n'a été enregistré."
        ),
        "try_again": "Réessayer",
        "footer": "Un portail d'exemple qui connecte les personnes avec Clef (OpenID Connect).",
    },
}
