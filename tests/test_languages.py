"""Files as finance teams in Paris, Tokyo, Berlin and Madrid write them: headers, cost categories,
period spellings and number formats in French, Japanese, German and Spanish."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finance.domain.money import amount_currencies, parse_money, read_both_marks
from finance.domain.periods import ParsedDate, ParseFailure, Period, month_end, parse_date, parse_period
from finance.domain.schema import CATEGORY_LOOKUP, FILE_KINDS, category_of, normalise_header, normalise_label
from finance.ingest.prepare import ImportOptions, prepare
from finance.store.database import Store

SPACES = (" ", "\u00a0", "\u202f")
"""The spaces French files write between digit groups: plain, no-break and narrow no-break."""


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


@pytest.mark.parametrize(("label", "key"), [
    ("Contenu et SEO", "content_seo"), ("Salaries & benefits", "personnel"),
    ("Salaires et charges sociales", "personnel"), ("広告費・媒体費", "digital_advertising"),
    ("Werbung und Anzeigen", "digital_advertising"), ("Salaires marketing", "personnel"),
    ("Marketing events", "events"), ("販売促進費", "other_vendors"),
    # Parts of two categories, the department alone, or any word unknown: no category, only a suggestion.
    ("Sales & marketing", None), ("Events / PR", None), ("Marketing", None), ("Marketing - Events", None),
    ("6200 Salaries - Marketing", None), ("Salaires et primes exceptionnelles", None),
])
def test_labels_joined_or_with_the_department_name_one_category_or_none(label: str, key: str | None) -> None:
    assert category_of(label) == key


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


# --- number formats -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "amount"), [
    ("1 234,56 €", "1234.56"), ("1\u00a0234,56\u00a0€", "1234.56"), ("1\u202f234,56\u202f€", "1234.56"),
    ("578\u202f539,29 €", "578539.29"), ("€1.234,56", "1234.56"), ("1.234,56 €", "1234.56"), ("1.234,56", "1234.56"),
    ("-1\u202f234,50 €", "-1234.5"), ("(12\u00a0000,00 €)", "-12000"), ("1\u202f234\u202f567,89", "1234567.89"),
])
def test_french_and_german_amounts_read_with_a_decimal_comma(text: str, amount: str) -> None:
    values, codes = parse_money(pl.Series([text]), decimal_comma=True)
    assert (values[0], codes[0]) == (Decimal(amount), None)
    read = read_both_marks(pl.Series([text]))
    assert read.evidence[0] == "comma"  # only a decimal comma reads it: what detection goes by
    assert read.comma[0][0] == Decimal(amount)


@pytest.mark.parametrize(("text", "amount"), [
    ("¥1,234,567", "1234567"), ("\uffe51,234,567", "1234567"), ("1,234,567円", "1234567"), ("¥ 980", "980"),
    ("\uff11\uff0c\uff12\uff13\uff14円", "1234"),  # fullwidth digits and comma, as Japanese Excel may write them
    ("1 234.56", "1234.56"), ("1\u202f234.56 $", "1234.56"),
])
def test_yen_and_spaced_amounts_read_with_a_decimal_point(text: str, amount: str) -> None:
    values, codes = parse_money(pl.Series([text]))
    assert values[0] == Decimal(amount)
    assert codes[0] in (None, "non_ascii_digits")


def test_each_cell_says_which_decimal_mark_reads_it() -> None:
    texts = ["1234", "1234.5", "1,234.56", "1,234,567", "12,5", "1.234,56", "1.234.567", "578\u202f539,29",
             "1,234", "1.234", "abc", None]
    read = read_both_marks(pl.Series(texts))
    assert read.evidence.to_list() == [None, "point", "point", "point", "comma", "comma", "comma", "comma",
                                       "either", "either", None, None]
    # "1,234" reads 1234 with a point (a thousands comma) and 1.234 with a comma
    assert (read.point[0][8], read.comma[0][8]) == (Decimal(1234), Decimal("1.234"))
    counts = read_both_marks(pl.Series(["1200", "1.234", "1,234", "1.000"]), counts=True)
    assert counts.evidence.to_list() == [None, "comma", "point", "either"]


def test_an_amount_says_what_currency_it_is_written_in() -> None:
    named = amount_currencies(pl.Series(["€ 10.01", "10.01 €", "¥1,234", "\uffe51,234", "1,234円", "$5", "US$5",
                                         "USD 5", "5 eur", "12.00", None]))
    assert named.get_column("sign").to_list() == ["€", "€", "¥", "\uffe5", "円", "$", "US$", "USD", "EUR", None, None]
    assert named.get_column("currencies").to_list() == [
        "EUR", "EUR", "CNY JPY", "CNY JPY", "JPY", "AUD CAD HKD MXN NZD SGD USD", "USD", "USD", "EUR", None, None]


# --- whole files, as finance teams export them ---------------------------------------------------

def _store(tmp_path: Path, currency: str) -> Store:
    store = Store(tmp_path / f"{currency}.duckdb")
    store.set_setting("currency", currency)
    return store


def _french(cents: int, space: str) -> str:
    """An amount as French formatting writes it: ``578 539,29 €`` (a narrow no-break space by default)."""
    sign, whole, frac = ("-" if cents < 0 else ""), abs(cents) // 100, abs(cents) % 100
    return f"{sign}{whole:,}".replace(",", space) + f",{frac:02d}\u00a0€"


def test_a_french_ledger_imports_with_no_options_to_the_cent(tmp_path: Path) -> None:
    rng = random.Random(2025)
    categories = ["Publicité digitale", "Événements", "Salaires", "Relations presse", "Logiciels",
                  "Création de contenu", "Hébergement", "Divers"]
    periods = {"T1 2025": "2025-Q1", "2e trimestre 2025": "2025-Q2", "T3-2025": "2025-Q3", "janv. 2025": "2025-01"}
    lines, expected = ["Période;Catégorie;Canal;Montant"], {label: 0 for label in periods.values()}
    # The measured file's own line first, then a year of postings in every spacing French files use.
    lines.append("T1 2025;Publicité digitale;Recherche payante;578\u202f539,29 €")
    expected["2025-Q1"] += 57_853_929
    for i in range(400):
        cents = rng.randrange(-50_000, 90_000_000)
        period = rng.choice(list(periods))
        channel = "" if i % 3 else rng.choice(["Recherche payante", "Réseaux sociaux", "Salons"])
        lines.append(f"{period};{rng.choice(categories)};{channel};{_french(cents, rng.choice(SPACES))}")
        expected[periods[period]] += cents
    path = tmp_path / "grand-livre.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    total_cents = sum(expected.values())  # summed apart from the importer, in integer cents
    with _store(tmp_path, "EUR") as store:
        result = store.import_file("spend", path)
        assert result.status == "imported", [p.describe() for p in result.errors[:5]]
        assert result.total == Decimal(total_cents).scaleb(-2)
        assert {p.period: p.total for p in result.periods} == {
            label: Decimal(c).scaleb(-2) for label, c in expected.items()}
        stored = store.one("SELECT sum(amount) FROM spend")
        assert stored is not None and Decimal(stored[0]) == Decimal(total_cents).scaleb(-2)
        assert {r["category"] for r in store.frame("spend").to_dicts()} == {
            "digital_advertising", "events", "personnel", "media_relations", "martech", "content_creation",
            "website", "other_vendors"}
    codes = [w.code for w in result.warnings]
    assert codes.count("decimal_comma_detected") == 1 and set(codes) <= {"decimal_comma_detected", "credit"}
    [detected] = [w for w in result.warnings if w.code == "decimal_comma_detected"]
    assert (detected.row, detected.column, detected.count) == (2, "Montant", 401)


def test_a_french_ledger_in_euros_is_refused_by_a_dollar_store(tmp_path: Path) -> None:
    path = tmp_path / "grand-livre.csv"
    path.write_text("Période;Catégorie;Canal;Montant\nT1 2025;Événements;Salons;12\u202f000,00 €\n"
                    "T1 2025;Salaires;;8\u202f500,00\n", encoding="utf-8")
    with _store(tmp_path, "USD") as store:
        before = store.snapshot()
        result = store.import_file("spend", path)
        assert result.status == "rejected" and store.snapshot() == before
    # The sign is the currency: the row with € needs a EUR rate, and none is stored; the row without a sign
    # is read as the store's.
    assert [(e.code, e.row, e.value) for e in result.errors] == [("fx_rate_missing", 2, "EUR")]
    assert "from EUR to USD" in result.errors[0].message


def test_a_japanese_ledger_imports_to_the_yen(tmp_path: Path) -> None:
    rng = random.Random(7)
    categories = {"広告宣伝費": "digital_advertising", "人件費": "personnel", "イベント費": "events",
                  "広報費": "media_relations", "ソフトウェア費": "martech"}
    periods = {"2025年第1四半期": "2025-Q1", "2025年第2四半期": "2025-Q2", "2025年1月": "2025-01",
               "2025年7月": "2025-07", "2025/3Q": "2025-Q3"}
    signs = ["¥{:,}", "\uffe5{:,}", "{:,}円", "{:,}"]
    lines, expected = ["期間,費目,チャネル,金額"], {label: 0 for label in periods.values()}
    for _ in range(300):
        yen = rng.randrange(1, 50_000_000)
        period, category = rng.choice(list(periods)), rng.choice(list(categories))
        lines.append(f'{period},{category},リスティング広告,"{rng.choice(signs).format(yen)}"')
        expected[periods[period]] += yen
    lines.append('2025年第1四半期,人件費,,"1,234円"')  # 1,234 alone: one thousand two hundred thirty-four yen
    expected["2025-Q1"] += 1234
    path = tmp_path / "経費.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with _store(tmp_path, "JPY") as store:
        result = store.import_file("spend", path)
        assert result.status == "imported", [p.describe() for p in result.errors[:5]]
        assert result.warnings == []
        assert result.total == Decimal(sum(expected.values()))
        assert {p.period: p.total for p in result.periods} == {k: Decimal(v) for k, v in expected.items()}
        assert set(store.frame("spend").get_column("category")) == set(categories.values())


def test_a_japanese_fiscal_year_ledger_needs_and_uses_the_fiscal_year_start(tmp_path: Path) -> None:
    path = tmp_path / "予算実績.csv"
    path.write_text("期間,費目,チャネル,金額\n2025年度第1四半期,広告宣伝費,検索,\"¥1,000,000\"\n"
                    "2025年度第4四半期,人件費,,\"2,500,000円\"\n", encoding="utf-8")
    with _store(tmp_path, "JPY") as store:
        refused = store.import_file("spend", path)
        assert [(e.code, e.row) for e in refused.errors] == [("fiscal_year_needed", 2), ("fiscal_year_needed", 3)]
        result = store.import_file("spend", path, ImportOptions(currency="JPY", fiscal_year_start=4))
        assert result.status == "imported", result.errors
        # 2025年度 from April: Q1 is April-June 2025, Q4 January-March 2026
        assert [(p.start.isoformat(), p.end.isoformat(), p.total) for p in result.periods] == [
            ("2025-04-01", "2025-06-30", Decimal(1_000_000)), ("2026-01-01", "2026-03-31", Decimal(2_500_000))]


def test_a_german_ledger_imports_with_no_options(tmp_path: Path) -> None:
    path = tmp_path / "buchungen.csv"
    path.write_text("Periode;Kostenart;Kanal;Betrag;Lieferant;Buchungstext\n"
                    "1. Quartal 2025;Werbung;Suchmaschine;12.345,67 €;Google Ireland;Kampagne\n"
                    "März 2025;Personalkosten;;8.000,00;;Gehälter März\n"
                    "15. März 2025;Messen;Messe;-1.500,5;Messe Berlin;Gutschrift\n"
                    "Q2/2025;Gehälter;;999,99;;\n", encoding="utf-8")
    with _store(tmp_path, "EUR") as store:
        result = store.import_file("spend", path)
        assert result.status == "imported", result.errors
        rows = store.frame("spend").sort("source_row").to_dicts()
    assert [r["amount"] for r in rows] == [Decimal("12345.67"), Decimal("8000"), Decimal("-1500.5"), Decimal("999.99")]
    assert result.total == Decimal("19845.16")  # 12345.67 + 8000.00 - 1500.50 + 999.99
    assert [r["category"] for r in rows] == ["digital_advertising", "personnel", "events", "personnel"]
    assert [(r["period_start"].isoformat(), r["period_end"].isoformat()) for r in rows] == [
        ("2025-01-01", "2025-03-31"), ("2025-03-01", "2025-03-31"), ("2025-03-15", "2025-03-15"),
        ("2025-04-01", "2025-06-30")]
    assert rows[0]["vendor"] == "Google Ireland"


def test_a_spanish_ledger_imports_with_no_options(tmp_path: Path) -> None:
    path = tmp_path / "gastos.csv"
    path.write_text("Período;Categoría;Canal;Importe;Proveedor\n"
                    "1T 2025;Publicidad digital;Búsqueda;1.234,56 €;Google\n"
                    "enero de 2025;Eventos;Ferias;500,00 €;IFEMA\n"
                    "primer trimestre de 2025;Sueldos y salarios;;10.000,00 €;\n"
                    "T2-2025;Relaciones públicas;;75,5 €;Agencia\n", encoding="utf-8")
    with _store(tmp_path, "EUR") as store:
        result = store.import_file("spend", path)
        assert result.status == "imported", result.errors
        rows = store.frame("spend").sort("source_row").to_dicts()
    assert result.total == Decimal("11810.06")  # 1234.56 + 500.00 + 10000.00 + 75.50
    assert [r["category"] for r in rows] == ["digital_advertising", "events", "personnel", "media_relations"]
    assert [p.period for p in result.periods] == ["2025-01", "2025-Q1", "2025-Q2"]


def test_a_german_funnel_writes_its_thousands_with_a_point(tmp_path: Path) -> None:
    path = tmp_path / "funnel.csv"
    path.write_text("Monat;Kanal;Interessenten;Besucher\nJanuar 2025;Suche;1.234;12.345\n"
                    "Februar 2025;Suche;987;1.000\n", encoding="utf-8")
    with _store(tmp_path, "EUR") as store:
        result = store.import_file("funnel", path)
        assert result.status == "imported", result.errors
        rows = store.frame("funnel").sort("source_row").to_dicts()
    # 1.234 leads is no count with a decimal point: the column writes thousands with a point, so
    # 1.000 visitors is a thousand, not one.
    assert [(r["leads"], r["visitors"]) for r in rows] == [(1234, 12345), (987, 1000)]
    assert [(w.code, w.column) for w in result.warnings] == [("decimal_comma_detected", "Interessenten"),
                                                             ("decimal_comma_detected", "Besucher")]


def test_a_column_mixing_decimal_marks_names_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("period,category,amount\n2025-Q1,events,\"1.234,56\"\n2025-Q1,events,\"2.000,00\"\n"
                    "2025-Q1,events,\"99.95\"\n2025-Q1,events,\"12,5\"\n", encoding="utf-8")
    prepared = prepare("spend", path)
    # Two rows read only with a comma, one only with a point: the comma decides, the point row is named.
    assert [(e.code, e.row, e.value) for e in prepared.errors] == [("mixed_decimal_marks", 4, "99.95")]
    assert "row 2 writes '1.234,56'" in prepared.errors[0].message


def test_the_decimal_comma_option_still_forces_it(tmp_path: Path) -> None:
    path = tmp_path / "forced.csv"
    path.write_text("period,category,amount\n2025-Q1,events,\"1,234\"\n", encoding="utf-8")
    assert prepare("spend", path).rows.get_column("amount").to_list() == [Decimal(1234)]  # a thousands comma
    forced = prepare("spend", path, ImportOptions(decimal_comma=True))
    assert forced.rows.get_column("amount").to_list() == [Decimal("1.234")] and forced.warnings == []


def test_the_decimal_mark_holds_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finance.ingest import csvfile

    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 64)  # a few rows a block
    comma_first = tmp_path / "comma.csv"
    comma_first.write_text("period;category;amount\n" + "".join(f"2025-Q1;events;{i},50\n" for i in range(10))
                           + "2025-Q1;events;1,234\n", encoding="utf-8")
    read = prepare("spend", comma_first)
    assert read.ok and read.rows.get_column("amount").to_list()[-1] == Decimal("1.234")
    [detected] = read.warnings
    assert (detected.code, detected.count) == ("decimal_comma_detected", 10)
    # A first block of values reading both ways is read with a point, as always; a later value that reads
    # only with a comma cannot change the rows already read: it is an error naming the row that decided.
    point_first = tmp_path / "point.csv"
    point_first.write_text("period;category;amount\n" + "".join(f"2025-Q1;events;1,23{i}\n" for i in range(10))
                           + "2025-Q1;events;12,50\n", encoding="utf-8")
    refused = prepare("spend", point_first)
    assert [(e.code, e.row) for e in refused.errors] == [("mixed_decimal_marks", 12)]
    assert "row 2 writes '1,230'" in refused.errors[0].message
