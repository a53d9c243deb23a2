"""Files as finance teams in Paris, Tokyo, Berlin and Madrid write them: headers, cost categories,
period spellings and number formats in French, Japanese, German and Spanish."""

from __future__ import annotations

from datetime import date

import pytest

from finance.domain.periods import ParsedDate, ParseFailure, Period, month_end, parse_date, parse_period
from finance.domain.schema import CATEGORY_LOOKUP, FILE_KINDS, normalise_header, normalise_label


@pytest.mark.parametrize(("kind", "header", "column"), [
    # French
    ("spend", "Période", "period"), ("spend", "Catégorie", "category"), ("spend", "Canal", "channel"),
    ("spend", "Montant", "amount"), ("spend", "Fournisseur", "vendor"), ("spend", "Libellé", "description"),
    ("spend", "Devise", "currency"), ("funnel", "Visiteurs", "visitors"), ("funnel", "Opportunités", "opportunities"),
    ("customers", "N° client", "customer_id"), ("customers", "Date d'acquisition", "acquired_on"),
    ("revenue", "Chiffre d'affaires", "revenue"), ("revenue", "Marge brute", "gross_margin"),
    ("revenue", "Date de facture", "date"), ("revenue", "Coût des ventes", "cost"),
    # Japanese
    ("spend", "期間", "period"), ("spend", "費目", "category"), ("spend", "チャネル", "channel"),
    ("spend", "金額", "amount"), ("spend", "勘定科目", "category"), ("spend", "摘要", "description"),
    ("spend", "取引先", "vendor"), ("spend", "通貨", "currency"), ("funnel", "リード数", "leads"),
    ("funnel", "商談数", "opportunities"), ("customers", "顧客ID", "customer_id"),
    ("customers", "獲得日", "acquired_on"), ("customers", "顧客区分", "segment"),
    ("revenue", "売上高", "revenue"), ("revenue", "売上原価", "cost"), ("revenue", "粗利", "gross_margin"),
    ("revenue", "請求日", "date"),
    # German
    ("spend", "Periode", "period"), ("spend", "Kostenart", "category"), ("spend", "Kanal", "channel"),
    ("spend", "Betrag", "amount"), ("spend", "Lieferant", "vendor"), ("spend", "Buchungstext", "description"),
    ("spend", "Währung", "currency"), ("funnel", "Besucher", "visitors"), ("funnel", "Teilnehmer", "event_attendees"),
    ("customers", "Kundennummer", "customer_id"), ("customers", "Kunde seit", "acquired_on"),
    ("customers", "Abrechnungsintervall", "billing_interval"), ("revenue", "Umsatz", "revenue"),
    ("revenue", "Rechnungsdatum", "date"), ("revenue", "Rohertrag", "gross_margin"),
    # Spanish
    ("spend", "Período", "period"), ("spend", "Categoría", "category"), ("spend", "Importe", "amount"),
    ("spend", "Proveedor", "vendor"), ("spend", "Descripción", "description"), ("spend", "Moneda", "currency"),
    ("funnel", "Visitas", "visitors"), ("funnel", "Oportunidades", "opportunities"),
    ("customers", "Código de cliente", "customer_id"), ("customers", "Fecha de alta", "acquired_on"),
    ("customers", "Segmento", "segment"), ("revenue", "Ingresos", "revenue"), ("revenue", "Margen bruto",
                                                                              "gross_margin"),
    # accents, case, width and punctuation are ignored as they are in English
    ("spend", "PERIODE", "period"), ("spend", "categorie", "category"), ("spend", " Montant ", "amount"),
    ("spend", "ｶﾃｺﾞﾘｰ", "category"), ("spend", "Ｍｏｎｔａｎｔ", "amount"),
])
def test_headers_in_four_languages(kind: str, header: str, column: str) -> None:
    assert FILE_KINDS[kind].header_lookup[normalise_header(header)] == column  # type: ignore[index]


def test_every_required_column_of_every_kind_has_a_header_in_each_language() -> None:
    # One spelling per language and required column, checked against the registry.
    words = {
        "spend": {"period": ("Période", "期間", "Zeitraum", "Período"),
                  "category": ("Catégorie", "費目", "Kostenart", "Categoría"),
                  "amount": ("Montant", "金額", "Betrag", "Importe")},
        "funnel": {"period": ("Mois", "月", "Monat", "Mes"), "channel": ("Canal", "チャネル", "Kanal", "Canal"),
                   "leads": ("Prospects", "リード数", "Interessenten", "Prospectos")},
        "customers": {"customer_id": ("Client", "顧客番号", "Kunde", "Cliente"),
                      "acquired_on": ("Date d'inscription", "登録日", "Anmeldedatum", "Fecha de registro")},
        "revenue": {"customer_id": ("Identifiant client", "顧客コード", "Kunden-ID", "ID de cliente"),
                    "date": ("Date de facturation", "売上日", "Datum", "Fecha"),
                    "revenue": ("Montant", "売上", "Erlöse", "Ventas")},
    }
    for kind, columns in words.items():
        contract = FILE_KINDS[kind]  # type: ignore[index]
        assert set(columns) == set(contract.required), kind
        for column, spellings in columns.items():
            for header in spellings:
                assert contract.header_lookup.get(normalise_header(header)) == column, (kind, header)


