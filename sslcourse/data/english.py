"""Text for the language-model topics: a generated toy English corpus and a real-text loader.

The **toy English corpus** is a small grammar of two-sentence stories, built so that the two
self-supervised text tasks of the lecture have knowable answers:

* masked language modelling: in "She [MASK] her coffee." only "drank" fits, because every drink
  in the grammar is drunk, every food is eaten, every book is read (one verb per object kind);
* next-sentence prediction: the second sentence of a story really follows its first one
  ("The cat is sleeping. It's on the sofa.", "Tom went to the bakery. He bought some bread."):
  it repeats the subject's pronoun and a detail that only fits that first sentence.

Each story also carries labels for the downstream tasks of the lecture (its topic, a question
with its answer span), and `word_tags` gives each word its kind (person, animal, place, thing),
so that classification, tagging and span extraction can be demonstrated on the same text.

The **real-text loader** reads files in WikiText's format (" = Heading = " lines, one paragraph
a line, tokens separated by spaces) and splits paragraphs into sentences.

Code word -> lecture word: ``Story.first`` / ``Story.second`` -> sentences A and B of BERT's
``[CLS] A [SEP] B [SEP]`` input.
"""
from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Story",
    "TOPICS",
    "TAGS",
    "generate_stories",
    "is_held_out",
    "toy_corpus",
    "toy_vocabulary",
    "word_tags",
    "tokenize_words",
    "split_sentences",
    "load_text_file",
    "find_wikitext",
]

# --------------------------------------------------------------------------- the lexicon

FEMALE = ["anna", "mary", "lucy", "emma", "sara", "julia", "nora", "alice", "kate", "maria", "laura", "sophie",
          "clara", "eva", "hannah", "rose"]
MALE = ["tom", "john", "paul", "mark", "peter", "david", "sam", "leo", "max", "ben", "jack", "oscar", "luke",
        "adam", "henry", "felix"]
PRONOUN = {"f": ("she", "her"), "m": ("he", "his")}  # subject, possessive

# One verb per kind of object: the masked verb is determined by the object (and vice versa).
# kind: (past verb, base verb for questions, objects, adjectives for "The X was ADJ.", feeling after)
THINGS = {
    "drink": ("drank", "drink", ["coffee", "tea", "milk", "juice", "water", "lemonade"],
              ["hot", "cold", "sweet", "strong"], "was not thirsty anymore"),
    "food": ("ate", "eat", ["apple", "sandwich", "soup", "cake", "pizza", "salad", "bread"],
             ["delicious", "warm", "salty", "fresh"], "was not hungry anymore"),
    "reading": ("read", "read", ["book", "newspaper", "magazine", "novel"],
                ["boring", "exciting", "funny", "long"], "liked the story"),
    "writing": ("wrote", "write", ["letter", "poem", "essay", "report"],
                ["short", "beautiful", "finished", "perfect"], "was proud of it"),
    "clothes": ("wore", "wear", ["coat", "hat", "scarf", "jacket", "sweater"],
                ["new", "warm", "red", "blue"], "looked very nice"),
    "music": ("played", "play", ["guitar", "piano", "violin", "drum"],
              ["loud", "old", "quiet", "heavy"], "loved the music"),
}

# animal -> activities it can do; activity -> where it then is
ANIMALS = {
    "cat": ["sleeping", "eating", "playing", "hiding"],
    "dog": ["sleeping", "eating", "playing", "barking"],
    "bird": ["singing", "eating", "flying"],
    "rabbit": ["sleeping", "eating", "hiding"],
    "duck": ["swimming", "eating", "sleeping"],
    "horse": ["sleeping", "eating", "running"],
}
ACTIVITY_PLACES = {
    "sleeping": ["on the sofa", "in its bed", "under the bed"],
    "eating": ["in the kitchen", "next to its bowl"],
    "playing": ["in the garden", "on the carpet"],
    "hiding": ["under the table", "behind the door"],
    "barking": ["at the door", "at the window"],
    "singing": ["in the tree", "on the roof"],
    "flying": ["over the house", "above the trees"],
    "swimming": ["in the pond", "in the river"],
    "running": ["in the field", "on the hill"],
}

