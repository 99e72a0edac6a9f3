"""Static vocabularies for the person generator: German and international names, German places.

Kept apart from the generator so the lists can grow without touching the logic.
"""

from __future__ import annotations

from typing import Final

GIVEN_NAMES: Final[tuple[str, ...]] = (
    "Max", "Anna", "Jürgen", "Jörg", "Björn", "Sören", "Günter", "Hans-Peter", "Karl-Heinz",
    "Anne-Marie", "Ursula", "Sabine", "Stefan", "Thomas", "Michael", "Andreas", "Petra", "Monika",
    "Claudia", "Katrin", "Lena", "Leonie", "Lukas", "Felix", "Jonas", "Paul", "Sophie", "Marie",
    "Emma", "Mia", "Hannah", "Niklas", "Tobias", "Julia", "Laura", "Sarah", "Jan", "Tim", "Uwe",
    "Dieter", "Wolfgang", "Helga", "Renate", "Gisela", "Bärbel", "Jürgen-Otto", "Klaus", "Frank",
    "Susanne", "Christine", "Heike", "Martina", "Ralf", "Bernd", "Matthias", "Florian", "Maximilian",
    "Alexander", "Daniel", "Christian", "Katharina", "Johanna", "Lea", "Clara", "Ole", "Malte",
    "Mehmet", "Ayşe", "Fatma", "Emre", "Olena", "Oksana", "Piotr", "Agnieszka", "Giulia", "Marco",
    "Luca", "Ana-Maria", "Ioana", "Dimitrios", "Elif", "Ahmed", "Fatima", "Nguyen Van", "Linh",
    "José", "María", "Zoë", "Chloé", "Noël", "Søren", "Mikael", "John", "Emily",
)

FAMILY_NAMES: Final[tuple[str, ...]] = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner",
    "Schmitz", "Krause", "Meier", "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann",
    "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller",
    "Weiß", "Jung", "Hahn", "Schubert", "Vogel", "Friedrich", "Keller", "Günther", "Frank", "Berger",
    "Winkler", "Roth", "Beck", "Lorenz", "Baumann", "Franke", "Albrecht", "Schuster", "Simon",
    "Ludwig", "Böhm", "Winter", "Kraus", "Martin", "Schumacher", "Krämer", "Vogt", "Stein", "Jäger",
    "Otto", "Sommer", "Groß", "Seidel", "Heinrich", "Brandt", "Haas", "Schreiber", "Graf", "Dietrich",
    "Ziegler", "Kuhn", "Kühn", "Pohl", "Engel", "Horn", "Busch", "Bergmann", "Voigt", "Sauer",
    "Müller-Lüdenscheidt", "Meyer-Hansen", "Yılmaz", "Kaya", "Demir", "Şahin", "Nowak", "Kowalski",  # noqa: RUF001
    "Wiśniewski", "Rossi", "Russo", "Nguyen", "Popescu", "Ivanova", "Kovačević", "García",
    "Fernández", "Papadopoulos", "Smith", "O'Brien", "Al-Hassan", "da Silva", "van der Berg", "de Vries",
)

# (city, lowest postcode, highest postcode, landline area code without leading 0)
CITIES: Final[tuple[tuple[str, int, int, str], ...]] = (
    ("Berlin", 10115, 14199, "30"),
    ("Hamburg", 20095, 22769, "40"),
    ("München", 80331, 81929, "89"),
    ("Köln", 50667, 51149, "221"),
    ("Frankfurt am Main", 60306, 60599, "69"),
    ("Stuttgart", 70173, 70629, "711"),
    ("Düsseldorf", 40210, 40629, "211"),
    ("Leipzig", 4103, 4357, "341"),
    ("Dortmund", 44135, 44388, "231"),
    ("Essen", 45127, 45359, "201"),
    ("Bremen", 28195, 28779, "421"),
    ("Dresden", 1067, 1328, "351"),
    ("Hannover", 30159, 30669, "511"),
    ("Nürnberg", 90402, 90491, "911"),
    ("Bonn", 53111, 53229, "228"),
    ("Münster", 48143, 48167, "251"),
    ("Freiburg im Breisgau", 79098, 79117, "761"),
    ("Würzburg", 97070, 97084, "931"),
    ("Regensburg", 93047, 93059, "941"),
    ("Göttingen", 37073, 37085, "551"),
    ("Lübeck", 23552, 23570, "451"),
    ("Augsburg", 86150, 86199, "821"),
    ("Karlsruhe", 76131, 76229, "721"),
    ("Mannheim", 68159, 68309, "621"),
    ("Saarbrücken", 66111, 66133, "681"),
    ("Wiesbaden", 65183, 65207, "611"),
    ("Bielefeld", 33602, 33739, "521"),
)

STREETS: Final[tuple[str, ...]] = (
    "Hauptstraße", "Bahnhofstraße", "Gartenstraße", "Schulstraße", "Dorfstraße", "Bergstraße",
    "Lindenstraße", "Kirchstraße", "Goethestraße", "Schillerstraße", "Am Markt", "Mühlenweg",
    "Waldstraße", "Ringstraße", "Friedrich-Ebert-Straße", "Königsallee", "Marktplatz", "Rosenweg",
    "Birkenweg", "Am Bahnhof", "Parkstraße", "Wiesenweg", "Breite Straße", "Kastanienallee",
    "Große Straße", "Süderstraße", "Lessingstraße", "Mozartstraße", "Beethovenstraße",
    "Uhlandstraße", "Karl-Marx-Straße", "Münchner Straße", "Kölner Straße", "Bürgerstraße",
    "Brückenstraße", "Jahnstraße", "Eichendorffweg", "Ahornweg", "Industriestraße", "Weißdornweg",
)

MAIL_PROVIDERS: Final[tuple[str, ...]] = (
    "gmail.com", "web.de", "gmx.de", "t-online.de", "outlook.de", "yahoo.de", "posteo.de",
    "icloud.com", "freenet.de", "gmx.net",
)

# Mobile network destination codes (without the leading 0).
MOBILE_NDCS: Final[tuple[str, ...]] = (
    "151", "152", "157", "159", "160", "162", "163", "170", "171", "172", "173", "174", "175",
    "176", "177", "178", "179",
)

COMPANY_TRADES: Final[tuple[str, ...]] = (
    "Bau", "Elektro", "Logistik", "Consulting", "IT-Service", "Immobilien", "Sanitär", "Druck",
    "Autohaus", "Steuerberatung", "Gartenbau", "Catering",
)
COMPANY_FORMS: Final[tuple[str, ...]] = ("GmbH", "GmbH & Co. KG", "AG", "e.K.", "UG", "OHG")
SHARED_MAILBOXES: Final[tuple[str, ...]] = ("info", "office", "kontakt", "service", "buero")

FEMALE_GIVEN_NAMES: Final[frozenset[str]] = frozenset(
    {
        "Anna", "Anne-Marie", "Ursula", "Sabine", "Petra", "Monika", "Claudia", "Katrin", "Lena",
        "Leonie", "Sophie", "Marie", "Emma", "Mia", "Hannah", "Julia", "Laura", "Sarah", "Helga",
        "Renate", "Gisela", "Bärbel", "Susanne", "Christine", "Heike", "Martina", "Katharina",
        "Johanna", "Lea", "Clara", "Ayşe", "Fatma", "Olena", "Oksana", "Agnieszka", "Giulia",
        "Ana-Maria", "Ioana", "Elif", "Fatima", "Linh", "María", "Zoë", "Chloé", "Emily",
    }
)
