"""BM25 tokenization: normalization, numbers, CJK bigrams, language detection and stemming."""

from __future__ import annotations

import pytest

from ragagent.text import detect_language, normalize, tokenize


def test_normalize_folds_width_case_dashes():
    assert normalize("ＧＰＴ－４ Straße") == "gpt-4 strasse"
    assert normalize("top\u2013k and a\u2014b") == "top-k and a-b"


def test_normalize_removes_soft_hyphen():
    assert normalize("infor\u00admation") == "information"


def test_decimal_number_whole_and_split():
    tokens = tokenize("Accuracy reached 87.5 percent.")

    assert "87.5" in tokens
    assert "87" in tokens
    assert "5" in tokens


def test_thousands_separator_whole_and_split():
    tokens = tokenize("The corpus has 146,982 documents.")

    assert "146,982" in tokens
    assert "146" in tokens
    assert "982" in tokens


def test_number_with_unit_yields_number():
    tokens = tokenize("Latency was 1.84ms per token.")

    assert "1.84ms" in tokens
    assert "1.84" in tokens
    assert "ms" in tokens


def test_query_number_matches_document_number():
    document = set(tokenize("Latency was 1.84ms per token."))
    query = tokenize("1.84 ms")

    assert set(query) <= document


def test_hyphenated_name_whole_and_split():
    tokens = tokenize("We compare against GPT-4.")

    assert "gpt-4" in tokens
    assert "gpt" in tokens
    assert "4" in tokens


def test_sentence_period_not_joined():
    tokens = tokenize("results.The end")

    assert "results.the" not in tokens
    assert "result" in tokens


def test_english_stemmed_and_stopwords_removed():
    tokens = tokenize("The models were trained with the training data")

    assert tokens == ["model", "train", "train", "data"]


def test_japanese_bigrams():
    assert tokenize("研究手法") == ["研究", "究手", "手法"]


def test_cjk_single_character_unigram():
    assert tokenize("猫。犬") == ["猫", "犬"]


def test_korean_bigrams():
    assert tokenize("검색 엔진") == ["검색", "엔진"]


def test_cjk_and_latin_mixed():
    tokens = tokenize("GPT-4の性能")

    assert "gpt-4" in tokens
    assert "の性" in tokens
    assert "性能" in tokens


def test_detect_language_german():
    assert detect_language("Die Ergebnisse zeigen, dass die Methode nicht immer funktioniert.") == "de"


def test_detect_language_german_umlauts_only():
    assert detect_language("Größenordnung Überschwemmung") == "de"


def test_detect_language_english():
    assert detect_language("The results show that the method does not always work.") == "en"


def test_detect_language_without_signal_is_english():
    assert detect_language("transformer architectures") == "en"


def test_german_text_not_english_stemmed():
    tokens = tokenize("Die Ergebnisse der Messungen zeigen die Genauigkeit.")

    assert "ergebniss" not in tokens  # the English stemmer's output
    assert "ergebnis" in tokens  # the German stemmer's output
    assert "messung" in tokens
    assert "die" not in tokens
    assert "der" not in tokens


def test_english_stopword_kept_in_german():
    # "will" is an English stopword but a German verb form.
    assert "will" in tokenize("Er will die Daten sehen und wird sie prüfen.")


def test_explicit_language_overrides_detection():
    assert tokenize("running", language="de") != tokenize("running", language="en")


def test_unknown_language_rejected():
    with pytest.raises(ValueError, match="language='fr' is not supported"):
        tokenize("bonjour", language="fr")


def test_empty_text_has_no_tokens():
    assert tokenize("") == []
    assert tokenize(" .,;- ") == []