# place -> what one does there (the second sentence)
PLACES = {
    "bakery": ["bought some bread", "bought a cake"],
    "library": ["borrowed a book", "read quietly"],
    "doctor": ["felt sick", "had a fever"],
    "station": ["took the train", "missed the train"],
    "park": ["walked the dog", "sat on a bench"],
    "beach": ["swam in the sea", "built a sandcastle"],
    "market": ["bought some apples", "bought fresh fish"],
    "school": ["met the teacher", "studied hard"],
}

# weather -> what one does about it
WEATHER = {
    "raining": ["took {p} umbrella", "stayed at home"],
    "snowing": ["built a snowman", "wore {p} boots"],
    "sunny": ["went to the beach", "wore {p} sunglasses"],
    "windy": ["flew a kite", "closed the window"],
}

# feeling -> what one does about it
FEELINGS = {
    "tired": ["went to bed early", "took a nap"],
    "hungry": ["made a sandwich", "cooked some pasta"],
    "cold": ["closed the window", "lit the fire"],
    "happy": ["sang a song", "smiled all day"],
    "sad": ["cried all night", "called a friend"],
    "thirsty": ["drank some water", "bought a drink"],
}

ITEMS = ["keys", "wallet", "phone", "glasses", "ring", "watch"]  # "lost the X"
FOUND = ["under the bed", "in the car", "in the garden", "behind the sofa"]

#: the story kinds: the label of the sentence-classification task
TOPICS = ("drink", "food", "reading", "writing", "clothes", "music", "animal", "place", "weather", "feeling", "lost")
#: the word kinds: the labels of the tagging task
TAGS = ("O", "PERSON", "ANIMAL", "PLACE", "THING")


@dataclass
class Story:
    """One two-sentence story with its labels.

    Attributes:
        first: sentence A, e.g. "She drank her coffee."
        second: sentence B, really following A, e.g. "The coffee was hot."
        topic: the story kind, one of `TOPICS` (sentence-classification label).
        question: a question about the story, e.g. "What did she drink?"
        answer: its answer, a contiguous span of `first`, e.g. "her coffee".
    """

    first: str
    second: str
    topic: str
    question: str
    answer: str

    @property
    def text(self) -> str:
        return f"{self.first} {self.second}"


def _cap(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]


def _person(rng: random.Random) -> tuple[str, str, str]:
    """A subject: a name or a bare pronoun (so that "She drank her coffee." occurs), its pronoun pair."""
    g = rng.choice("fm")
    subj, poss = PRONOUN[g]
    name = rng.choice(FEMALE if g == "f" else MALE).capitalize() if rng.random() < 0.7 else subj
    return name, subj, poss


def _story(rng: random.Random) -> Story:
    kind = rng.choice(TOPICS)
    if kind in THINGS:
        verb, base, objects, adjectives, feeling = THINGS[kind]
        name, subj, poss = _person(rng)
        obj = rng.choice(objects)
        first = f"{name} {verb} {poss} {obj}."
        second = (f"the {obj} was {rng.choice(adjectives)}." if rng.random() < 0.5 else f"{subj} {feeling}.")
        return Story(_cap(first), _cap(second), kind, f"What did {subj} {base}?", f"{poss} {obj}")
    if kind == "animal":
        animal = rng.choice(list(ANIMALS))
        act = rng.choice(ANIMALS[animal])
        where = rng.choice(ACTIVITY_PLACES[act])
        return Story(f"The {animal} is {act}.", f"It's {where}.", kind, f"What is {act}?", f"the {animal}")
    if kind == "place":
        name, subj, poss = _person(rng)
        place = rng.choice(list(PLACES))
        first = f"{name} went to the {place}."
        return Story(_cap(first), _cap(f"{subj} {rng.choice(PLACES[place])}."), kind,
                     f"Where did {subj} go?", f"the {place}")
    if kind == "weather":
        name, subj, poss = _person(rng)
        weather = rng.choice(list(WEATHER))
        first = f"it was {weather} when {name} woke up."
        action = rng.choice(WEATHER[weather]).format(p=poss)
        return Story(_cap(first), _cap(f"{subj} {action}."), kind, "What was the weather?", weather)
    if kind == "feeling":
        name, subj, poss = _person(rng)
        feeling = rng.choice(list(FEELINGS))
        return Story(_cap(f"{name} was {feeling}."), _cap(f"{subj} {rng.choice(FEELINGS[feeling])}."), kind,
                     f"How was {subj}?", feeling)
    # kind == "lost"
    name, subj, poss = _person(rng)
    item = rng.choice(ITEMS)
    pron = "them" if item in ("keys", "glasses") else "it"
    second = (f"{subj} found {pron} {rng.choice(FOUND)}." if rng.random() < 0.5
              else f"{subj} looked for {pron} everywhere.")
    return Story(_cap(f"{name} lost {poss} {item}."), _cap(second), kind, f"What did {subj} lose?", f"{poss} {item}")


