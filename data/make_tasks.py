"""Write the shipped tasks (sentiment, capitals, arithmetic, topics, language, animals, entities) next to this file.

Every example is built from the hand-written lists below with a seeded random
generator, so running `python data/make_tasks.py` again writes byte-identical
files. Each line is one example: its fields, plus `"split"` ("train" or "dev").
`"_inputs"` names the input fields (the format of `dx.Example.to_json`).
Nothing is downloaded.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240611
DEV_SHARE = 0.4

# --- sentiment: one-sentence reviews -------------------------------------------------------------

# domain -> (things reviewed, positive verdicts, negative verdicts); every verdict fits every thing.
REVIEW_DOMAINS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "food": (
        ["The pasta", "The soup", "The pizza", "The burger", "The curry", "The dessert"],
        [
            "was delicious and full of flavor",
            "tasted fresh and was perfectly cooked",
            "was the best I have had in years",
            "was wonderful, I would order it again",
        ],
        [
            "was cold and bland",
            "tasted stale and was badly overcooked",
            "was the worst I have had in years",
            "was awful, I sent it back",
        ],
    ),
    "film": (
        ["The movie", "The film", "The documentary", "The sequel", "The thriller"],
        [
            "was gripping from start to finish",
            "was beautifully acted and moving",
            "was a delight, I loved every minute",
            "was brilliant and I would watch it again",
        ],
        [
            "was boring from start to finish",
            "was poorly acted and dull",
            "was a waste of time, I hated every minute",
            "was terrible and I walked out early",
        ],
    ),
    "device": (
        ["This phone", "This laptop", "This blender", "This vacuum cleaner", "This camera", "This kettle"],
        [
            "works perfectly and the battery lasts all day",
            "is fast, reliable and easy to use",
            "is excellent value and I am very happy with it",
            "exceeded my expectations in every way",
        ],
        [
            "stopped working after two days",
            "is slow, unreliable and hard to use",
            "is a waste of money and I regret buying it",
            "broke the first time I used it",
        ],
    ),
    "stay": (
        ["The hotel", "The room", "The guesthouse", "The resort", "The apartment"],
        [
            "was spotless and the staff were friendly",
            "was comfortable and quiet, a lovely stay",
            "was perfect and I would happily stay again",
            "was charming and the view was amazing",
        ],
        [
            "was dirty and the staff were rude",
            "was noisy and uncomfortable, a miserable stay",
            "was a disaster and I would never stay again",
            "smelled of mold and the heating was broken",
        ],
    ),
    "book": (
        ["The novel", "This book", "The biography", "The cookbook"],
        [
            "was a joy to read",
            "was clever, warm and hard to put down",
            "is wonderful and I recommend it to everyone",
        ],
        [
            "was a chore to read",
            "was dull, confusing and hard to finish",
            "is dreadful and I recommend avoiding it",
        ],
    ),
    "service": (
        ["The delivery", "The customer service", "The repair shop", "The taxi driver"],
        [
            "was quick and very helpful",
            "was polite and solved my problem at once",
            "was excellent, five stars",
        ],
        [
            "was slow and unhelpful",
            "was rude and never solved my problem",
            "was horrible, one star",
        ],
    ),
}


def sentiment_examples(rng: random.Random) -> list[dict[str, str]]:
    """Every (thing, verdict) pair of every domain, labelled by the verdict's polarity."""
    examples = []
    for things, positive, negative in REVIEW_DOMAINS.values():
        for label, verdicts in (("positive", positive), ("negative", negative)):
            for thing in things:
                for verdict in verdicts:
                    examples.append({"review": f"{thing} {verdict}.", "sentiment": label})
    rng.shuffle(examples)
    positives = [e for e in examples if e["sentiment"] == "positive"][:80]
    negatives = [e for e in examples if e["sentiment"] == "negative"][:80]
    chosen = positives + negatives
    rng.shuffle(chosen)
    return chosen


