"""Term extraction and term weights shared by the offline grader, rewriter and generator."""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import Stemmer

from ragagent.store.base import VectorStore
from ragagent.text import GERMAN_STOPWORDS, Language, detect_language

logger = logging.getLogger(__name__)

# A word, or a number with its decimal or ratio parts ("3:1", "0.65", "28,009").
_TOKEN_PATTERN = re.compile(r"[0-9]+(?:[.,:][0-9]+)*%?|[^\W\d_]+[0-9]*", re.UNICODE)
_THOUSANDS_SEPARATOR = re.compile(r"(?<=\d),(?=\d{3}\b)")

# Multipliers on a term's weight: numbers and names carry the specific fact a
# question asks about, so a chunk that repeats them is more likely to answer it.
NUMBER_WEIGHT = 1.5
NAME_WEIGHT = 1.3

_ENGLISH_STOPWORDS = """
a about above after again against all also am an and any are as at be been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now
of off on once only or other our ours ourselves out over own same she should so some such than that the
their theirs them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself yourselves
"""

# Words that frame a question about a document ("according to the report, what
# score does X reach") rather than name the fact, so answer sentences rarely
# contain them.
_QUESTION_FRAME_WORDS = """
many much whose within via per according using used use get got give given reach reaches reached obtain
obtains obtained achieve achieves achieved report reported reports paper figure table compared comparison
show shows shown state stated
"""

# The German counterparts of the frame words above.
_GERMAN_QUESTION_FRAME_WORDS = """
viele viel laut gemäß zufolge verwendet verwenden benutzt erreicht erreichen erzielt erhält bericht arbeit
abbildung tabelle vergleich zeigt zeigen gezeigt dargestellt
"""

STOPWORDS = frozenset(_ENGLISH_STOPWORDS.split()) | frozenset(_QUESTION_FRAME_WORDS.split())
GERMAN_QUERY_STOPWORDS = GERMAN_STOPWORDS | frozenset(_GERMAN_QUESTION_FRAME_WORDS.split())
_QUERY_STOPWORDS: dict[Language, frozenset[str]] = {"en": STOPWORDS, "de": GERMAN_QUERY_STOPWORDS}
_STEMMER_ALGORITHMS: dict[Language, str] = {"en": "english", "de": "german"}
_QUESTION_WORDS = frozenset(
    {"what", "which", "how", "who", "when", "where", "welche", "welcher", "welches", "welchen", "wie", "was", "wer", "wann", "wo"}
)
# Words between a question word and its focus: "how many GPUs", "how much time".
_FOCUS_SKIPPED = frozenset({"many", "much"})
MAX_FOCUS_TERMS = 2
# The first paragraph of a document's first chunk, up to this many
# characters, is its title (with the period or parties it covers): a specific
# name found there names the document itself, so chunks need not repeat it.
TITLE_PREFIX_CHARS = 200
# The longest run of tokens that one specific name may span once compacted
# ("DeepSeek-V3-Base" is three tokens).
MAX_NAME_TOKENS = 4
# A document needs this many chunks before the share of its chunks that
# contain a term can mark the term as the document's topic.
MIN_TOPIC_CHUNKS = 8
TOPIC_SHARE = 0.5