def is_held_out(story: Story) -> bool:
    """True for the stories of the held-out split: about 10% of all first sentences (by a fixed hash).

    The grammar is finite, so a random sample would repeat training stories; splitting by a hash
    of the first sentence guarantees that no held-out first sentence is ever seen in training.
    """
    return zlib.crc32(story.first.lower().encode()) % 10 == 0


def generate_stories(n: int, seed: int = 0, split: str = "all") -> list[Story]:
    """`n` random stories from the toy grammar, reproducible from `seed`.

    Args:
        n: number of stories (drawn with replacement: a story can occur twice).
        seed: seed of the story generator (an independent `random.Random`; global state untouched).
        split: "all"; "train" (never a held-out first sentence) or "test" (only held-out ones),
            see `is_held_out`.

    Returns:
        list of `Story`.

    Example:
        >>> generate_stories(1, seed=0)[0].text  # doctest: +SKIP
        'The rabbit is sleeping. It's in its bed.'
    """
    if n < 0:
        raise ValueError(f"generate_stories: n must be >= 0, got {n}")
    if split not in ("all", "train", "test"):
        raise ValueError(f"generate_stories: split must be 'all', 'train' or 'test', got {split!r}")
    rng = random.Random(seed)
    stories: list[Story] = []
    while len(stories) < n:
        story = _story(rng)
        if split == "all" or is_held_out(story) == (split == "test"):
            stories.append(story)
    return stories


def toy_corpus(n_train: int = 20000, n_test: int = 2000, seed: int = 0) -> tuple[list[Story], list[Story]]:
    """Train and held-out stories: no held-out first sentence occurs in the train split."""
    return generate_stories(n_train, seed, "train"), generate_stories(n_test, seed + 1, "test")


# --------------------------------------------------------------------------- words and tags

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|<unk>|[^\sa-z0-9]", re.IGNORECASE)


def tokenize_words(text: str, lowercase: bool = True) -> list[str]:
    """Split text into words and punctuation marks: "It's on the sofa." -> ["it's", "on", "the", "sofa", "."].

    Bracketed special tokens such as "[MASK]" are kept whole.
    """
    words: list[str] = []
    for piece in re.split(r"(\[[A-Z]+\])", text):
        if re.fullmatch(r"\[[A-Z]+\]", piece):
            words.append(piece)
        else:
            words.extend(w.lower() if lowercase else w for w in _WORD.findall(piece))
    return words