def topic_examples(rng: random.Random) -> list[dict[str, str]]:
    """Reviews built like the sentiment ones, labelled with the thing reviewed ("The soup ..." -> "soup")."""
    examples = []
    for things, positive, negative in REVIEW_DOMAINS.values():
        for thing in things:
            topic = thing.split(" ", 1)[1].lower()
            for verdict in positive + negative:
                examples.append({"review": f"{thing} {verdict}.", "topic": topic})
    return rng.sample(examples, 160)


# --- capitals -----------------------------------------------------------------------------------

# Countries whose capital is not disputed or split between cities. Alternative spellings after "|".
CAPITALS = """
France: Paris; Germany: Berlin; Italy: Rome; Spain: Madrid; Portugal: Lisbon; United Kingdom: London;
Ireland: Dublin; Belgium: Brussels; Austria: Vienna; Poland: Warsaw; Czech Republic: Prague;
Slovakia: Bratislava; Hungary: Budapest; Romania: Bucharest; Bulgaria: Sofia; Greece: Athens;
Serbia: Belgrade; Croatia: Zagreb; Slovenia: Ljubljana; Bosnia and Herzegovina: Sarajevo; Albania: Tirana;
North Macedonia: Skopje; Montenegro: Podgorica; Denmark: Copenhagen; Norway: Oslo; Sweden: Stockholm;
Finland: Helsinki; Iceland: Reykjavik; Estonia: Tallinn; Latvia: Riga; Lithuania: Vilnius; Ukraine: Kyiv|Kiev;
Belarus: Minsk; Moldova: Chisinau; Russia: Moscow; Turkey: Ankara; Georgia: Tbilisi; Armenia: Yerevan;
Azerbaijan: Baku; Cyprus: Nicosia; Malta: Valletta; Egypt: Cairo; Morocco: Rabat; Algeria: Algiers;
Tunisia: Tunis; Libya: Tripoli; Sudan: Khartoum; Ethiopia: Addis Ababa; Kenya: Nairobi; Uganda: Kampala;
Rwanda: Kigali; Ghana: Accra; Senegal: Dakar; Mali: Bamako; Niger: Niamey; Nigeria: Abuja; Cameroon: Yaounde;
Angola: Luanda; Zambia: Lusaka; Zimbabwe: Harare; Mozambique: Maputo; Madagascar: Antananarivo;
Namibia: Windhoek; Botswana: Gaborone; Somalia: Mogadishu; China: Beijing|Peking; Japan: Tokyo;
South Korea: Seoul; North Korea: Pyongyang; Mongolia: Ulaanbaatar|Ulan Bator; India: New Delhi;
Pakistan: Islamabad; Bangladesh: Dhaka; Nepal: Kathmandu; Bhutan: Thimphu; Afghanistan: Kabul; Iran: Tehran;
Iraq: Baghdad; Syria: Damascus; Jordan: Amman; Lebanon: Beirut; Saudi Arabia: Riyadh; Yemen: Sanaa;
Oman: Muscat; United Arab Emirates: Abu Dhabi; Qatar: Doha; Kuwait: Kuwait City; Thailand: Bangkok;
Vietnam: Hanoi; Laos: Vientiane; Cambodia: Phnom Penh; Malaysia: Kuala Lumpur; Indonesia: Jakarta;
Philippines: Manila; Uzbekistan: Tashkent; Kazakhstan: Astana; Kyrgyzstan: Bishkek; Tajikistan: Dushanbe;
Turkmenistan: Ashgabat; United States: Washington, D.C.|Washington DC|Washington; Canada: Ottawa;
Mexico: Mexico City; Guatemala: Guatemala City; Cuba: Havana; Jamaica: Kingston; Haiti: Port-au-Prince;
Dominican Republic: Santo Domingo; Honduras: Tegucigalpa; Nicaragua: Managua; Costa Rica: San Jose;
Panama: Panama City; El Salvador: San Salvador; Colombia: Bogota; Venezuela: Caracas; Ecuador: Quito;
Peru: Lima; Chile: Santiago; Argentina: Buenos Aires; Uruguay: Montevideo; Paraguay: Asuncion;
Brazil: Brasilia; Guyana: Georgetown; Suriname: Paramaribo; Australia: Canberra; New Zealand: Wellington;
Fiji: Suva; Papua New Guinea: Port Moresby; Samoa: Apia
"""