# Answer-type words name the kind of value a question asks for ("on what date",
# "what score"). An answer sentence states the value itself ("October 28,
# 1998", "87.5") and rarely repeats the word, while a heading such as
# "Effective dates" repeats the word without any value. So these words are
# matched by a value of their type, never by the word itself.
DATE_TYPE = "date"
YEAR_TYPE = "year"
NUMBER_TYPE = "number"
ANSWER_TYPE_WORDS: dict[str, str] = {
    **dict.fromkeys(("date", "day", "month"), DATE_TYPE),
    "year": YEAR_TYPE,
    **dict.fromkeys(
        ("number", "amount", "count", "quantity", "value", "score", "rate", "percentage", "percent", "percentile", "size", "ratio"),
        NUMBER_TYPE,
    ),
}
_MONTH_NAMES = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE_PATTERN = re.compile(
    rf"\b(?:(?:{_MONTH_NAMES})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}\.?\s+(?:{_MONTH_NAMES})\.?,?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4})\b",
    re.IGNORECASE,
)
_FULL_MONTH_NAMES = frozenset(
    "january february march april may june july august september october november december".split()
)
# A word or a hyphenated compound ("GPT-4", "Mixture-of-Experts").
_NAME_PART = r"(?:\d+(?:[.,:]\d+)+[^\W_]*|[^\W_]+)"
_NAME_SPAN = re.compile(rf"{_NAME_PART}(?:[-‐–]{_NAME_PART})*")
# A short identifier that belongs to the capitalized word before it: "Title V", "Table 2", "Gemini 1.5".
_IDENTIFIER = re.compile(r"\d+(?:[.,:]\d+)*[A-Za-z]?|[IVX]{1,4}|[A-Z]")
_ACRONYM = re.compile(r" \(([A-Z][A-Za-z0-9-]*[A-Z0-9][A-Za-z0-9-]*)\)")
_YEAR_PATTERN = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)\b")
# In "how long", "how large" and the like, the adjective asks for a quantity
# and rarely appears in the sentence that states it ("for ten years").
_HOW_WORDS = frozenset({"how", "wie"})
QUANTITY_ADJECTIVES = frozenset(
    {"long", "large", "big", "far", "fast", "old", "high", "tall", "wide", "often", "lang", "groß", "hoch", "alt", "oft", "schnell"}
)
# Numbers written as words state a value as much as digits do ("twelve
# newspapers", "ten years"). "one" is left out because it is mostly a pronoun.
NUMBER_WORDS = frozenset(
    """two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen
    nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion trillion dozen
    zwei drei vier fünf sechs sieben acht neun zehn elf zwölf zwanzig dreißig hundert tausend""".split()
)


@lru_cache(maxsize=len(_STEMMER_ALGORITHMS))
def _stemmer(language: Language) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_STEMMER_ALGORITHMS[language])


def normalize_text(text: str) -> str:
    """Fold Unicode compatibility forms (ligatures, math italics) and thousands separators."""
    text = unicodedata.normalize("NFKC", text)
    return _THOUSANDS_SEPARATOR.sub("", text)


def tokenize(text: str) -> list[str]:
    """Return the lowercased word and number tokens of `text`, in order."""
    return [token.lower() for token in _TOKEN_PATTERN.findall(normalize_text(text))]


def stem(token: str, language: Language = "en") -> str:
    """Stem a lowercased token with the Snowball stemmer of `language`; a number only loses its percent sign."""
    if any(character.isdigit() for character in token):
        return token.rstrip("%")
    return _stemmer(language).stemWord(token)


def term_set(text: str, language: Language | None = None) -> set[str]:
    """Return the stemmed tokens of `text`, stopwords included, for membership tests.

    The stemmer is that of `language`, or of the language `detect_language` finds in `text`.
    """
    language = language or detect_language(text)
    return {stem(token, language) for token in tokenize(text)}


def query_stopwords(language: Language) -> frozenset[str]:
    """Return the words that `query_terms` drops from a question in `language`."""
    return _QUERY_STOPWORDS[language]


@lru_cache(maxsize=1)
def _number_word_stems() -> frozenset[str]:
    return frozenset(stem(word, language) for word in NUMBER_WORDS for language in _STEMMER_ALGORITHMS)


@dataclass(frozen=True)
class QueryTerm:
    term: str
    surface: str
    is_number: bool
    is_name: bool
    is_focus: bool = False
    answer_type: str | None = None
    """DATE_TYPE, YEAR_TYPE or NUMBER_TYPE for an answer-type word, None for any other term."""


def query_terms(question: str) -> list[QueryTerm]:
    """Return the content terms of a question, stemmed and without stopwords or repeats.

    A term is a name when the question capitalizes it anywhere but at its
    start. Focus terms name what the question asks for: the first content
    words after its question word ("How many GPUs", "what EMA coefficient").
    An answer-type word ("date", "score") gets its type and is never a focus
    term, and so does the adjective of "how long", "how large" and the like.
    Stopwords and stems are those of the question's language (English or German).
    """
    normalized = normalize_text(question)
    language = detect_language(normalized)
    stopwords = query_stopwords(language)
    names = {match.group(0).lower() for match in re.finditer(r"(?<!^)\b[A-Z][\w]*", normalized)}
    if language == "de":
        # German capitalizes every noun, so capitals do not mark names there.
        names = {name for name in names if not name.isalpha() or name.upper() == name}
    tokens = tokenize(normalized)
    focus = _focus_tokens(tokens, stopwords)
    quantity_adjectives = {token for previous, token in zip(tokens, tokens[1:]) if previous in _HOW_WORDS and token in QUANTITY_ADJECTIVES}
    terms: dict[str, QueryTerm] = {}
    for token in tokens:
        if token in stopwords or len(token) < 2 and not token.isdigit():
            continue
        term = stem(token, language)
        if term in terms:
            continue
        is_number = any(character.isdigit() for character in token)
        answer_type = ANSWER_TYPE_WORDS.get(token) or ANSWER_TYPE_WORDS.get(token.rstrip("s"))
        if token in quantity_adjectives:
            answer_type = NUMBER_TYPE
        terms[term] = QueryTerm(
            term=term,
            surface=token,
            is_number=is_number,
            is_name=token in names,
            is_focus=token in focus and answer_type is None,
            answer_type=answer_type,
        )
    return list(terms.values())


