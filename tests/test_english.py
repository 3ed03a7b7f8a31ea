"""The toy English corpus and the WikiText-format loader (sslcourse.data.english)."""
from __future__ import annotations

import pytest

from sslcourse.data.english import (
    THINGS, TOPICS, find_wikitext, generate_stories, is_held_out, load_text_file, split_sentences, tokenize_words,
    toy_corpus, toy_vocabulary, word_tags,
)


def test_stories_are_seeded_and_varied():
    a, b, c = generate_stories(200, seed=0), generate_stories(200, seed=0), generate_stories(200, seed=1)
    assert [s.text for s in a] == [s.text for s in b]
    assert [s.text for s in a] != [s.text for s in c]
    assert {s.topic for s in generate_stories(2000, seed=0)} == set(TOPICS)
    assert len({s.text for s in generate_stories(2000, seed=0)}) > 1000


def test_grammar_makes_masked_verb_knowable():
    """Every object kind has exactly one verb: "She [MASK] her coffee." can only be "drank"."""
    verbs = {}
    for s in generate_stories(5000, seed=3):
        if s.topic in THINGS:
            w = tokenize_words(s.first)  # [subject, verb, possessive, object, "."]
            verbs.setdefault(w[3], set()).add(w[1])
    assert verbs["coffee"] == {"drank"}
    assert all(len(v) == 1 for v in verbs.values())
    assert "she drank her coffee ." in {" ".join(tokenize_words(s.first)) for s in generate_stories(5000, seed=0)}


def test_second_sentence_follows_the_first():
    for s in generate_stories(3000, seed=4):
        first, second = tokenize_words(s.first), tokenize_words(s.second)
        if s.topic in THINGS and second[0] == "the":  # "The coffee was hot." repeats the object
            assert second[1] == first[3]
        if s.topic == "animal":
            assert second[0] == "it's"
        if first[0] in ("she", "he") and s.topic != "weather":
            assert second[0] in (first[0], "the")  # the pronoun agrees with the subject


def test_answers_are_spans_of_the_first_sentence():
    for s in generate_stories(1000, seed=5):
        first, answer = tokenize_words(s.first), tokenize_words(s.answer)
        assert any(first[i: i + len(answer)] == answer for i in range(len(first))), (s.first, s.answer)


def test_held_out_split_is_disjoint():
    train, test = toy_corpus(3000, 300, seed=0)
    assert len(train) == 3000 and len(test) == 300
    assert not {s.first for s in train} & {s.first for s in test}
    assert all(is_held_out(s) for s in test) and not any(is_held_out(s) for s in train)


def test_vocabulary_covers_the_grammar():
    vocab = set(toy_vocabulary())
    for s in generate_stories(3000, seed=9):
        for text in (s.first, s.second, s.question):
            assert set(tokenize_words(text)) <= vocab


def test_tokenize_words_and_tags():
    assert tokenize_words("It's on the sofa.") == ["it's", "on", "the", "sofa", "."]
    assert tokenize_words("She [MASK] her coffee.") == ["she", "[MASK]", "her", "coffee", "."]
    assert tokenize_words("a <unk> , b") == ["a", "<unk>", ",", "b"]
    assert word_tags(["tom", "went", "to", "the", "bakery", "with", "the", "cat", "and", "coffee"]) == [
        "PERSON", "O", "O", "O", "PLACE", "O", "O", "ANIMAL", "O", "THING"]


def test_split_sentences():
    assert split_sentences("He left. She stayed!  Why? Yes.") == ["He left.", "She stayed!", "Why?", "Yes."]
    # WikiText spacing, abbreviations and number separators
    wiki = " It is related to the lobster , H. americanus . It may grow to 0 @.@ 7 m . The end . "
    assert split_sentences(wiki) == ["It is related to the lobster , H. americanus .",
                                     "It may grow to 0 @.@ 7 m .", "The end ."]
    assert split_sentences("   ") == []


def test_load_text_file_wikitext_format(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_text(" \n = First Article = \n \n Alpha one . Alpha two . \n \n = = Section = = \n \n Alpha three . \n"
                    " \n = Second Article = \n \n Beta one . Beta two . \n", encoding="utf-8")
    docs = load_text_file(path)
    assert docs == [["Alpha one .", "Alpha two .", "Alpha three ."], ["Beta one .", "Beta two ."]]
    assert load_text_file(path, min_sentences=3) == [docs[0]]
    with pytest.raises(FileNotFoundError, match="no file"):
        load_text_file(tmp_path / "missing.txt")


def test_real_wikitext_if_available():
    root = find_wikitext()
    if root is None:
        pytest.skip("WikiText-2 not available (../shared/data/wikitext-2)")
    docs = load_text_file(root / "test.txt")
    assert len(docs) > 50
    assert sum(len(d) for d in docs) > 5000
    assert all(not s.startswith("=") for d in docs[:20] for s in d)
