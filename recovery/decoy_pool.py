"""The words decoy hints are made of (S6, D11): questions, memorable people and memorable
dates as people write them, in English and in French, composed from parts so that the
pool is large (thousands of hints per language and kind) rather than a short list an
observer could learn and recognise. Everything here is a tuple or a list, built in a
fixed order: a username must get the same decoys in every process.

A hint is a plain phrase a person might write about themselves; none names a real
person or place that could be looked up as an answer."""

from __future__ import annotations

PLACES = ("Sudbury", "Moncton", "Gatineau", "Trois-Rivières", "Winnipeg", "Halifax",
          "Kamloops", "Rimouski", "Saskatoon", "Kingston", "Victoria", "Sherbrooke",
          "Regina", "Charlottetown", "Chicoutimi", "Thunder Bay", "Lethbridge", "Gaspé",
          "Whitehorse", "Edmundston", "Sept-Îles", "Red Deer", "Timmins", "Yellowknife",
          "Fredericton", "Brandon", "Nanaimo", "Rouyn-Noranda", "Corner Brook", "Québec",
          "Ottawa", "Montréal", "Toronto", "Vancouver", "Calgary", "Paris", "Lyon",
          "Boston", "Dakar", "Porto", "Port-au-Prince", "Mexico", "Rome", "Beirut")

# --- English --------------------------------------------------------------------------

_EN_FIRST_NAMED = ("pet", "dog", "cat", "school", "teacher", "boss", "best friend",
                   "roommate", "coach", "stuffed animal", "goldfish", "hamster", "horse",
                   "employer", "landlord", "band", "babysitter", "neighbour", "hockey team",
                   "summer camp", "elementary school", "high school", "car", "boat",
                   "guitar teacher", "manager", "partner", "apartment building")
_EN_FIRST_WHAT = ("job", "car", "concert", "phone", "video game", "record", "summer job",
                  "apartment", "trip abroad", "sport", "instrument",
                  "email address", "bike", "movie in a theatre", "flight")
_EN_RELATIVES = ("mother", "father", "grandmother", "grandfather", "oldest sister",
                 "oldest brother", "youngest sister", "youngest brother", "aunt", "uncle",
                 "godmother", "godfather", "stepfather", "stepmother", "great-grandmother",
                 "mother-in-law", "father-in-law", "husband", "wife", "partner")
_EN_GRADES = ("grade 1", "grade 2", "grade 3", "grade 4", "grade 5", "grade 6",
              "grade 7", "grade 8", "kindergarten", "high school")
_EN_FREE = ("Where did we go on our honeymoon?", "What was the first album I bought?",
            "What did I name my first car?", "Where did I learn to swim?",
            "What was my favourite subject in school?", "What is my favourite dish?",
            "What was the name of the lake at the cottage?", "Where did I meet my spouse?",
            "What was my childhood nickname?", "What was the make of my first car?",
            "What was the colour of my first bike?", "Which team did I play for?",
            "What was the first movie I saw in a theatre?", "Where was my first apartment?",
            "What did I want to be when I grew up?", "Which hospital was I born in?",
            "What was the name of my street growing up?", "What is my favourite book?",
            "What was my first word?", "What instrument did I play as a kid?")

EN_QUESTIONS: tuple[str, ...] = (
    *(f"What was the name of my first {thing}?" for thing in _EN_FIRST_NAMED),
    *(f"What was my first {thing}?" for thing in _EN_FIRST_WHAT),
    *(f"Where was my {who} born?" for who in _EN_RELATIVES),
    *(f"In which city was my {who} born?" for who in _EN_RELATIVES),
    *(f"What is my {who}'s middle name?" for who in _EN_RELATIVES),
    *(f"What did my {who} call me?" for who in _EN_RELATIVES),
    *(f"What was my {who}'s first job?" for who in _EN_RELATIVES),
    *(f"What street did I live on in {grade}?" for grade in _EN_GRADES),
    *(f"Who was my {grade} teacher?" for grade in _EN_GRADES),
    *(f"What was my best friend's name in {grade}?" for grade in _EN_GRADES),
    *_EN_FREE,
)

_EN_PEOPLE = ("My aunt", "My uncle", "My cousin", "My godmother", "My godfather",
              "A neighbour", "My old neighbour", "My coach", "My piano teacher",
              "My music teacher", "My first boss", "My best friend", "My oldest friend",
              "My roommate", "My babysitter", "My scout leader", "My swimming instructor",
              "Our family doctor", "My pen pal", "My mentor", "My favourite teacher",
              "My grandmother's friend", "A colleague", "My first manager",
              "My driving instructor", "My hockey coach", "My university roommate",
              "My sister's friend", "My brother's friend", "The neighbour's kid")