def capital_examples(rng: random.Random) -> list[dict[str, object]]:
    examples: list[dict[str, object]] = []
    for entry in CAPITALS.replace("\n", " ").split(";"):
        country, _, names = entry.partition(":")
        spellings = [name.strip() for name in names.split("|")]
        examples.append(
            {
                "question": f"What is the capital of {country.strip()}?",
                "answer": spellings[0],
                "aliases": spellings[1:],
            }
        )
    rng.shuffle(examples)
    return examples


# --- arithmetic ---------------------------------------------------------------------------------


def arithmetic_examples(rng: random.Random) -> list[dict[str, str]]:
    """One-digit sums, differences (never negative) and products."""
    pool = []
    for a in range(10):
        for b in range(10):
            pool.append((f"What is {a} + {b}?", a + b))
            if a >= b:
                pool.append((f"What is {a} - {b}?", a - b))
            pool.append((f"What is {a} times {b}?", a * b))
    chosen = rng.sample(pool, 150)
    return [{"question": question, "answer": str(value)} for question, value in chosen]


# --- language: the language a sentence is written in ----------------------------------------------

NAMES = ["Anna", "Peter", "Maria", "Tom", "Lucas", "Sofia", "Paul", "Clara"]

# language -> things a person does, each finishing "<name> ..." as a sentence in that language.
ACTIVITIES: dict[str, list[str]] = {
    "English": [
        "reads a book in the garden",
        "drinks coffee every morning",
        "works in a small shop near the station",
        "goes to the market on Saturday",
        "cooks dinner for the whole family",
    ],
    "French": [
        "lit un livre dans le jardin",
        "boit du café tous les matins",
        "travaille dans un petit magasin près de la gare",
        "va au marché le samedi",
        "prépare le dîner pour toute la famille",
    ],
    "Spanish": [
        "lee un libro en el jardín",
        "bebe café todas las mañanas",
        "trabaja en una tienda pequeña cerca de la estación",
        "va al mercado los sábados",
        "prepara la cena para toda la familia",
    ],
    "German": [
        "liest ein Buch im Garten",
        "trinkt jeden Morgen Kaffee",
        "arbeitet in einem kleinen Laden am Bahnhof",
        "geht am Samstag auf den Markt",
        "kocht das Abendessen für die ganze Familie",
    ],
}


def language_examples(rng: random.Random) -> list[dict[str, str]]:
    """Every (name, activity) sentence of every language, labelled with the language: 40 of each."""
    examples = [
        {"sentence": f"{name} {activity}.", "language": language}
        for language, activities in ACTIVITIES.items()
        for name in NAMES
        for activity in activities
    ]
    rng.shuffle(examples)
    return examples


# --- animals: does a sentence mention an animal? ---------------------------------------------------

ANIMALS = ["The dog", "The cat", "A horse", "The rabbit", "An old goat", "The parrot", "A small fox", "The cow"]
OBJECTS = ["The bicycle", "The lamp", "A suitcase", "The old clock", "A blue umbrella", "The ladder", "The kettle"]
PLACES = [
    "stood in the yard all afternoon",
    "was left near the front door",
    "stayed in the barn during the storm",
    "was found behind the garden shed",
    "sat by the window in the sun",
    "was still there the next morning",
    "appeared in the photo of the farm",
    "was next to the red car",
    "was in the hallway when we came home",
    "was moved to the attic last week",
]


def animal_examples(rng: random.Random) -> list[dict[str, object]]:
    """Sentences about an animal or an object in the same places: 80 that mention an animal, 80 that do not."""
    animals = [{"sentence": f"{a} {p}.", "mentions_animal": True} for a in ANIMALS for p in PLACES]
    objects = [{"sentence": f"{o} {p}.", "mentions_animal": False} for o in OBJECTS for p in PLACES]
    chosen = rng.sample(animals, 80) + rng.sample(objects, 70)
    rng.shuffle(chosen)
    return chosen