def _focus_tokens(tokens: list[str], stopwords: frozenset[str]) -> set[str]:
    start = next((index for index, token in enumerate(tokens) if token in _QUESTION_WORDS), None)
    if start is None:
        return set()
    focus: list[str] = []
    for token in tokens[start + 1 :]:
        if token in _FOCUS_SKIPPED:
            continue
        if token in stopwords or len(focus) == MAX_FOCUS_TERMS:
            break
        focus.append(token)
    return set(focus)


def _key_token(token: str) -> str:
    # A plural "s" is dropped so "GPUs" and "GPU" share a key; digits are kept as written.
    if token.isalpha() and len(token) > 3 and token.endswith("s"):
        return token[:-1]
    return token


def name_key(text: str) -> str:
    """Return the compact form of a name: its lowercased tokens joined without separators.

    "GPT-4", "GPT 4" and "GPT4" all give "gpt4", and "DeepSeek-V3" and
    "DeepSeek V3" both give "deepseekv3", so a name matches however its parts are spaced.
    """
    return "".join(_key_token(token) for token in tokenize(text))


def compact_keys(text: str, max_tokens: int = MAX_NAME_TOKENS, min_tokens: int = 1) -> set[str]:
    """Return the `name_key` of every run of `min_tokens` to `max_tokens` adjacent tokens of `text`."""
    tokens = [_key_token(token) for token in tokenize(text)]
    keys: set[str] = set()
    for start in range(len(tokens)):
        for end in range(start + min_tokens, min(start + max_tokens, len(tokens)) + 1):
            keys.add("".join(tokens[start:end]))
    return keys


@dataclass(frozen=True)
class SpecificName:
    """A name, number, month or year in a question that the quoted evidence must contain."""

    surface: str
    key: str
    """The `name_key` of `surface`."""
    alternative_key: str | None = None
    """The key of the words that an acronym abbreviates ("Kimi Delta Attention (KDA)"); either key matches."""

    def found_in(self, keys: set[str]) -> bool:
        return self.key in keys or (self.alternative_key is not None and self.alternative_key in keys)


def specific_names(question: str) -> list[SpecificName]:
    """Return the question's names with a digit or a capital, its numbers, and its month names.

    These terms pin the fact asked for to one model, dataset, period or row
    ("GPT-4", "Kentucky", "December 2015"), so an answer quoted from a chunk
    without them is about something else. A capitalized word counts when it is
    not the question's first word or a stopword; in German only a name with a
    digit or a capital past its first letter counts, because German
    capitalizes every noun. A capitalized word followed by a short identifier
    ("Title V", "Table 2") forms one name with it. An acronym in brackets
    right after capitalized words ("Kimi Delta Attention (KDA)") forms one
    name with them, found where either the words or the acronym are.
    """
    normalized = normalize_text(question)
    language = detect_language(normalized)
    stopwords = query_stopwords(language)
    spans = list(_NAME_SPAN.finditer(normalized))
    names: list[SpecificName] = []
    index = 0
    while index < len(spans):
        span = spans[index]
        surface = span.group(0)
        following = spans[index + 1] if index + 1 < len(spans) else None
        if (
            following is not None
            and surface[0].isupper()
            and surface.isalpha()
            and normalized[span.end() : following.start()] == " "
            and _IDENTIFIER.fullmatch(following.group(0))
        ):
            surface = normalized[span.start() : following.end()]
            index += 1
        index += 1
        if not _is_specific(surface, span.start(), language, stopwords):
            continue
        key = name_key(surface)
        if not key or any(name.key == key for name in names):
            continue
        acronym = _ACRONYM.match(normalized, span.end() if surface == span.group(0) else span.start() + len(surface))
        if acronym is not None and index < len(spans) and spans[index].group(0) == acronym.group(1):
            words = _capitalized_run(normalized, spans, index - 1, names, stopwords)
            expanded = normalized[spans[words].start() : span.start() + len(surface)]
            names.append(SpecificName(f"{expanded} ({acronym.group(1)})", name_key(acronym.group(1)), name_key(expanded)))
            index += 1
            continue
        names.append(SpecificName(surface=surface, key=key))
    return names