def test_english_headers_fold_as_before() -> None:
    # The folding that learnt other scripts reads ASCII exactly as it did: letters and digits kept,
    # everything else dropped.
    assert normalise_header(" PERIOD ") == "period"
    assert normalise_header("Cost-Category") == "costcategory"
    assert normalise_header("Amount (USD)") == "amountusd"
    assert normalise_header("gl_account_name") == "glaccountname"
    assert normalise_header("Amount (€)") == "amount"  # a symbol is no letter
    assert normalise_label("Content Marketing & SEO") == "content marketing and seo"
    assert normalise_label("6200 Salaries - Marketing") == "6200 salaries marketing"
    # Letters of other scripts are kept (they were all dropped before, so "期間" folded to nothing),
    # accents dropped, Japanese voicing marks kept: デジタル is not テシタル.
    assert normalise_header("期間") == "期間"
    assert normalise_label("Publicité  Digitale") == "publicite digitale"
    assert normalise_label("デジタル広告") == "デジタル広告" != normalise_label("テシタル広告")
    assert normalise_label("Gehälter") == "gehalter" and normalise_label("Straße") == "strasse"


@pytest.mark.parametrize(("label", "key"), [
    ("Publicité digitale", "digital_advertising"), ("Événements", "events"), ("Salaires", "personnel"),
    ("Relations presse", "media_relations"), ("Logiciels", "martech"), ("Hébergement", "website"),
    ("Création de contenu", "content_creation"), ("Référencement naturel", "content_seo"),
    ("Influenceurs", "influencer"), ("Agence créative", "creative_services"), ("Divers", "other_vendors"),
    ("広告宣伝費", "digital_advertising"), ("人件費", "personnel"),
    ("イベント費", "events"), ("展示会", "events"), ("広報費", "media_relations"), ("ソフトウェア費", "martech"),
    ("販売手数料", "sales"), ("雑費", "other_vendors"), ("デザイン費", "creative_services"),
    ("Werbung", "digital_advertising"), ("Personalkosten", "personnel"), ("Gehälter", "personnel"),
    ("Löhne und Gehälter", "personnel"), ("Messen", "events"), ("Öffentlichkeitsarbeit", "media_relations"),
    ("Vertrieb", "sales"), ("Sonstiges", "other_vendors"),
    ("Publicidad digital", "digital_advertising"), ("Eventos", "events"), ("Sueldos y salarios", "personnel"),
    ("Relaciones públicas", "media_relations"), ("Comisiones", "sales"), ("Diseño", "creative_services"),
    ("Sitio web", "website"), ("Otros", "other_vendors"),
    ("PUBLICITE DIGITALE", "digital_advertising"), ("evenements", "events"),
])
def test_cost_categories_in_four_languages(label: str, key: str) -> None:
    assert CATEGORY_LOOKUP[normalise_label(label)] == key


def test_no_folded_synonym_is_claimed_twice() -> None:
    # The registry refuses a synonym two categories (or two columns) claim; building it is the check,
    # and every synonym must fold to something (a label of punctuation alone would match blank text).
    from finance.domain.schema import COST_CATEGORIES

    for category in COST_CATEGORIES:
        for synonym in category.synonyms:
            assert normalise_label(synonym), synonym
            assert CATEGORY_LOOKUP[normalise_label(synonym)] == category.key, synonym
    for contract in FILE_KINDS.values():
        for column in contract.columns:
            for synonym in column.synonyms:
                assert contract.header_lookup[normalise_header(synonym)] == column.name, synonym


D = date


@pytest.mark.parametrize(("text", "start", "end"), [
    # French and Spanish quarters: T for trimestre, either way round
    ("T1 2025", D(2025, 1, 1), D(2025, 3, 31)), ("T1-2025", D(2025, 1, 1), D(2025, 3, 31)),
    ("T4 2024", D(2024, 10, 1), D(2024, 12, 31)), ("1T 2025", D(2025, 1, 1), D(2025, 3, 31)),
    ("2025-T3", D(2025, 7, 1), D(2025, 9, 30)),
    ("1er trimestre 2025", D(2025, 1, 1), D(2025, 3, 31)), ("2e trimestre 2025", D(2025, 4, 1), D(2025, 6, 30)),
    ("3ème trimestre 2025", D(2025, 7, 1), D(2025, 9, 30)), ("premier trimestre 2025", D(2025, 1, 1), D(2025, 3, 31)),
    ("primer trimestre de 2025", D(2025, 1, 1), D(2025, 3, 31)), ("2º trimestre 2025", D(2025, 4, 1), D(2025, 6, 30)),
    ("Trimestre 4 2025", D(2025, 10, 1), D(2025, 12, 31)),
    # German
    ("1. Quartal 2025", D(2025, 1, 1), D(2025, 3, 31)), ("4. Quartal 2024", D(2024, 10, 1), D(2024, 12, 31)),
    ("erstes Quartal 2025", D(2025, 1, 1), D(2025, 3, 31)), ("Q1/2025", D(2025, 1, 1), D(2025, 3, 31)),
    # Japanese: the calendar year's quarter, and 2025/1Q as Japanese reports write it
    ("2025年第1四半期", D(2025, 1, 1), D(2025, 3, 31)), ("2025年 第3四半期", D(2025, 7, 1), D(2025, 9, 30)),
    ("2025/1Q", D(2025, 1, 1), D(2025, 3, 31)), ("1Q 2025", D(2025, 1, 1), D(2025, 3, 31)),
])
def test_quarters_in_four_languages(text: str, start: date, end: date) -> None:
    assert parse_period(text) == Period(start, end, "quarter")


