"""What the security-questions page shows for a username with no questions: an unknown
username, a revoked credential, or an account that never set them (S6).

Showing "no questions" would tell anyone who types a username whether it exists. So the
page shows a question and hints picked from these lists by a keyed hash of the username:
the same every time for one username, in one language whatever the page's language (a
real person's hints are not translated either), and answered by nothing (the check runs
against the dummy hash).
"""

from __future__ import annotations

from idp.keys import KeyRing
from recovery.answers import Hints

DECOY_PURPOSE = "recovery.decoy-hints"

QUESTIONS = {
    "en": ("What was the name of my first school?", "What street did I grow up on?",
           "What was my first job?", "What was the name of my first pet?",
           "Which city did I first fly to?", "What was my childhood nickname?"),
    "fr": ("Quel était le nom de ma première école?", "Dans quelle rue ai-je grandi?",
           "Quel a été mon premier emploi?", "Quel était le nom de mon premier animal?",
           "Vers quelle ville ai-je pris l'avion la première fois?",
           "Quel était mon surnom d'enfance?"),
}
PEOPLE = {
    "en": ("My favourite teacher", "My oldest friend", "My first manager", "A neighbour",
           "My godmother", "My music teacher"),
    "fr": ("Mon enseignant préféré", "Mon plus vieil ami", "Ma première patronne",
           "Une voisine", "Ma marraine", "Mon professeur de musique"),
}
DATES = {
    "en": ("A summer trip", "The day we moved", "A first concert", "A graduation",
           "A wedding", "The first snow"),
    "fr": ("Un voyage d'été", "Le jour du déménagement", "Un premier concert",
           "Une remise de diplômes", "Un mariage", "La première neige"),
}


def decoy_hints(keys: KeyRing, username_key: str) -> Hints:
    digest = bytes.fromhex(keys.keyed_hash(DECOY_PURPOSE, username_key))
    language = ("en", "fr")[digest[0] % 2]
    return Hints(
        question=QUESTIONS[language][digest[1] % len(QUESTIONS[language])],
        person_hint=PEOPLE[language][digest[2] % len(PEOPLE[language])],
        date_hint=DATES[language][digest[3] % len(DATES[language])],
    )