def _capitalized_run(
    text: str, spans: list[re.Match[str]], last: int, names: list[SpecificName], stopwords: frozenset[str]
) -> int:
    """Return the index of the first span in the run of capitalized words ending at `last`, dropping their names."""
    first = last
    while first > 0:
        previous = spans[first - 1]
        if text[previous.end() : spans[first].start()] != " " or not previous.group(0)[0].isupper():
            break
        if previous.group(0).lower() in stopwords:
            break
        first -= 1
    run_keys = {name_key(spans[position].group(0)) for position in range(first, last)}
    names[:] = [name for name in names if name.key not in run_keys]
    return first


def _is_specific(surface: str, start: int, language: Language, stopwords: frozenset[str]) -> bool:
    if any(character.isdigit() for character in surface):
        return True
    if surface.lower() in _FULL_MONTH_NAMES:
        return True
    if start == 0 or not surface[0].isupper() or surface.lower() in stopwords or len(surface) < 2:
        return False
    has_inner_capital = any(character.isupper() for character in surface[1:])
    return language == "en" or has_inner_capital


@dataclass
class TermStatistics:
    """Chunk frequencies of stemmed terms over an indexed collection and within each document.

    The collection counts give IDF weights. The counts per document tell which
    terms a document repeats in most of its chunks (its name and topic), so a
    question that only shares those terms with a chunk does not count as
    answered there.
    """

    chunk_count: int = 0
    chunk_frequency: Counter[str] = field(default_factory=Counter)
    document_chunk_counts: dict[str, int] = field(default_factory=dict)
    document_frequencies: dict[str, Counter[str]] = field(default_factory=dict)
    document_title_terms: dict[str, set[str]] = field(default_factory=dict)
    """The terms of each document's first chunk, which holds its title (and authors or parties)."""
    document_title_keys: dict[str, set[str]] = field(default_factory=dict)
    """The `compact_keys` of the title paragraph of each document's first chunk (see TITLE_PREFIX_CHARS)."""
    document_title_phrases: dict[str, set[str]] = field(default_factory=dict)
    """The keys of `document_title_keys` made of two tokens or more ("kimilinear", "deepseekv3")."""

    @classmethod
    def from_texts(cls, texts: Iterable[str], document_id: str | None = None) -> TermStatistics:
        statistics = cls()
        statistics.add_texts(texts, document_id)
        return statistics

    @classmethod
    def from_store(cls, store: VectorStore) -> TermStatistics:
        """Count term frequencies over every chunk of every document in `store`."""
        statistics = cls()
        for document_id in store.document_ids():
            statistics.add_texts((chunk.text for chunk in store.document_chunks(document_id)), document_id)
        logger.info("term statistics chunk_count=%d term_count=%d", statistics.chunk_count, len(statistics.chunk_frequency))
        return statistics

    def add_texts(self, texts: Iterable[str], document_id: str | None = None) -> None:
        """Count the terms of `texts`, also under `document_id` when it is given."""
        document_counts = self.document_frequencies.setdefault(document_id, Counter()) if document_id is not None else None
        for text in texts:
            terms = term_set(text)
            self.chunk_count += 1
            self.chunk_frequency.update(terms)
            if document_id is not None and document_counts is not None:
                self.document_chunk_counts[document_id] = self.document_chunk_counts.get(document_id, 0) + 1
                document_counts.update(terms)
                if document_id not in self.document_title_terms:
                    self.document_title_terms[document_id] = terms
                    title = text.strip().split("\n\n", 1)[0][:TITLE_PREFIX_CHARS]
                    self.document_title_keys[document_id] = compact_keys(title)
                    self.document_title_phrases[document_id] = compact_keys(title, min_tokens=2)

    def idf(self, term: str) -> float:
        """Return the BM25 IDF of a stemmed term; a term seen nowhere gets the largest value."""
        frequency = self.chunk_frequency.get(term, 0)
        return math.log(1.0 + (self.chunk_count - frequency + 0.5) / (frequency + 0.5))

    def is_topic_term(self, document_id: str, query_term: QueryTerm) -> bool:
        """Tell whether a question term names the document or its topic rather than the fact asked for.

        It does when the question capitalizes it and the document's first chunk
        contains it ("Kimi Linear", "Knowles v. Mirzayance"), or when at least
        TOPIC_SHARE of the document's chunks contain it. The share rule needs
        MIN_TOPIC_CHUNKS chunks, because in a short document every term is in
        most chunks.
        """
        if query_term.is_name and query_term.term in self.document_title_terms.get(document_id, set()):
            return True
        chunk_count = self.document_chunk_counts.get(document_id, 0)
        if chunk_count < MIN_TOPIC_CHUNKS:
            return False
        return self.document_frequencies[document_id].get(query_term.term, 0) >= TOPIC_SHARE * chunk_count


    def names_document(self, document_id: str, name: SpecificName) -> bool:
        """Tell whether a specific name belongs to the document as a whole rather than to one fact in it.

        It does when the title paragraph of the document's first chunk
        contains it ("DeepSeek-V3", "November 2015"), or when every word of it
        is a name or topic term of the document (see `is_topic_term`). A
        variant of the document's subject ("Kimi-Linear-Instruct" in the Kimi
        Linear report) counts too: its key starts with a title phrase of two
        tokens or more.
        """
        if name.found_in(self.document_title_keys.get(document_id, set())):
            return True
        if any(name.key.startswith(phrase) for phrase in self.document_title_phrases.get(document_id, set())):
            return True
        tokens = [token for token in tokenize(name.surface) if not any(character.isdigit() for character in token)]
        if not tokens or len(tokens) < len(tokenize(name.surface)):
            return False
        return all(
            self.is_topic_term(document_id, QueryTerm(term=stem(token), surface=token, is_number=False, is_name=True))
            for token in tokens
        )