# --- entities: the kind of thing a name refers to --------------------------------------------------

ENTITIES: dict[str, list[str]] = {
    "person": [
        "Albert Einstein", "Marie Curie", "William Shakespeare", "Leonardo da Vinci", "Nelson Mandela",
        "Frida Kahlo", "Isaac Newton", "Jane Austen", "Wolfgang Amadeus Mozart", "Charles Darwin",
        "Cleopatra", "Mahatma Gandhi", "Ada Lovelace", "Pablo Picasso", "Abraham Lincoln",
        "Queen Victoria", "Galileo Galilei", "Ludwig van Beethoven", "Florence Nightingale", "Napoleon Bonaparte",
        "Serena Williams", "Vincent van Gogh", "Martin Luther King", "Confucius", "Amelia Earhart",
        "Nikola Tesla", "Elvis Presley", "Rosa Parks", "Aristotle", "Michael Jordan",
    ],
    "city": [
        "Tokyo", "Paris", "Cairo", "Buenos Aires", "Sydney", "Toronto", "Mumbai", "Istanbul", "Moscow", "Lagos",
        "Chicago", "Barcelona", "Nairobi", "Bangkok", "Vienna", "Lima", "Seoul", "Amsterdam", "Dubai", "Prague",
        "Berlin", "Manchester", "Shanghai", "Rio de Janeiro", "Stockholm", "Athens", "Mexico City", "Jakarta",
        "Lisbon", "Vancouver",
    ],
    "company": [
        "Microsoft", "Toyota", "Nestle", "Samsung", "Siemens", "Coca-Cola", "IKEA", "Nike", "Intel", "Boeing",
        "Unilever", "Volkswagen", "Sony", "Adidas", "Shell", "Nokia", "Amazon", "Google", "Ford", "Honda",
        "Pfizer", "Lego", "Heineken", "Airbus", "Oracle", "Netflix", "Spotify", "Walmart", "Starbucks", "Philips",
    ],
    "animal": [
        "giraffe", "elephant", "penguin", "kangaroo", "dolphin", "tiger", "owl", "zebra", "octopus", "camel",
        "squirrel", "hedgehog", "crocodile", "flamingo", "gorilla", "wolf", "koala", "lobster", "peacock",
        "rhinoceros", "beaver", "cheetah", "jellyfish", "hamster", "panda", "eagle", "salmon", "lizard", "moose",
        "buffalo",
    ],
}  # fmt: skip


def entity_examples(rng: random.Random) -> list[dict[str, str]]:
    """Each name labelled with the kind of thing it names: 30 people, cities, companies and animals."""
    examples = [{"name": name, "kind": kind} for kind, names in ENTITIES.items() for name in names]
    rng.shuffle(examples)
    return examples


# --- writing ------------------------------------------------------------------------------------


def split(examples: list[dict], dev_share: float = DEV_SHARE) -> list[dict]:
    """Mark the first (1 - dev_share) of the examples "train" and the rest "dev"."""
    cut = round(len(examples) * (1 - dev_share))
    return [{**example, "split": "train" if index < cut else "dev"} for index, example in enumerate(examples)]


def write(name: str, inputs: list[str], examples: list[dict]) -> Path:
    path = HERE / f"{name}.jsonl"
    rows = [{**example, "_inputs": inputs} for example in split(examples)]
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    builders = {
        "sentiment": (sentiment_examples, ["review"]),
        "capitals": (capital_examples, ["question"]),
        "arithmetic": (arithmetic_examples, ["question"]),
        "topics": (topic_examples, ["review"]),
        "language": (language_examples, ["sentence"]),
        "animals": (animal_examples, ["sentence"]),
        "entities": (entity_examples, ["name"]),
    }
    for offset, (name, (build, inputs)) in enumerate(builders.items()):
        examples = build(random.Random(SEED + offset))
        print(f"{write(name, inputs, examples)}: {len(examples)} examples")


if __name__ == "__main__":
    main()
