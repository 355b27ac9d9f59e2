"""A labelled, synthetic twelve-month history of a one-person design studio.

``generate`` returns memories (the JSONL rows ``MemoryService.import_jsonl`` reads, each with a
unique ``metadata["key"]``) and questions labelled with the keys of the memories that answer them.
Forty clients share every kind of fact (rates, terms, contacts, VAT ids, preferences), so each
question has many near-miss distractors. Facts that change during the year (rate rises, new
contacts) share a ``subject``; only the newest is current, and only it is labelled.

``filler`` streams unlabelled memories of the same shape for latency benchmarks (100k in seconds).

Everything is drawn from ``random.Random(seed)``: the same seed gives the same dataset.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Style = Literal["semantic", "exact", "entity"]
Memory = dict[str, Any]
Question = dict[str, Any]

START = datetime(2025, 6, 2, tzinfo=UTC)
SPAN_DAYS = 362
QUESTIONS_PER_STYLE: dict[Style, int] = {"semantic": 64, "exact": 52, "entity": 52}

# -- the fictional world --------------------------------------------------------------------------


@dataclass(frozen=True)
class Country:
    tld: str
    phone: str  # patterns: '#' a digit, '@' a capital letter
    vat: str
    postcode: str
    cities: tuple[str, ...]
    streets: tuple[str, ...]


COUNTRIES: dict[str, Country] = {
    "DE": Country("de", "+49 30 #### ####", "DE#########", "#####", ("Berlin", "Hamburg", "Leipzig", "Cologne"),
                  ("Kastanienallee", "Torstrasse", "Oranienstrasse", "Schanzenstrasse", "Karl-Heine-Strasse")),
    "NL": Country("nl", "+31 20 ### ####", "NL#########B01", "#### @@", ("Amsterdam", "Utrecht", "Rotterdam"),
                  ("Prinsengracht", "Oudegracht", "Witte de Withstraat", "Haarlemmerdijk")),
    "SE": Country("se", "+46 8 ### ### ##", "SE##########01", "### ##", ("Stockholm", "Malmo", "Gothenburg"),
                  ("Hornsgatan", "Sveavagen", "Davidshallsgatan", "Linnegatan")),
    "FR": Country("fr", "+33 1 ## ## ## ##", "FR###########", "750##", ("Paris", "Lyon", "Nantes"),
                  ("Rue Oberkampf", "Rue de Charonne", "Quai de Bondy", "Rue Crebillon")),
    "GB": Country("co.uk", "+44 20 #### ####", "GB#########", "@@# #@@", ("London", "Bristol", "Manchester"),
                  ("Columbia Road", "Gloucester Road", "Stokes Croft", "Oldham Street")),
    "AT": Country("at", "+43 1 ### ####", "ATU########", "1###", ("Vienna", "Graz", "Salzburg"),
                  ("Neubaugasse", "Lendplatz", "Linzer Gasse", "Zollergasse")),
    "DK": Country("dk", "+45 ## ## ## ##", "DK########", "####", ("Copenhagen", "Aarhus"),
                  ("Jaegersborggade", "Vesterbrogade", "Mejlgade")),
    "IE": Country("ie", "+353 1 ### ####", "IE#######@", "D## @###", ("Dublin", "Cork", "Galway"),
                  ("Camden Street", "Oliver Plunkett Street", "Quay Street")),
    "ES": Country("es", "+34 93 ### ## ##", "ESB########", "080##", ("Barcelona", "Valencia", "Madrid"),
                  ("Carrer de Verdi", "Calle de Ruzafa", "Calle de Fuencarral")),
    "BE": Country("be", "+32 2 ### ## ##", "BE0#########", "1###", ("Brussels", "Ghent", "Antwerp"),
                  ("Rue Dansaert", "Veldstraat", "Kloosterstraat")),
}  # fmt: skip

# (name, short name, project-code prefix, industry, country)
CLIENTS: tuple[tuple[str, str, str, str, str], ...] = (
    ("Northwind Traders", "Northwind", "NWT", "specialty food wholesaler", "GB"),
    ("Bluefin Analytics", "Bluefin", "BFA", "data analytics consultancy", "DE"),
    ("Copperleaf Bakery", "Copperleaf", "CLB", "artisan bakery chain", "NL"),
    ("Halvorsen & Berg Advokater", "Halvorsen", "HAB", "commercial law firm", "SE"),
    ("Kestrel Robotics", "Kestrel", "KRO", "warehouse robotics maker", "DE"),
    ("Lumen Dental Clinics", "Lumen", "LDC", "group of dental clinics", "IE"),
    ("Marigold Yoga Studio", "Marigold", "MYS", "yoga studio", "DE"),
    ("Oakridge Property Partners", "Oakridge", "OPP", "real-estate agency", "GB"),
    ("Pinecrest Outdoor", "Pinecrest", "PCO", "outdoor gear retailer", "AT"),
    ("Quayside Coffee Roasters", "Quayside", "QCR", "coffee roastery", "IE"),
    ("Riverbend Credit Union", "Riverbend", "RCU", "credit union", "IE"),
    ("Saltmarsh Brewing Co.", "Saltmarsh", "SBC", "craft brewery", "GB"),
    ("Tidewater Logistics", "Tidewater", "TWL", "freight forwarder", "NL"),
    ("Umbra Architects", "Umbra", "UMA", "architecture practice", "DK"),
    ("Vireo Health", "Vireo", "VHE", "telehealth startup", "DE"),
    ("Wildflower Tea Company", "Wildflower", "WTC", "loose-leaf tea brand", "FR"),
    ("Yellowpine Software", "Yellowpine", "YPS", "B2B SaaS company", "SE"),
    ("Zephyr Cycling", "Zephyr", "ZCY", "chain of bike shops", "BE"),
    ("Ashgrove Veterinary", "Ashgrove", "AGV", "veterinary practice", "GB"),
    ("Brightwater Foundation", "Brightwater", "BWF", "education charity", "NL"),
    ("Cinder & Sage Candles", "Cinder & Sage", "CSC", "candle web shop", "FR"),
    ("Driftwood Hotels", "Driftwood", "DWH", "boutique hotel group", "ES"),
    ("Elmstead Accounting", "Elmstead", "ELA", "accounting firm", "DE"),
    ("Foxglove Publishing", "Foxglove", "FXP", "independent publisher", "GB"),
    ("Granite Peak Fitness", "Granite Peak", "GPF", "chain of gyms", "AT"),
    ("Harbor Lane Interiors", "Harbor Lane", "HLI", "interior design studio", "DK"),
    ("Ironbark Energy", "Ironbark", "IBE", "solar installer", "DE"),
    ("Juniper Kids Academy", "Juniper", "JKA", "after-school tutoring provider", "SE"),
    ("Kingfisher Marine", "Kingfisher", "KFM", "boat builder", "NL"),
    ("Larkspur Florals", "Larkspur", "LSF", "florist", "BE"),
    ("Moonstone Jewelry", "Moonstone", "MSJ", "jewellery brand", "FR"),
    ("Nettle & Oak", "Nettle & Oak", "NOR", "farm-to-table restaurant", "DE"),
    ("Orchard Street Dental", "Orchard Street", "OSD", "dental practice", "GB"),
    ("Pebblestone Surf School", "Pebblestone", "PSS", "surf school", "ES"),
    ("Quillon Legal", "Quillon", "QLL", "employment law firm", "GB"),
    ("Redwood Data Labs", "Redwood", "RDL", "data engineering consultancy", "DE"),
    ("Silverline Pharmacy", "Silverline", "SLP", "pharmacy group", "AT"),
    ("Thistle Craft Distillery", "Thistle", "TCD", "gin distillery", "GB"),
    ("Upland Coffee Collective", "Upland", "UCC", "coffee cooperative", "SE"),
    ("Wavecrest Travel", "Wavecrest", "WCT", "travel agency", "ES"),
)

FIRST_NAMES = (
    "Priya", "Jonas", "Sofie", "Liam", "Amara", "Henrik", "Clara", "Mateo", "Ines", "Oskar", "Freya", "Tomasz",
    "Leila", "Niamh", "Bastian", "Camille", "Rafael", "Saoirse", "Elif", "Magnus", "Yara", "Pieter", "Lucia",
    "Dmitri", "Hanna", "Kofi", "Marta", "Emil", "Aoife", "Julien", "Ayesha", "Lars", "Greta", "Tariq", "Maren",
    "Felix", "Noor", "Anders", "Zofia", "Ruben", "Ingrid", "Malik", "Chloe", "Sven", "Rosa", "Theo",
)  # fmt: skip
LAST_NAMES = (
    "Nandakumar", "Becker", "de Vries", "Okafor", "Lindgren", "Moreau", "Kowalski", "Fitzgerald", "Haddad", "Jensen",
    "Santos", "Novak", "Brennan", "Schreiber", "Dubois", "Yilmaz", "Andersson", "van Dijk", "Costa", "Walsh",
    "Hoffmann", "Ibrahim", "Laurent", "Nilsson", "Petrov", "Rossi", "Mensah", "Keller", "Murphy", "Berglund",
    "Garcia", "Janssens", "Olsen", "Quinn", "Richter", "Sato", "Tanaka", "Varga", "Weber", "Zhang",
)  # fmt: skip
ROLES = ("founder", "head of marketing", "brand manager", "operations director", "CEO", "office manager",
         "product lead", "communications lead", "managing partner")  # fmt: skip

# (title, scope) of the projects a design studio runs
PROJECT_KINDS = (
    ("Packaging refresh", "new labels and boxes for six SKUs"),
    ("Website redesign", "a twelve-page marketing site with a new booking flow"),
    ("Brand guidelines", "a forty-page guideline PDF covering logo, colour and type"),
    ("Annual report", "layout and infographics for the yearly report"),
    ("Trade fair booth", "booth graphics, roll-ups and a handout for the spring fair"),
    ("Menu and signage", "printed menus, window decals and wayfinding signs"),
    ("Onboarding UX audit", "a usability review of the sign-up flow with recommendations"),
    ("Logo refresh", "a modernised wordmark and icon set"),
    ("Social media templates", "thirty editable post and story templates"),
    ("Investor pitch deck", "a twenty-slide deck for the next funding round"),
    ("Product catalogue", "a sixty-page print and PDF catalogue"),
    ("Newsletter template", "a modular email template and header illustrations"),
)

# (decision template, semantic question template); {first}, {short}, {title} are filled in
DECISIONS = (
    (
        "switch the typeface from Gotham to Inter so {short} avoids a €1,400 font licence",
        "Which font did we settle on for {short}'s {title}, and why?",
    ),
    (
        "move the mobile screens out of scope into a phase 2 for {short}",
        "What happened to the phone layouts in the {short} {title}?",
    ),
    (
        "print with Druckerei Hahn instead of an online printer after the colour problems",
        "Who is printing the {short} {title}?",
    ),
    (
        "use stock photography instead of a photo shoot, saving {short} about €3,000",
        "Are we doing our own pictures for {short}'s {title}?",
    ),
    (
        "bill the third revision round separately at the day rate, as {first} agreed",
        "Did {short} accept paying for extra changes on the {title}?",
    ),
    (
        "deliver in English only; the German version is a separate quote",
        "Which languages does the {short} {title} cover?",
    ),
    (
        "drop the animated logo and keep it static to hold the deadline",
        "Is the {short} logo going to be animated in the {title}?",
    ),
)

PREFERENCES = {
    "feedback": (
        ("{short} sends consolidated comments in one annotated PDF per round.",
         "How does {short} give me their revision notes?"),
        ("{first} at {short} records Loom walkthroughs instead of writing feedback.",
         "What's the usual way {short} passes on their comments?"),
        ("{short} leaves all feedback directly as comments in the Figma file.",
         "Where should I look for {short}'s reactions to a draft?"),
    ),
    "calls": (
        ("{first} ({short}) only takes calls before 10:00; mornings are best.",
         "What time of day should I book a meeting with {short}?"),
        ("Schedule {short} check-ins on Tuesday or Thursday afternoons only.",
         "Which days work for a catch-up with {short}?"),
        ("{short} never wants meetings on Fridays; {first} works a four-day week.",
         "Is it ok to set up a call with {short} at the end of the week?"),
    ),
    "files": (
        ("{short} needs print-ready PDFs with 3 mm bleed and crop marks.",
         "In what format do final deliverables for {short} go out?"),
        ("{short} wants SVG plus PNG exports zipped, never Figma links.",
         "What should the handoff package for {short} contain?"),
        ("Deliver to {short} through their SharePoint; email attachments get blocked by IT.",
         "How do I get finished files over to {short}?"),
    ),
    "tone": (
        ("Copy for {short} should stay playful and informal, first names everywhere.",
         "What voice should I write in for {short}?"),
        ("{short} insists on a formal, sober tone; no emoji, no exclamation marks.",
         "How casual can the wording be in {short} materials?"),
    ),
}  # fmt: skip

# (meeting-note template, question template); one-off news that only one memory holds
NUGGETS = (
    ("{first} mentioned {short} is moving into a new office in {city} in {month}.",
     "Is {short} relocating anywhere?"),
    ("{short} has frozen all discretionary spending until {quarter}; no new briefs before then.",
     "When will {short} have budget for fresh work again?"),
    ("{short} is hiring an in-house designer next year, so expect fewer projects from them.",
     "Will {short} keep outsourcing design to me long term?"),
    ("{short} is planning a full rebrand for 2027 and {first} wants me to pitch for it.",
     "Is there a big upcoming opportunity with {short}?"),
    ("{first} is going on parental leave from {month}; {other} covers in the meantime at {short}.",
     "Who should I talk to at {short} while my usual contact is away?"),
)  # fmt: skip

MEETING_TOPICS = (
    "went through round-{n} feedback on {code}; mostly copy tweaks",
    "walked {first} through the moodboards for {title}; they picked direction {letter}",
    "timeline check on {code}, still on track for the deadline",
    "{first} asked whether we could add {extra} to {code}",
    "reviewed how the {title} work has performed since launch",
    "quick sync on print quantities and paper stock for {code}",
    "{first} shared competitor examples as references for {title}",
    "discussed who on their side signs off {code}",
    "agreed next steps for {code}: {extra} first, then the main deliverables",
)
EXTRAS = ("a landing page", "a set of icons", "a one-page flyer", "a banner series", "business cards", "a poster",
          "an email header")  # fmt: skip
STATUS = (
    "first concepts sent",
    "round 2 feedback received",
    "waiting on copy from {first}",
    "final artwork about {pct}% done",
    "icons redrawn on the 24 px grid",
    "colour proofs approved",
    "handoff checklist started",
    "staging build updated with the new navigation",
    "image retouching done, {n} files left",
    "typesetting pass finished, {n} pages to go",
)
TASKS = (
    "finish the {title} moodboard for {short}",
    "reply to {first} about {code}",
    "prep review slides for the {short} call",
    "export final PNGs for {code}",
    "call the printer about paper stock for {code}",
    "update the {code} timeline and send it to {first}",
    "book a review slot with {first} ({short})",
)
TOOLS = (
    ("Adobe Creative Cloud", 66), ("Figma Professional", 15), ("coworking desk at Betahaus", 249),
    ("Google Workspace", 14), ("Notion", 10), ("Webflow hosting", 29),
)  # fmt: skip

PROSPECT_A = ("Aurora", "Beacon", "Cobalt", "Dune", "Ember", "Fjord", "Glade", "Harvest", "Indigo", "Jasper")
PROSPECT_B = ("Cosmetics", "Dental Lab", "Estates", "Games", "Kitchens", "Media", "Optics", "Pet Supplies", "Wines")
LOST_REASONS = (
    "went with a bigger agency that could also do the media buying",
    "said the budget was 30% under my quote",
    "postponed the whole project until next year",
    "decided to do it in-house with a freelancer on payroll",
    "picked a studio in their own city so they could meet in person",
)
FILLER_A = ("Kelp", "Lumen", "Maple", "Nimbus", "Onyx", "Pollen", "Quartz", "Rowan", "Sable", "Tundra")
FILLER_B = ("Bikes", "Ceramics", "Clinic", "Coffee", "Consulting", "Foods", "Legal", "Studio", "Textiles", "Yoga")
FILLER_CLIENTS = 300

# (memory, questions); the operator's own rules, lessons and admin facts
RULES: tuple[tuple[str, tuple[tuple[Style, str], ...]], ...] = (
    ("Rule: ask for a 30% deposit before starting any project over €5,000.",
     (("semantic", "Do I need money upfront before starting a big job?"),)),
    ("Cap revisions at two rounds in every fixed-price quote; further rounds are billed at the day rate.",
     (("semantic", "How many rounds of changes should a quote include?"),)),
    ("Never hand over editable source files (Figma, InDesign, Illustrator) until the final invoice is paid.",
     (("semantic", "Can I send the working design files before the client has settled up?"),)),
    ("Rush jobs with less than five working days' notice carry a 50% surcharge.",
     (("semantic", "What extra should I charge for urgent turnarounds?"),)),
    ("Don't run more than three active projects at the same time; quality slipped every time I had four.",
     (("semantic", "How many clients can I handle in parallel?"),)),
    ("Lesson: always get the final copy before starting layout; waiting on text caused most overruns last year.",
     (("semantic", "What usually makes my jobs run late?"),)),
    ("Overdue invoices: friendly reminder at 7 days, phone call at 21 days, statutory late interest after 30 days.",
     (("semantic", "What's the process when a customer pays late?"),)),
    ("Quarterly VAT return is due on the 10th of the month after the quarter ends; Henrik Sorlie prepares it.",
     (("semantic", "When is the sales tax filing deadline?"),)),
    ("Keep 30% of every payment in the tax savings account.",
     (("semantic", "How much of incoming money should I put aside for the tax office?"),)),
    ("Friday afternoons are blocked for admin, bookkeeping and invoicing; no client calls.",
     (("semantic", "When do I do my paperwork and accounts?"),)),
    ("Minimum engagement is two days; smaller requests get bundled into a monthly batch.",
     (("semantic", "Should I take on tiny one-hour jobs?"),)),
    ("Every new client signs the services agreement v3 and an NDA before the kickoff call.",
     (("semantic", "What paperwork does a new customer need to sign before we start?"),)),
    ("Portfolio: ask permission in writing before showing client work publicly; NDA clients never.",
     (("semantic", "Am I allowed to put customer projects on my website?"),)),
    ("Travel outside Berlin is billed at half the day rate plus second-class train tickets.",
     (("semantic", "How do I charge for time spent going to see clients in other cities?"),)),
    ("Lesson: fixed-price website projects overran by 40% on average, so quote websites by the day.",
     (("semantic", "Should I give a fixed price for web design jobs?"),)),
    ("Check fonts are licensed for the client's web and print use before the final handoff.",
     (("semantic", "What do I need to verify about typefaces before delivering?"),)),
    ("Backups: the studio NAS syncs to Backblaze B2 every night at 02:00; test a restore each quarter.",
     (("semantic", "Where are my files backed up and how often?"),)),
    ("Raise rates by 5-8% every January and tell clients in November.",
     (("semantic", "How often should I increase my prices?"),)),
    ("No spec work or unpaid pitches; offer a paid discovery workshop instead.",
     (("semantic", "A prospect wants free concepts before hiring me; what's my policy?"),)),
    ("Studio closed between 22 December and 6 January; tell clients by 1 December.",
     (("semantic", "When do I take my winter break?"),)),
    ("Lesson: kickoff workshops with the decision-maker in the room halved the revision rounds.",
     (("semantic", "Who needs to be in the first meeting with a client?"),)),
    ("Use the project code (like ABC-03) in every invoice line and file name.",
     (("semantic", "How should I name files and invoice lines?"),)),
    ("Discounts: 10% for registered charities and education non-profits, nothing else.",
     (("semantic", "Do I give nonprofits a reduced price?"),)),
    ("Kill fee: 50% of the remaining budget if a client cancels mid-project.",
     (("semantic", "What happens if a client pulls the plug halfway through?"),)),
    ("Print jobs: always order a hard proof before the full run.",
     (("semantic", "What should I do before sending something to the press?"),)),
    ("Lesson: hospitality clients go quiet in summer, so schedule their projects for autumn.",
     (("semantic", "When is the best time of year for restaurant and hotel work?"),)),
    ("All web work targets WCAG 2.2 AA contrast and visible focus states.",
     (("semantic", "What accessibility standard do I design sites to?"),)),
    ("Signed contracts live in Nextcloud under Clients/<client>/Contracts.",
     (("semantic", "Where do I keep signed agreements?"),)),
    ("Payment reminders go out from billing@lindqvist.studio, never from my personal address.",
     (("exact", "What is billing@lindqvist.studio used for?"),
      ("semantic", "Which mailbox do I chase unpaid bills from?"))),
    ("Professional liability insurance with Hiscox, policy HX-PL-2291-774, renews every March.",
     (("exact", "What is policy HX-PL-2291-774?"), ("entity", "professional liability insurance renewal"))),
    ("Studio bank account: IBAN DE89370400440532013000 at GLS Bank.",
     (("exact", "Whose account is DE89370400440532013000?"), ("entity", "studio bank account IBAN"))),
    ("My own VAT ID is DE327148906; tax number 37/246/51289 at Finanzamt Friedrichshain-Kreuzberg.",
     (("exact", "Which VAT ID is DE327148906?"), ("entity", "Lindqvist Studio own VAT ID"))),
    ("Domain lindqvist.studio renews on 14 September through Gandi for €38 a year.",
     (("entity", "lindqvist.studio domain renewal date"),)),
    ("Accountant: Henrik Sorlie at Sorlie Tax, henrik@sorlie-tax.de, +49 30 5557 2210.",
     (("exact", "Who is henrik@sorlie-tax.de?"), ("entity", "accountant contact details"))),
)  # fmt: skip


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    role: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(frozen=True)
class Client:
    name: str
    short: str
    prefix: str
    industry: str
    country: Country
    contact: Person
    successor: Person  # takes over if the contact changes during the year
    phone: str
    address: str
    city: str
    vat: str
    day_rate: int
    terms: int

    @property
    def domain(self) -> str:
        return _slug(self.name) + "." + self.country.tld

    @property
    def email(self) -> str:
        return self.email_of(self.contact)

    def email_of(self, person: Person) -> str:
        return f"{_slug(person.first)}.{_slug(person.last)}@{self.domain}"


@dataclass(frozen=True)
class Project:
    client: Client
    code: str
    title: str
    scope: str
    start: int  # day offset from START
    end: int
    budget: int


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower().replace("&", "and") if ch.isalnum())


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _fill_pattern(rng: random.Random, pattern: str) -> str:
    return "".join(
        str(rng.randrange(10)) if ch == "#" else rng.choice("ABCDEFGHJKLMNPRSTWXY") if ch == "@" else ch
        for ch in pattern
    )


def _day(offset: int) -> str:
    moment = START + timedelta(days=offset)
    return f"{moment.day} {moment:%B %Y}"


def _month(offset: int) -> str:
    return f"{START + timedelta(days=offset):%B}"


def _quarter(offset: int) -> str:
    moment = START + timedelta(days=offset)
    return f"Q{(moment.month - 1) // 3 + 1} {moment.year}"


def _make_client(rng: random.Random, spec: tuple[str, str, str, str, str], people: list[Person]) -> Client:
    name, short, prefix, industry, code = spec
    country = COUNTRIES[code]
    contact, successor = people.pop(), people.pop()
    city = rng.choice(country.cities)
    street = f"{rng.choice(country.streets)} {rng.randint(2, 180)}"
    return Client(
        name=name,
        short=short,
        prefix=prefix,
        industry=industry,
        country=country,
        contact=contact,
        successor=successor,
        phone=_fill_pattern(rng, country.phone),
        address=f"{street}, {_fill_pattern(rng, country.postcode)} {city}",
        city=city,
        vat=_fill_pattern(rng, country.vat),
        day_rate=rng.randrange(560, 960, 20),
        terms=rng.choice((10, 14, 14, 21, 30, 30, 30, 45, 60)),
    )


def _people(rng: random.Random, count: int) -> list[Person]:
    pairs = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    return [Person(first, last, rng.choice(ROLES)) for first, last in rng.sample(pairs, count)]


def _memory(
    rng: random.Random, text: str, day: int, layer: str, metadata: dict[str, str], subject: str | None = None
) -> Memory:
    """One import row, stamped at a random working hour of ``day``."""
    when = START + timedelta(days=day, hours=rng.randint(8, 18), minutes=rng.randrange(60))
    memory: Memory = {"text": text, "layer": layer, "occurred_at": when.isoformat(), "metadata": metadata}
    if subject:
        memory["subject"] = subject
    return memory


# -- the history builder --------------------------------------------------------------------------


@dataclass
class History:
    """Collects unique memories and the candidate questions about them."""

    rng: random.Random
    memories: list[Memory] = field(default_factory=list)
    candidates: list[Question] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, text: str, day: int, *, kind: str, layer: str = "project", subject: str | None = None) -> str | None:
        """Store a memory; returns its key, or None when the same text is already in the layer."""
        identity = (layer, " ".join(text.split()).lower())
        if identity in self._seen:
            return None
        self._seen.add(identity)
        key = f"m{len(self.memories):05d}"
        self.memories.append(_memory(self.rng, text, day, layer, {"key": key, "kind": kind}, subject))
        return key

    def ask(self, style: Style, kind: str, question: str, *answers: str | None) -> None:
        """Offer a labelled question; dropped if any answer memory was a duplicate."""
        keys = [key for key in answers if key]
        if keys and len(keys) == len(answers):
            self.candidates.append({"question": question, "answers": keys, "style": style, "kind": kind})

    def pick(self, rng: random.Random) -> list[Question]:
        """A fixed number of questions per style, spread evenly over the kinds of fact."""
        chosen: list[Question] = []
        for style, wanted in QUESTIONS_PER_STYLE.items():
            by_kind: dict[str, list[Question]] = {}
            for question in self.candidates:
                if question["style"] == style:
                    by_kind.setdefault(question["kind"], []).append(question)
            for pool in by_kind.values():
                rng.shuffle(pool)
            chosen.extend(_round_robin(list(by_kind.values()), wanted))
        return chosen


def _round_robin(pools: list[list[Question]], wanted: int) -> list[Question]:
    picked: list[Question] = []
    while len(picked) < wanted and any(pools):
        for pool in pools:
            if pool and len(picked) < wanted:
                picked.append(pool.pop())
    return picked


# -- client facts ---------------------------------------------------------------------------------


def _client_facts(h: History, client: Client, first_day: int) -> None:
    rng, c, who = h.rng, client, client.contact
    subject = _slug(c.short)
    key = h.add(f"{c.name} is {_a(c.industry)} based in {c.city}; {who.name} ({who.role}) found me through a "
                f"referral from {_referrer(rng, c)}.", first_day, kind="profile")  # fmt: skip
    h.ask("semantic", "profile", f"What kind of business is {c.short}?", key)
    h.ask("semantic", "profile", f"How did {c.short} first hear about me?", key)

    _client_terms(h, client, first_day, subject)
    _client_rate(h, client, first_day, subject)
    _client_contact(h, client, first_day, subject)

    key = h.add(f"Billing address for {c.name}: {c.address}.", first_day + 1, kind="address",
                subject=subject + " address")  # fmt: skip
    h.ask("entity", "address", f"{c.name} billing address", key)
    h.ask("semantic", "address", f"Where do I post paper invoices for {c.short}?", key)

    key = h.add(f"{c.name} VAT ID: {c.vat}.", first_day + 1, kind="vat", subject=subject + " vat")
    h.ask("exact", "vat", f"Which client has VAT number {c.vat}?", key)
    h.ask("entity", "vat", f"{c.short} VAT number", key)

    if rng.random() < 0.4:
        po = _fill_pattern(rng, "PO-45########")
        key = h.add(f"{c.name} rejects invoices without purchase order {po} on them.", first_day + 2, kind="po")
        h.ask("exact", "po", f"Which client does {po} belong to?", key)
        h.ask("entity", "po", f"{c.short} purchase order number", key)

    for category in rng.sample(sorted(PREFERENCES), 2):
        fact, question = rng.choice(PREFERENCES[category])
        text = fact.format(short=c.short, first=who.first)
        key = h.add(text, first_day + rng.randint(3, 60), kind="preference")
        h.ask("semantic", "preference", question.format(short=c.short), key)


def _referrer(rng: random.Random, client: Client) -> str:
    return rng.choice([spec[1] for spec in CLIENTS if spec[1] != client.short])


def _client_terms(h: History, c: Client, day: int, subject: str) -> None:
    text = h.rng.choice((
        "{name} settles invoices within {d} days.",
        "Payment terms with {name}: net {d} from the invoice date.",
        "{name} pays on {d}-day terms; their accounts team runs payments weekly.",
    )).format(name=c.name, d=c.terms)  # fmt: skip
    key = h.add(text, day, kind="terms", subject=subject + " terms")
    h.ask("semantic", "terms", h.rng.choice((
        "How quickly does {short} pay?", "How long do I usually wait for money from {short}?",
        "When can I expect {short} to pay a bill?",
    )).format(short=c.short), key)  # fmt: skip
    h.ask("entity", "terms", f"{c.name} payment terms", key)


def _client_rate(h: History, c: Client, day: int, subject: str) -> None:
    rng = h.rng
    raised = rng.random() < 0.35 and day < 200
    first_rate = c.day_rate - rng.randrange(40, 120, 10) if raised else c.day_rate
    key = h.add(f"Day rate for {c.name} is €{first_rate}, travel billed separately.", day, kind="rate",
                subject=subject + " rate")  # fmt: skip
    if raised:
        later = day + rng.randint(90, 150)
        key = h.add(f"From {_month(later)} the {c.short} day rate goes up to €{c.day_rate}; {c.contact.first} "
                    f"confirmed by email.", later, kind="rate", subject=subject + " rate")  # fmt: skip
    h.ask("semantic", "rate", rng.choice((
        "How much do I charge {short} for a day of work?", "What does {short} pay me per day?",
        "What's my current price for a full day with {short}?",
    )).format(short=c.short), key)  # fmt: skip
    h.ask("entity", "rate", f"{c.short} day rate", key)


def _client_contact(h: History, c: Client, day: int, subject: str) -> None:
    who = c.contact
    key = h.add(f"Main contact at {c.name}: {who.name}, {who.role}, {c.email}.", day, kind="contact",
                subject=subject + " contact")  # fmt: skip
    email = c.email
    if h.rng.random() < 0.2 and day < 220:
        new, email = c.successor, c.email_of(c.successor)
        key = h.add(f"{who.first} has left {c.short}; {new.name} ({email}) is my contact there now.",
                    day + h.rng.randint(80, 140), kind="contact", subject=subject + " contact")  # fmt: skip
    h.ask("entity", "contact", f"contact person at {c.name}", key)
    h.ask("semantic", "contact", f"Who do I deal with at {c.short} these days?", key)
    h.ask("exact", "email", f"Who is {email}?", key)
    phone = h.add(f"{who.first} at {c.short} can be reached on {c.phone}.", day + 2, kind="phone")
    h.ask("entity", "phone", f"{c.short} phone number", phone)
    h.ask("exact", "phone", f"whose number is {c.phone}", phone)


def _nuggets(h: History, client: Client, first_day: int) -> None:
    rng, c = h.rng, client
    for template, question in rng.sample(NUGGETS, 2):
        day = rng.randint(first_day + 10, SPAN_DAYS - 5)
        news = template.format(
            first=c.contact.first, short=c.short, city=rng.choice(c.country.cities), month=_month(day + 60),
            quarter=_quarter(day + 120), other=c.successor.name,
        )  # fmt: skip
        key = h.add(f"Call with {c.contact.first} ({c.short}) on {_day(day)}: {news}", day, kind="news")
        h.ask("semantic", "news", question.format(short=c.short), key)


# -- projects, invoices and payments --------------------------------------------------------------


@dataclass(frozen=True)
class InvoicePlan:
    project: Project
    day: int
    amount: int
    what: str


def _projects(rng: random.Random, client: Client, first_day: int) -> list[Project]:
    projects: list[Project] = []
    number = rng.randint(1, 12)
    day = first_day + rng.randint(0, 20)
    for title, scope in rng.sample(PROJECT_KINDS, rng.randint(2, 3)):
        if day > SPAN_DAYS - 20:
            break
        length = rng.randint(20, 80)
        budget = rng.randrange(2_400, 18_000, 200)
        code = f"{client.prefix}-{number:02d}"
        projects.append(Project(client, code, title, scope, day, min(day + length, SPAN_DAYS), budget))
        number += 1
        day += length + rng.randint(5, 90)
    return projects


def _project_notes(h: History, p: Project) -> list[InvoicePlan]:
    rng, c = h.rng, p.client
    key = h.add(f"Kicked off {p.code} ({p.title}) for {c.name}: {p.scope}. Budget €{p.budget:,}, deadline "
                f"{_day(p.end)}.", p.start, kind="kickoff")  # fmt: skip
    h.ask("exact", "project", f"What is {p.code} about?", key)
    h.ask("exact", "project", f"budget for {p.code}", key)
    h.ask("entity", "project", f"{c.short} {p.title.lower()} budget and deadline", key)
    for template, question in rng.sample(DECISIONS, rng.randint(1, 2)):
        day = rng.randint(p.start + 3, max(p.start + 4, p.end - 2))
        text = template.format(short=c.short, first=c.contact.first)
        key = h.add(f"Decision on {p.code}: {text}.", day, kind="decision")
        h.ask("semantic", "decision", question.format(short=c.short, title=p.title.lower()), key)
    if p.end < SPAN_DAYS - 3:
        key = h.add(f"Delivered the final files for {p.code} ({p.title}) to {c.short} on {_day(p.end)}; "
                    f"{c.contact.first} signed off.", p.end, kind="delivery")  # fmt: skip
        h.ask("semantic", "delivery", f"When did I wrap up the {p.title.lower()} for {c.short}?", key)
    return _invoice_plans(rng, p)


def _invoice_plans(rng: random.Random, p: Project) -> list[InvoicePlan]:
    if p.budget > 5_000:
        deposit = round(p.budget * 0.3)
        plans = [InvoicePlan(p, p.start + 1, deposit, "30% deposit")]
        if p.end < SPAN_DAYS - 3:
            plans.append(InvoicePlan(p, p.end + 1, p.budget - deposit, "final 70%"))
        return plans
    return [InvoicePlan(p, p.end + 1, p.budget, "full fee")] if p.end < SPAN_DAYS - 3 else []


def _invoice_number(day: int, counters: dict[int, int]) -> str:
    year = (START + timedelta(days=day)).year
    counters[year] = counters.get(year, 0) + 1
    return f"INV-{year}-{counters[year]:04d}"


def _invoices(h: History, plans: list[InvoicePlan]) -> None:
    rng = h.rng
    counters = {START.year: rng.randint(60, 140)}
    for plan in sorted(plans, key=lambda plan: (plan.day, plan.project.code)):
        p, c = plan.project, plan.project.client
        number = _invoice_number(plan.day, counters)
        due = plan.day + c.terms
        sent = h.add(f"Sent {number} to {c.name}: €{plan.amount:,} for the {plan.what} on {p.code} "
                     f"({p.title}), due {_day(due)}.", plan.day, kind="invoice")  # fmt: skip
        h.ask("exact", "invoice", f"What was {number} for?", sent)
        h.ask("entity", "invoice", f"{c.short} {p.title.lower()} {plan.what} invoice amount", sent)
        _settlement(h, plan, number, due, sent)


def _settlement(h: History, plan: InvoicePlan, number: str, due: int, sent: str | None) -> None:
    rng, c = h.rng, plan.project.client
    paid_on = due + rng.choice((-8, -4, -2, 0, 1, 3, 9, 16, 25))
    reminder = None
    if paid_on > due + 7 and due + 7 < SPAN_DAYS:
        reminder = h.add(f"{number} for {c.short} is a week overdue; sent {c.contact.first} a friendly "
                         "reminder.", due + 7, kind="reminder")  # fmt: skip
    if paid_on >= SPAN_DAYS:
        h.ask("exact", "payment", f"Has {number} been paid yet?", sent, *([reminder] if reminder else []))
        return
    paid = h.add(f"{c.short} paid {number} (€{plan.amount:,}) on {_day(paid_on)}.", paid_on, kind="payment")
    h.ask("exact", "payment", f"Has {number} been paid yet?", paid)


# -- leads, admin and day-to-day notes ------------------------------------------------------------


def _proposals(h: History, count: int) -> None:
    rng = h.rng
    for index in range(count):
        day = rng.randint(5, SPAN_DAYS - 10)
        number = f"P-{(START + timedelta(days=day)).year}-{index + 11:03d}"
        prospect = f"{rng.choice(PROSPECT_A)} {rng.choice(PROSPECT_B)}"
        title, scope = rng.choice(PROJECT_KINDS)
        amount = rng.randrange(1_800, 24_000, 100)
        key = h.add(f"Sent proposal {number} to {prospect}: {title.lower()}, {scope}, for €{amount:,}.", day,
                    kind="proposal")  # fmt: skip
        h.ask("exact", "proposal", f"What did I quote in {number}?", key)
        if rng.random() < 0.5:
            reason = rng.choice(LOST_REASONS)
            outcome = h.add(f"Lost {number}: {prospect} {reason}.", day + rng.randint(7, 30), kind="proposal")
            h.ask("semantic", "proposal", f"Why didn't {prospect} hire me?", outcome)


def _expenses(h: History) -> None:
    for month in range(12):
        day = month * 30 + 1
        for tool, price in TOOLS:
            h.add(f"Paid €{price} for {tool} for {_month(day)} {(START + timedelta(days=day)).year}.", day,
                  kind="expense", layer="institutional")  # fmt: skip


def _institutional(h: History) -> None:
    for text, questions in RULES:
        key = h.add(text, h.rng.randint(0, SPAN_DAYS // 2), kind="rule", layer="institutional")
        for style, question in questions:
            h.ask(style, "rule" if style == "semantic" else "admin", question, key)


def _day_to_day(rng: random.Random, projects: Sequence[Project]) -> tuple[str, int, str, str]:
    """One unlabelled note (text, day, kind, layer): a meeting, a status update or a to-do."""
    p = rng.choice(projects)
    c = p.client
    day = rng.randint(p.start, p.end)
    slots = {
        "code": p.code, "title": p.title.lower(), "short": c.short, "first": c.contact.first,
        "n": rng.randint(2, 9), "pct": rng.randrange(40, 95, 5), "letter": rng.choice("ABC"),
        "extra": rng.choice(EXTRAS),
    }  # fmt: skip
    roll = rng.random()
    if roll < 0.45:
        topic = rng.choice(MEETING_TOPICS).format(**slots)
        return f"Call with {c.contact.first} ({c.short}) on {_day(day)}: {topic}.", day, "meeting", "project"
    if roll < 0.8:
        status = rng.choice(STATUS).format(**slots)
        return f"{p.code} status, {_day(day)}: {status}.", day, "status", "project"
    task = rng.choice(TASKS).format(**slots)
    return f"To do on {_day(day)}: {task}.", day, "todo", "working"


def _fill(h: History, projects: Sequence[Project], total: int) -> None:
    attempts = 0
    while len(h.memories) < total and attempts < total * 20:
        attempts += 1
        text, day, kind, layer = _day_to_day(h.rng, projects)
        h.add(text, day, kind=kind, layer=layer)


# -- public API -----------------------------------------------------------------------------------


def generate(seed: int = 7, n_memories: int = 2400) -> tuple[list[Memory], list[Question]]:
    """Memories (``n_memories``, or the labelled core if that is larger) and labelled questions."""
    rng = random.Random(seed)
    h = History(rng)
    people = _people(rng, 2 * len(CLIENTS))
    clients = [_make_client(rng, spec, people) for spec in CLIENTS]
    _institutional(h)
    projects: list[Project] = []
    for client in clients:
        first_day = rng.randint(0, 30) if rng.random() < 0.6 else rng.randint(30, 220)
        _client_facts(h, client, first_day)
        _nuggets(h, client, first_day)
        projects.extend(_projects(rng, client, first_day))
    plans = [plan for project in projects for plan in _project_notes(h, project)]
    _invoices(h, plans)
    _proposals(h, 40)
    _expenses(h)
    _fill(h, projects, n_memories)
    return h.memories, h.pick(rng)


def filler(n: int, seed: int = 11) -> Iterator[Memory]:
    """``n`` unique, unlabelled memories about a larger made-up client base (for latency runs)."""
    rng = random.Random(seed)
    people = _people(rng, 2 * FILLER_CLIENTS)
    specs = [
        (f"{a} {b}", a, f"{a[:2]}{b[0]}".upper(), "small business", rng.choice(sorted(COUNTRIES)))
        for a in PROSPECT_A + FILLER_A
        for b in PROSPECT_B + FILLER_B
    ]
    clients = [_make_client(rng, spec, people) for spec in rng.sample(specs, FILLER_CLIENTS)]
    projects = [p for client in clients for p in _projects(rng, client, rng.randint(0, 200))]
    seen: set[tuple[str, str]] = set()
    while len(seen) < n:
        text, day, kind, layer = _day_to_day(rng, projects)
        identity = (layer, text.lower())
        if identity not in seen:
            seen.add(identity)
            yield _memory(rng, text, day, layer, {"kind": kind})