def rarity_weight(term: str) -> float:
    """Estimate how informative a term is without collection statistics: longer terms are rarer."""
    return 1.0 + min(len(term), 12) / 4.0


def term_weight(
    query_term: QueryTerm,
    statistics: TermStatistics | None,
    focus_weight: float = 1.0,
    answer_type_weight: float = 1.0,
) -> float:
    """Weight a query term by IDF (or rarity without statistics), then by its kind.

    `focus_weight` multiplies the weight of a focus term and `answer_type_weight`
    the weight of an answer-type word.
    """
    weight = statistics.idf(query_term.term) if statistics is not None and statistics.chunk_count else rarity_weight(query_term.term)
    if query_term.answer_type is not None:
        weight *= answer_type_weight
    if query_term.is_focus:
        weight *= focus_weight
    if query_term.is_number:
        weight *= NUMBER_WEIGHT
    elif query_term.is_name:
        weight *= NAME_WEIGHT
    return weight


def weighted_coverage(
    terms: Iterable[QueryTerm],
    weights: dict[str, float],
    present: set[str],
    value_types: frozenset[str] = frozenset(),
) -> float:
    """Return the weighted share of query terms found, from 0 to 1.

    A term is found when its stem is in `present`, except an answer-type word,
    which is found when its type is in `value_types` (see `answer_value_types`).
    """
    total = 0.0
    found = 0.0
    for query_term in terms:
        weight = weights[query_term.term]
        total += weight
        matched = query_term.answer_type in value_types if query_term.answer_type is not None else query_term.term in present
        if matched:
            found += weight
    return found / total if total else 0.0


def answer_value_types(text: str, question_terms: set[str]) -> frozenset[str]:
    """Return the answer types that `text` states a value of, leaving out numbers the question itself contains.

    A full date counts as a date and as a year; a year alone counts only as a year.
    Any number not in `question_terms`, in digits or in words ("twelve"), counts as a number.
    """
    types: set[str] = set()
    if _DATE_PATTERN.search(text):
        types.update((DATE_TYPE, YEAR_TYPE))
    if any(year not in question_terms for year in _YEAR_PATTERN.findall(text)):
        types.add(YEAR_TYPE)
    if any(_is_number_term(term) and term not in question_terms for term in term_set(text)):
        types.add(NUMBER_TYPE)
    return frozenset(types)


def _is_number_term(term: str) -> bool:
    return term[0].isdigit() or term in _number_word_stems()


def has_new_number(present: set[str], question_terms: set[str]) -> bool:
    """Tell whether the stems `present` hold a number, in digits or in words, that `question_terms` do not."""
    return any(_is_number_term(term) and term not in question_terms for term in present)