def toy_vocabulary() -> list[str]:
    """Every word the toy grammar can produce (sorted), so a tokenizer never needs [UNK] on it."""
    words: set[str] = set()
    for story in generate_stories(3000, seed=12345):
        for text in (story.first, story.second, story.question, story.answer):
            words.update(tokenize_words(text))
    # words that a small sample might miss are few; add the lexicon itself to be sure
    lexicon = FEMALE + MALE + ITEMS + list(ANIMALS) + list(PLACES) + list(WEATHER) + list(FEELINGS)
    for verb, base, objects, adjectives, feeling in THINGS.values():
        lexicon += [verb, base, *objects, *adjectives, *feeling.split()]
    for acts in ANIMALS.values():
        lexicon += acts
    for phrases in [*ACTIVITY_PLACES.values(), *PLACES.values(), *WEATHER.values(), *FEELINGS.values(), FOUND]:
        for phrase in phrases:
            lexicon += tokenize_words(phrase.format(p="her"))
    words.update(lexicon + ["she", "he", "her", "his", "them", "it", "it's", "?", ".", ","])
    return sorted(words)


def word_tags(words: list[str]) -> list[str]:
    """The kind of each word (one of `TAGS`): the labels of the toy tagging task.

    PERSON: names and the pronouns she/he; ANIMAL: animals; PLACE: places one goes to;
    THING: objects (drinks, food, books, ... and lost items); O: everything else.
    """
    things = {o for _, _, objects, _, _ in THINGS.values() for o in objects} | set(ITEMS)
    kinds = {**{w: "PERSON" for w in FEMALE + MALE + ["she", "he"]},
             **{w: "ANIMAL" for w in ANIMALS}, **{w: "PLACE" for w in PLACES}, **{w: "THING" for w in things}}
    return [kinds.get(w.lower(), "O") for w in words]


# --------------------------------------------------------------------------- real text (WikiText format)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(]?[A-Z0-9])")


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences at '.', '!' or '?' followed by a space and a capital.

    Works on ordinary prose ("He left. She stayed.") and on WikiText's spaced tokens
    ("He left . She stayed ."); abbreviations followed by a lower-case word ("H. americanus")
    and WikiText's number separators ("0 @.@ 7") are not split.
    """
    paragraph = paragraph.strip()
    if not paragraph:
        return []
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


_HEADING = re.compile(r"^\s*((?:=\s*)+)[^=]*?(?:\s*=)+\s*$")  # " = Title = ", " = = Section = = "


def load_text_file(path: str | Path, min_sentences: int = 1) -> list[list[str]]:
    """Read a text file in WikiText's format into documents, each a list of sentences.

    WikiText-2 (Merity et al., 2016, https://arxiv.org/abs/1609.07843) stores one paragraph a
    line, articles start at a top-level heading " = Title = " and sections at " = = Section = = ".
    A new document starts at each top-level heading; headings themselves are dropped, empty lines
    ignored. A file without headings is one document.

    Args:
        path: the text file (UTF-8).
        min_sentences: drop documents with fewer sentences.

    Returns:
        list of documents, each a list of sentence strings (WikiText's "<unk>" kept as is).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_text_file: no file at {path}; pass the path of a text file "
                                "(WikiText-2: valid.txt or test.txt)")
    docs: list[list[str]] = [[]]
    with open(path, encoding="utf-8") as f:
        for line in f:
            heading = _HEADING.match(line)
            if heading:
                if heading.group(1).count("=") == 1 and docs[-1]:
                    docs.append([])
                continue
            docs[-1].extend(split_sentences(line))
    return [d for d in docs if len(d) >= min_sentences]


def find_wikitext() -> Path | None:
    """The WikiText-2 folder (holding valid.txt and test.txt) if one is available, else None.

    Looks at $SSLCOURSE_DATA/wikitext-2, then ../shared/data/wikitext-2 from the working folder and
    from the package.
    """
    import os

    candidates = []
    if os.environ.get("SSLCOURSE_DATA"):
        candidates.append(Path(os.environ["SSLCOURSE_DATA"]) / "wikitext-2")
    here = Path(__file__).resolve()
    for base in [Path.cwd(), *Path.cwd().parents, *here.parents]:
        candidates.append(base / "shared" / "data" / "wikitext-2")
        candidates.append(base / "data" / "wikitext-2")
    for c in candidates:
        if (c / "valid.txt").is_file() and (c / "test.txt").is_file():
            return c
    return None