_EN_PERSON_ENDINGS = ("", " from camp", " in high school", " at my first job",
                      " at university", " from the old neighbourhood", " at church",
                      " from the cottage", " on the soccer team", " from daycare",
                      *(f" from {place}" for place in PLACES),
                      *(f" when I was {age}" for age in range(6, 19)))
EN_PEOPLE: tuple[str, ...] = tuple(f"{who}{end}" for who in _EN_PEOPLE
                                   for end in _EN_PERSON_ENDINGS)

_EN_EVENTS = ("My wedding", "Our first date", "The day we got the dog", "My first day at work",
              "My graduation", "My grandfather's birthday", "My grandmother's birthday",
              "My first concert", "When I got my licence", "My citizenship ceremony",
              "The birth of my first child", "The birth of my daughter",
              "The birth of my son", "My niece's birthday", "My nephew's birthday",
              "The day I bought my first car", "My retirement", "A summer trip",
              "The first snow", "The day we moved", "My parents' anniversary",
              "Our engagement", "My first flight", "A family reunion", "My baptism",
              "My confirmation", "The day I started university", "A big storm",
              "My mother's birthday", "My father's birthday")
_EN_DATE_ENDINGS = ("", *(f" in {place}" for place in PLACES))
EN_DATES: tuple[str, ...] = (
    *(f"{event}{end}" for event in _EN_EVENTS for end in _EN_DATE_ENDINGS),
    *(f"The day I moved to {place}" for place in PLACES),
    *(f"Our trip to {place}" for place in PLACES),
)

# --- French ---------------------------------------------------------------------------

_FR_FIRST_NAMED = ("mon premier chien", "mon premier chat", "mon premier animal",
                   "ma première école", "mon premier enseignant", "ma première enseignante",
                   "mon premier patron", "ma première patronne", "mon meilleur ami",
                   "ma meilleure amie", "mon premier colocataire", "mon premier entraîneur",
                   "mon premier toutou", "mon premier poisson rouge", "mon premier hamster",
                   "mon premier cheval", "mon premier propriétaire", "mon premier groupe",
                   "ma première gardienne", "mon premier voisin", "ma première voisine",
                   "ma première équipe de hockey", "mon premier camp de vacances",
                   "mon école primaire", "mon école secondaire", "ma première voiture",
                   "mon premier bateau", "ma première gérante")
_FR_FIRST_WHAT = (("mon premier emploi", False), ("ma première voiture", True),
                  ("mon premier concert", False), ("mon premier cellulaire", False),
                  ("mon premier jeu vidéo", False), ("mon premier disque", False),
                  ("mon premier emploi d'été", False), ("mon premier appartement", False),
                  ("mon premier voyage à l'étranger", False), ("mon premier sport", False),
                  ("mon premier instrument", False), ("ma première adresse courriel", True),
                  ("mon premier vélo", False), ("mon premier film au cinéma", False),
                  ("mon premier vol", False))
_FR_RELATIVES = (("ma mère", True), ("mon père", False), ("ma grand-mère", True),
                 ("mon grand-père", False), ("ma sœur aînée", True), ("mon frère aîné", False),
                 ("ma petite sœur", True), ("mon petit frère", False), ("ma tante", True),
                 ("mon oncle", False), ("ma marraine", True), ("mon parrain", False),
                 ("mon beau-père", False), ("ma belle-mère", True),
                 ("mon arrière-grand-mère", True), ("mon mari", False), ("ma femme", True),
                 ("mon conjoint", False), ("ma conjointe", True), ("mon cousin", False))
_FR_GRADES = ("1re année", "2e année", "3e année", "4e année", "5e année", "6e année",
              "secondaire 1", "secondaire 2", "maternelle", "secondaire 5")
_FR_FREE = ("Où sommes-nous allés en voyage de noces?", "Quel a été mon premier album?",
            "Comment s'appelait ma première voiture?", "Où ai-je appris à nager?",
            "Quelle était ma matière préférée à l'école?", "Quel est mon plat préféré?",
            "Comment s'appelait le lac au chalet?", "Où ai-je rencontré mon conjoint?",
            "Quel était mon surnom d'enfance?", "Quelle était la marque de ma première voiture?",
            "De quelle couleur était mon premier vélo?", "Pour quelle équipe ai-je joué?",
            "Quel est le premier film que j'ai vu au cinéma?",
            "Où était mon premier appartement?", "Que voulais-je faire plus tard?",
            "Dans quel hôpital suis-je né?", "Dans quelle rue ai-je grandi?",
            "Quel est mon livre préféré?", "Quel a été mon premier mot?",
            "De quel instrument jouais-je enfant?")