@pytest.mark.parametrize(("text", "year", "month"), [
    ("janv. 2025", 2025, 1), ("févr. 2025", 2025, 2), ("mars 2025", 2025, 3), ("avr. 2025", 2025, 4),
    ("mai 2025", 2025, 5), ("juin 2025", 2025, 6), ("juil. 2025", 2025, 7), ("août 2025", 2025, 8),
    ("sept. 2025", 2025, 9), ("oct. 2025", 2025, 10), ("nov. 2025", 2025, 11), ("déc. 2025", 2025, 12),
    ("janvier 2025", 2025, 1), ("février 2024", 2024, 2), ("juillet 2025", 2025, 7), ("décembre 2025", 2025, 12),
    ("Januar 2025", 2025, 1), ("März 2025", 2025, 3), ("Mrz. 2025", 2025, 3), ("Mai 2025", 2025, 5),
    ("Okt. 2025", 2025, 10), ("Dezember 2025", 2025, 12), ("Jänner 2025", 2025, 1),
    ("enero de 2025", 2025, 1), ("ene-25", 2025, 1), ("agosto 2025", 2025, 8), ("dic. 2025", 2025, 12),
    ("Septiembre 2025", 2025, 9),
    ("2025年1月", 2025, 1), ("2025年12月", 2025, 12), ("2025年3月分", 2025, 3),
    ("MARS 2025", 2025, 3), ("fevrier 2025", 2025, 2),  # no accent, capitals: still the month
])
def test_months_in_four_languages(text: str, year: int, month: int) -> None:
    parsed = parse_period(text)
    assert isinstance(parsed, Period) and parsed.grain == "month"
    assert (parsed.start, parsed.end) == (D(year, month, 1), month_end(D(year, month, 1)))


@pytest.mark.parametrize(("text", "day"), [
    ("1er janvier 2025", D(2025, 1, 1)), ("15 févr. 2025", D(2025, 2, 15)), ("15. März 2025", D(2025, 3, 15)),
    ("15 de enero de 2025", D(2025, 1, 15)), ("2025年1月15日", D(2025, 1, 15)),
    ("2025年3月31日 14:05", D(2025, 3, 31)),
])
def test_dates_in_four_languages(text: str, day: date) -> None:
    assert parse_date(text) == ParsedDate(day)


@pytest.mark.parametrize(("text", "fy_start", "start", "end"), [
    # 年度 (a Japanese fiscal year) is named by the calendar year it starts in: 2025年度 from April
    # runs 2025-04-01 to 2026-03-31, so its first quarter is April-June 2025 and its fourth Jan-Mar 2026.
    ("2025年度第1四半期", 4, D(2025, 4, 1), D(2025, 6, 30)),
    ("2025年度第4四半期", 4, D(2026, 1, 1), D(2026, 3, 31)),
    ("2025年度 2Q", 4, D(2025, 7, 1), D(2025, 9, 30)),
    ("2025年度第1四半期", 1, D(2025, 1, 1), D(2025, 3, 31)),  # a January start: the calendar year
    # FY labels keep their own rule: named by the year they end in (FY2025 from April began in 2024)
    ("FY2025 1Q", 4, D(2024, 4, 1), D(2024, 6, 30)),
])
def test_japanese_fiscal_quarters_use_the_fiscal_year_start(text: str, fy_start: int, start: date,
                                                            end: date) -> None:
    assert parse_period(text, fiscal_year_start=fy_start) == Period(start, end, "quarter")


@pytest.mark.parametrize(("text", "code"), [
    ("2025年度第1四半期", "fiscal_year_needed"),  # like FY25 Q1: the start month is needed
    ("2025年第5四半期", "invalid_quarter"), ("T5 2025", "invalid_quarter"), ("5e trimestre 2025", "invalid_quarter"),
    ("quinto trimestre 2025", "invalid_period"), ("2025年13月", "invalid_period"), ("Brumaire 2025", "invalid_period"),
])
def test_bad_spellings_are_refused_with_their_reason(text: str, code: str) -> None:
    failure = parse_period(text)
    assert isinstance(failure, ParseFailure) and failure.code == code
