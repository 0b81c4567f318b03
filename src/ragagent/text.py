"""Lexical tokenization for BM25, for English, German and CJK text.

`tokenize` turns a query or a chunk into the terms BM25 counts. Queries and
chunks go through the same function, so their terms match:

1. Normalization: Unicode NFKC (full-width letters and digits become ASCII),
   case folding (`ß` becomes `ss`), every Unicode dash becomes `-`, and soft
   hyphens are removed.
2. Han, Hiragana, Katakana and Hangul runs become overlapping character
   bigrams, because these scripts do not separate words with spaces. A run of
   one character becomes that character.
3. Other text splits into words on every character that is not a letter or a
   digit. Words joined by `.`, `,` or `-` also stay whole when they contain a
   digit or are joined by hyphens only, so `87.5`, `146,982`, `1.84ms`, `gpt-4`
   and `state-of-the-art` match exactly as well as by their parts. A number
   followed by a unit (`1.84ms`) also yields the number alone (`1.84`), and a
   part that mixes letters and digits (`84ms`) also yields its letter and digit
   runs (`84`, `ms`).
4. Stopwords of the text's language are removed, and the remaining words of
   letters only are stemmed with the Snowball stemmer of that language.

`detect_language` picks English or German per text from stopword counts and
umlauts. Text with no signal counts as English, so short English queries are
stemmed like the English chunks they search.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from typing import Literal

import Stemmer

Language = Literal["en", "de"]

TOKENIZER_VERSION = 1
"""Version of the rules below. Stores record it with each chunk's terms and retokenize chunks of another version."""

DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"
SOFT_HYPHEN = "\u00ad"
_DASH_TABLE = str.maketrans({**{dash: "-" for dash in DASHES}, SOFT_HYPHEN: None})

_CJK_CHARACTERS = (
    "\u1100-\u11ff"  # Hangul Jamo
    "\u3005\u3007"  # ideographic iteration mark and number zero
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff"  # Katakana
    "\u3130-\u318f"  # Hangul compatibility Jamo
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK unified ideographs extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK unified ideographs extensions B to G
)
_CJK_RUN = re.compile(f"([{_CJK_CHARACTERS}]+)")
_COMPOUND = re.compile(r"[^\W_]+(?:[.,\-][^\W_]+)*")
_SEPARATOR = re.compile(r"[.,\-]")
_LEADING_NUMBER = re.compile(r"\d+(?:[.,]\d+)+")
_LETTER_OR_DIGIT_RUN = re.compile(r"\d+|[^\W\d_]+")
_WORD = re.compile(r"[^\W\d_]+")

ENGLISH_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be been before being below between both but by
    can could did do does doing done during each either et etc few for from further had has have having he her here
    hers him his how however i if in into is it its itself may me might more most much must my no nor not of off on
    once only or other our ours out over own per same shall she should since so some such than that the their theirs
    them then there these they this those through thus to too under until up upon us very via was we were what when
    where whether which while who whom whose why will with within without would yet you your s t""".split()
)
GERMAN_STOPWORDS = frozenset(
    """aber als am an auch auf aus bei bin bis bist da damit dann das dass dein deine dem den denn der des dessen die
    dies diese diesem diesen dieser dieses doch dort du durch ein eine einem einen einer eines er es euer eure für gegen
    hat hatte hatten hier ich ihr ihre im in ins ist ja jede jedem jeden jeder jedes jedoch kann kein keine können man
    mit muss nach nicht noch nun nur ob oder ohne sehr sein seine sich sie sind so soll sollen somit sowie über um und
    uns unser unter vom von vor war waren was weil welche welchem welchen welcher welches wenn werden wie wir wird
    wo wurde wurden zu zum zur zwischen""".split()
)
# Words that are stopwords in one language only, so they tell the languages apart.
_ENGLISH_MARKERS = ENGLISH_STOPWORDS - GERMAN_STOPWORDS - {"also", "bin", "so", "was", "will", "man"}
_GERMAN_MARKERS = GERMAN_STOPWORDS - ENGLISH_STOPWORDS - {"also", "die", "man", "was", "bin", "so", "an", "in"}
_GERMAN_LETTERS = re.compile("[äöüß]")

_STOPWORDS: dict[Language, frozenset[str]] = {"en": ENGLISH_STOPWORDS, "de": GERMAN_STOPWORDS}
_STEMMER_ALGORITHMS: dict[Language, str] = {"en": "english", "de": "german"}
# PyStemmer's Stemmer objects are not thread-safe, so each thread gets its own.
_thread_state = threading.local()


def normalize(text: str) -> str:
    """Apply NFKC, case folding and dash folding, and remove soft hyphens."""
    return unicodedata.normalize("NFKC", text).translate(_DASH_TABLE).casefold()


def detect_language(text: str) -> Language:
    """Guess whether `text` is German or English from stopwords and umlauts.

    Returns "de" when German stopwords and words with ä, ö, ü or ß outnumber
    English stopwords, else "en". Words that are stopwords in both languages
    do not count.
    """
    lowered = unicodedata.normalize("NFKC", text).lower()
    english = 0
    german = 0
    for word in _WORD.findall(lowered):
        if word in _ENGLISH_MARKERS:
            english += 1
        elif word in _GERMAN_MARKERS or _GERMAN_LETTERS.search(word):
            german += 1
    return "de" if german > english else "en"


def tokenize(text: str, language: Language | None = None) -> list[str]:
    """Return the BM25 terms of `text` in order of appearance, by the rules in the module docstring.

    `language` selects the stopwords and the stemmer. When it is None, `detect_language` selects it.
    """
    if language is None:
        language = detect_language(text)
    elif language not in _STOPWORDS:
        raise ValueError(f"language={language!r} is not supported. Use 'en', 'de' or None to detect it.")
    stopwords = _STOPWORDS[language]
    stemmer = _stemmer(language)

    tokens: list[str] = []
    for index, segment in enumerate(_CJK_RUN.split(normalize(text))):
        # re.split with one capture group puts the captured CJK runs at odd indexes.
        if index % 2 == 1:
            tokens.extend(_cjk_terms(segment))
            continue
        for match in _COMPOUND.finditer(segment):
            tokens.extend(_compound_terms(match.group(), stopwords, stemmer))
    return tokens


def _cjk_terms(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _compound_terms(compound: str, stopwords: frozenset[str], stemmer: Stemmer.Stemmer) -> list[str]:
    parts = _SEPARATOR.split(compound)
    terms: list[str] = []
    if len(parts) > 1 and (_has_digit(compound) or "." not in compound and "," not in compound):
        terms.append(compound)
        leading_number = _LEADING_NUMBER.match(compound)
        if leading_number and leading_number.group() != compound:
            terms.append(leading_number.group())

    for part in parts:
        if part.isdigit():
            terms.append(part)
        elif _has_digit(part):
            terms.append(part)
            terms.extend(_LETTER_OR_DIGIT_RUN.findall(part))
        elif part not in stopwords:
            terms.append(stemmer.stemWord(part))
    return terms


def _has_digit(text: str) -> bool:
    return any(character.isdigit() for character in text)


def _stemmer(language: Language) -> Stemmer.Stemmer:
    stemmers: dict[Language, Stemmer.Stemmer] | None = getattr(_thread_state, "stemmers", None)
    if stemmers is None:
        stemmers = {}
        _thread_state.stemmers = stemmers
    if language not in stemmers:
        stemmers[language] = Stemmer.Stemmer(_STEMMER_ALGORITHMS[language])
    return stemmers[language]
