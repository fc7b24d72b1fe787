"""What the recovery screens say, in English and in French, as a person reads it (the
recovery slice's part of ``wording.py``, kept apart so the slices' words merge cleanly).

The French is the catalogue's, in the vocabulary of JOURNEYS.md (J2, J6, J7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.recovery.flows import (
    ANSWER,
    DATE_HINT,
    MEMORABLE,
    PERSON,
    PERSON_HINT,
    QUESTION,
)


@dataclass(frozen=True)
class RecoveryWording:
    questions_title: str
    recovery_question: str
    recovery_answer: str
    person_hint: str
    memorable_person: str
    date_hint: str
    memorable_date: str
    forgot_username: str
    forgot_password: str
    recovery_email: str
    step_1_of_2: str
    step_2_of_2: str
    step_1_of_4: str
    step_2_of_4: str
    step_3_of_4: str
    completed: str
    questions_route: str
    new_password: str
    confirm_new_password: str
    password_changed: str
    recovery_information: str
    change_questions: str
    change_email: str
    questions_changed: str
    email_changed: str


RECOVERY_WORDING = {
    "en": RecoveryWording(
        questions_title="Recovery questions",
        recovery_question="My recovery question",
        recovery_answer="My recovery answer",
        person_hint="Hint for my memorable person",
        memorable_person="My memorable person",
        date_hint="Hint for my memorable date",
        memorable_date="My memorable date",
        forgot_username="Forgot your username?",
        forgot_password="Forgot your password?",
        recovery_email="Recovery email",
        step_1_of_2="Step 1 of 2",
        step_2_of_2="Step 2 of 2",
        step_1_of_4="Step 1 of 4",
        step_2_of_4="Step 2 of 4",
        step_3_of_4="Step 3 of 4",
        completed="Completed",
        questions_route="Recovery questions and answers",
        new_password="New password",
        confirm_new_password="Confirm the new password",
        password_changed="Your password has been changed.",
        recovery_information="Recovery information",
        change_questions="Change my recovery questions",
        change_email="Change my recovery email",
        questions_changed="Your recovery questions have been changed.",
        email_changed="Your recovery email has been changed.",
    ),
    "fr": RecoveryWording(
        questions_title="Questions de récupération",
        recovery_question="Ma question de récupération",
        recovery_answer="Ma réponse de récupération",
        person_hint="Indice pour ma personne mémorable",
        memorable_person="Ma personne mémorable",
        date_hint="Indice pour ma date mémorable",
        memorable_date="Ma date mémorable",
        forgot_username="Vous avez oublié votre nom d'utilisateur?",
        forgot_password="Vous avez oublié votre mot de passe?",
        recovery_email="Courriel de récupération",
        step_1_of_2="Étape 1 sur 2",
        step_2_of_2="Étape 2 sur 2",
        step_1_of_4="Étape 1 sur 4",
        step_2_of_4="Étape 2 sur 4",
        step_3_of_4="Étape 3 sur 4",
        completed="Complété",
        questions_route="Questions et réponses de récupération",
        new_password="Nouveau mot de passe",
        confirm_new_password="Confirmer le nouveau mot de passe",
        password_changed="Votre mot de passe a été modifié.",
        recovery_information="Renseignements de récupération",
        change_questions="Modifier mes questions de récupération",
        change_email="Modifier mon courriel de récupération",
        questions_changed="Vos questions de récupération ont été modifiées.",
        email_changed="Votre courriel de récupération a été modifié.",
    ),
}


def fill_questions(visitor: Any) -> None:
    """Write the security questions of J2 by their labels (the page is not submitted)."""
    r = RECOVERY_WORDING[visitor.locale]
    visitor.field(r.recovery_question).fill(QUESTION)
    visitor.field(r.recovery_answer).fill(ANSWER)
    visitor.field(r.person_hint).fill(PERSON_HINT)
    visitor.field(r.memorable_person).fill(PERSON)
    visitor.field(r.date_hint).fill(DATE_HINT)
    visitor.field(r.memorable_date).fill(MEMORABLE.isoformat())