def _quel(fem: bool) -> str:
    return "Quelle" if fem else "Quel"


FR_QUESTIONS: tuple[str, ...] = (
    *(f"Quel était le nom de {thing}?" for thing in _FR_FIRST_NAMED),
    *(f"{_quel(fem)} a été {thing}?" for thing, fem in _FR_FIRST_WHAT),
    *(f"Où est {'née' if fem else 'né'} {who}?" for who, fem in _FR_RELATIVES),
    *(f"Dans quelle ville est {'née' if fem else 'né'} {who}?" for who, fem in _FR_RELATIVES),
    *(f"Quel est le deuxième prénom de {who}?" for who, _ in _FR_RELATIVES),
    *(f"Comment m'appelait {who}?" for who, _ in _FR_RELATIVES),
    *(f"Quel a été le premier emploi de {who}?" for who, _ in _FR_RELATIVES),
    *(f"Dans quelle rue habitais-je en {grade}?" for grade in _FR_GRADES),
    *(f"Qui était mon enseignant en {grade}?" for grade in _FR_GRADES),
    *(f"Comment s'appelait mon meilleur ami en {grade}?" for grade in _FR_GRADES),
    *_FR_FREE,
)

_FR_PEOPLE = ("Ma tante", "Mon oncle", "Mon cousin", "Ma cousine", "Ma marraine",
              "Mon parrain", "Une voisine", "Mon ancien voisin", "Mon entraîneur",
              "Ma professeure de piano", "Mon professeur de musique", "Mon premier patron",
              "Ma meilleure amie", "Mon plus vieil ami", "Mon colocataire", "Ma gardienne",
              "Mon chef scout", "Mon moniteur de natation", "Notre médecin de famille",
              "Ma correspondante", "Mon mentor", "Mon enseignant préféré",
              "L'amie de ma grand-mère", "Une collègue", "Ma première gérante",
              "Mon moniteur de conduite", "Mon entraîneur de hockey",
              "Ma coloc à l'université", "L'ami de ma sœur", "L'ami de mon frère")
_FR_PERSON_ENDINGS = ("", " du camp", " au secondaire", " à mon premier emploi",
                      " à l'université", " de l'ancien quartier", " à l'église",
                      " du chalet", " dans l'équipe de soccer", " à la garderie",
                      *(f" de {place}" for place in PLACES),
                      *(f" quand j'avais {age} ans" for age in range(6, 19)))
FR_PEOPLE: tuple[str, ...] = tuple(f"{who}{end}" for who in _FR_PEOPLE
                                   for end in _FR_PERSON_ENDINGS)

_FR_EVENTS = ("Mon mariage", "Notre première sortie", "Le jour où on a eu le chien",
              "Mon premier jour de travail", "Ma remise de diplômes",
              "L'anniversaire de mon grand-père", "L'anniversaire de ma grand-mère",
              "Mon premier concert", "Le jour de mon permis", "Ma cérémonie de citoyenneté",
              "La naissance de mon premier enfant", "La naissance de ma fille",
              "La naissance de mon fils", "L'anniversaire de ma nièce",
              "L'anniversaire de mon neveu", "L'achat de ma première voiture", "Ma retraite",
              "Un voyage d'été", "La première neige", "Le jour du déménagement",
              "L'anniversaire de mariage de mes parents", "Nos fiançailles",
              "Mon premier vol", "Une réunion de famille", "Mon baptême",
              "Ma confirmation", "Mon entrée à l'université", "Une grosse tempête",
              "L'anniversaire de ma mère", "L'anniversaire de mon père")
_FR_DATE_ENDINGS = ("", *(f" à {place}" for place in PLACES))
FR_DATES: tuple[str, ...] = (
    *(f"{event}{end}" for event in _FR_EVENTS for end in _FR_DATE_ENDINGS),
    *(f"Mon déménagement à {place}" for place in PLACES),
    *(f"Notre voyage à {place}" for place in PLACES),
)

POOL: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"question": EN_QUESTIONS, "person": EN_PEOPLE, "date": EN_DATES},
    "fr": {"question": FR_QUESTIONS, "person": FR_PEOPLE, "date": FR_DATES},
}
