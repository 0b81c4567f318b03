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

STOPWORDS = frozenset(_ENGLISH_STOPWORDS.split()) | frozenset(_QUESTION_FRAME_WORDS.split())
_QUESTION_WORDS = frozenset({"what", "which", "how", "who", "when", "where"})
# Words between a question word and its focus: "how many GPUs", "how much time".
_FOCUS_SKIPPED = frozenset({"many", "much"})
MAX_FOCUS_TERMS = 2

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
_YEAR_PATTERN = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)\b")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def normalize_text(text: str) -> str:
    """Fold Unicode compatibility forms (ligatures, math italics) and thousands separators."""
    text = unicodedata.normalize("NFKC", text)
    return _THOUSANDS_SEPARATOR.sub("", text)


def tokenize(text: str) -> list[str]:
    """Return the lowercased word and number tokens of `text`, in order."""
    return [token.lower() for token in _TOKEN_PATTERN.findall(normalize_text(text))]


def stem(token: str) -> str:
    if any(character.isdigit() for character in token):
        return token.rstrip("%")
    return _stemmer().stemWord(token)


def term_set(text: str) -> set[str]:
    """Return the stemmed tokens of `text`, stopwords included, for membership tests."""
    return {stem(token) for token in tokenize(text)}


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
    An answer-type word ("date", "score") gets its type and is never a focus term.
    """
    normalized = normalize_text(question)
    names = {match.group(0).lower() for match in re.finditer(r"(?<!^)\b[A-Z][\w]*", normalized)}
    tokens = tokenize(normalized)
    focus = _focus_tokens(tokens)
    terms: dict[str, QueryTerm] = {}
    for token in tokens:
        if token in STOPWORDS or len(token) < 2 and not token.isdigit():
            continue
        term = stem(token)
        if term in terms:
            continue
        is_number = any(character.isdigit() for character in token)
        answer_type = ANSWER_TYPE_WORDS.get(token) or ANSWER_TYPE_WORDS.get(token.rstrip("s"))
        terms[term] = QueryTerm(
            term=term,
            surface=token,
            is_number=is_number,
            is_name=token in names,
            is_focus=token in focus and answer_type is None,
            answer_type=answer_type,
        )
    return list(terms.values())


def _focus_tokens(tokens: list[str]) -> set[str]:
    start = next((index for index, token in enumerate(tokens) if token in _QUESTION_WORDS), None)
    if start is None:
        return set()
    focus: list[str] = []
    for token in tokens[start + 1 :]:
        if token in _FOCUS_SKIPPED:
            continue
        if token in STOPWORDS or len(focus) == MAX_FOCUS_TERMS:
            break
        focus.append(token)
    return set(focus)


@dataclass
class TermStatistics:
    """Chunk frequencies of stemmed terms over an indexed collection, for IDF weights."""

    chunk_count: int = 0
    chunk_frequency: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> TermStatistics:
        statistics = cls()
        for text in texts:
            statistics.chunk_count += 1
            statistics.chunk_frequency.update(term_set(text))
        return statistics

    @classmethod
    def from_store(cls, store: VectorStore) -> TermStatistics:
        """Count term frequencies over every chunk of every document in `store`."""
        texts = (chunk.text for document_id in store.document_ids() for chunk in store.document_chunks(document_id))
        statistics = cls.from_texts(texts)
        logger.info("term statistics chunk_count=%d term_count=%d", statistics.chunk_count, len(statistics.chunk_frequency))
        return statistics

    def idf(self, term: str) -> float:
        """Return the BM25 IDF of a stemmed term; a term seen nowhere gets the largest value."""
        frequency = self.chunk_frequency.get(term, 0)
        return math.log(1.0 + (self.chunk_count - frequency + 0.5) / (frequency + 0.5))


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
    Any number not in `question_terms` counts as a number.
    """
    types: set[str] = set()
    if _DATE_PATTERN.search(text):
        types.update((DATE_TYPE, YEAR_TYPE))
    if any(year not in question_terms for year in _YEAR_PATTERN.findall(text)):
        types.add(YEAR_TYPE)
    if any(term[0].isdigit() and term not in question_terms for term in term_set(text)):
        types.add(NUMBER_TYPE)
    return frozenset(types)
