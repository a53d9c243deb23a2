"""The one place that names things: cost categories, file kinds, columns, segments.

Every other module imports these registries; an unknown key raises an error that lists
the valid choices, so a typo never silently becomes a new category or column.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

MONEY_SCALE = 4
"""Decimal places kept for money in storage: cents are exact, sub-cent vendor rates too."""
MONEY_PRECISION = 18
MONEY_SQL = f"DECIMAL({MONEY_PRECISION},{MONEY_SCALE})"

# Bounds on what an import file may hold, so an odd or hostile file is refused quickly, in
# bounded memory, with a clear problem, and whatever is stored can be shown and exported.
MAX_FIELD_CHARS = 1_000_000
"""The longest field the reader takes, in any column (ignored ones too); a longer one refuses the file."""
MAX_CELL_CHARS = 32_767
"""The longest text a stored cell may hold, counted as Excel counts (UTF-16 units, with the
apostrophe an export puts before text starting with ``=``, ``+``, ``-`` or ``@``): Excel's cell
limit, so every export can write every name."""
MAX_COLUMNS = 1_000
"""The most columns a file may have: far more than any export, far fewer than a hostile header."""


@dataclass(frozen=True)
class CostCategory:
    """A fully loaded CAC cost category, as a CFO reads it."""

    key: str
    label: str
    description: str
    synonyms: tuple[str, ...] = ()
    in_marketing_cac: bool = True
    """False only for ``sales``: it counts in the sales-and-marketing CAC view alone."""


COST_CATEGORIES: tuple[CostCategory, ...] = (
    CostCategory(
        "digital_advertising",
        "Digital advertising",
        "Paid media bought on ad platforms: paid search, paid social, display, video, "
        "programmatic, retargeting. This alone is 'media-only' CAC.",
        (
            "paid search", "ppc", "sem", "search ads", "google ads", "adwords", "bing ads",
            "paid social", "social ads", "facebook ads", "meta ads", "linkedin ads",
            "display", "display ads", "programmatic", "retargeting", "video ads",
            "paid media", "media", "advertising", "digital marketing", "online advertising",
            "ads", "ad spend", "media spend",
            # French, Japanese, German, Spanish (as ledgers in Paris, Tokyo, Berlin, Madrid write them)
            "publicité digitale", "publicité numérique", "publicité en ligne", "publicité", "achat média",
            "achats média", "achat d'espace", "médias payants", "référencement payant",
            "marketing digital", "marketing numérique", "réseaux sociaux payants",
            "広告宣伝費", "広告費", "デジタル広告", "ネット広告", "インターネット広告", "web広告",
            "オンライン広告", "リスティング広告", "検索広告", "sns広告", "ディスプレイ広告", "媒体費",
            "werbung", "werbekosten", "online-werbung", "digitale werbung", "digitales marketing",
            "mediakosten", "suchmaschinenwerbung", "social-media-werbung", "anzeigen",
            "publicidad digital", "publicidad", "publicidad en línea", "publicidad online",
            "medios pagados", "compra de medios", "anuncios", "publicidad en redes sociales",
        ),
    ),
    CostCategory(
        "content_seo",
        "Content marketing & SEO",
        "Search-engine optimisation and content distribution: SEO agencies and tools' "
        "services, content syndication, organic programmes.",
        ("seo", "content marketing", "content", "organic", "organic search",
         "content syndication", "search engine optimisation", "search engine optimization",
         "référencement", "référencement naturel", "marketing de contenu", "contenu",
         "seo対策", "コンテンツマーケティング", "オウンドメディア",
         "suchmaschinenoptimierung", "content-marketing",
         "posicionamiento web", "posicionamiento seo", "marketing de contenidos", "contenidos"),
    ),
    CostCategory(
        "content_creation",
        "Content creation",
        "Producing assets: writers, video and podcast production, whitepapers, "
        "case studies, freelance content.",
        ("copywriting", "video production", "writers", "freelance content", "podcast",
         "content production", "whitepapers", "ebooks",
         "création de contenu", "production de contenu", "rédaction", "production vidéo",
         "livres blancs", "コンテンツ制作", "コンテンツ制作費", "動画制作", "動画制作費",
         "content-erstellung", "texterstellung", "videoproduktion",
         "creación de contenido", "creación de contenidos", "producción de contenido",
         "producción de vídeo", "producción de video", "redacción"),
    ),
    CostCategory(
        "events",
        "Events",
        "Event management: trade shows, conferences, booths, sponsorships, webinars, "
        "field events and their travel.",
        ("event", "trade shows", "trade show", "tradeshows", "conferences", "conference",
         "sponsorships", "sponsorship", "webinars", "field marketing", "event management",
         "booth",
         "événements", "événementiel", "salons", "salon", "salons professionnels", "parrainage",
         "sponsoring", "webinaires", "séminaires",
         "イベント費", "イベント", "展示会", "展示会費", "セミナー", "セミナー費", "協賛金", "ウェビナー",
         "veranstaltungen", "veranstaltungskosten", "messen", "messe", "messekosten", "konferenzen",
         "webinare", "eventos", "ferias", "feria", "ferias comerciales", "conferencias",
         "patrocinio", "patrocinios", "seminarios"),
    ),
    CostCategory(
        "media_relations",
        "Media relations (PR)",
        "Public relations agencies, press releases and analyst relations.",
        ("pr", "public relations", "press", "press releases", "analyst relations",
         "communications",
         "relations presse", "relations publiques", "rp", "presse", "communication",
         "広報費", "広報", "pr費", "プレスリリース",
         "pressearbeit", "öffentlichkeitsarbeit",
         "relaciones públicas", "relaciones con los medios", "prensa", "comunicación"),
    ),
    CostCategory(
        "influencer",
        "Influencer marketing",
        "Payments to influencers, creators and affiliates for promotion.",
        ("influencers", "influencer marketing", "creators", "affiliates", "affiliate",
         "ambassadors",
         "influenceurs", "marketing d'influence", "affiliation", "créateurs",
         "インフルエンサー", "インフルエンサー費", "インフルエンサーマーケティング", "アフィリエイト",
         "アフィリエイト費", "affiliate-marketing",
         "marketing de influencers", "marketing de influencia", "influenciadores", "afiliados"),
    ),
    CostCategory(
        "creative_services",
        "Creative services",
        "Creative and design agencies, brand work, ad creative production.",
        ("creative", "creative agency", "design", "design agency", "branding", "brand",
         "agency fees", "agency",
         "agence créative", "studio de création", "création", "graphisme", "agence",
         "デザイン費", "デザイン", "クリエイティブ", "クリエイティブ制作", "広告制作費", "ブランディング",
         "kreativagentur", "agentur", "agenturkosten", "gestaltung", "grafikdesign",
         "servicios creativos", "agencia creativa", "agencia", "diseño", "diseño gráfico", "creatividad"),
    ),
    CostCategory(
        "website",
        "Website",
        "Website development and maintenance: hosting, CMS, web agency, domains.",
        ("web", "website development", "website maintenance", "hosting", "web hosting",
         "cms", "web development", "domains", "landing pages",
         "site web", "site internet", "hébergement", "développement web",
         "ウェブサイト", "ホームページ", "サーバー費", "サイト運営費", "web制作費",
         "webseite", "webhosting", "internetauftritt", "homepage",
         "sitio web", "página web", "alojamiento web", "desarrollo web"),
    ),
    CostCategory(
        "personnel",
        "Personnel",
        "Marketing staff: salaries, payroll taxes, benefits, bonuses, contractors "
        "working as staff, recruiting and training.",
        ("people", "staff", "salaries", "salary", "payroll", "benefits", "wages",
         "headcount", "bonuses", "contractors", "marketing staff", "marketing salaries",
         "training", "recruiting",
         "salaires", "salaire", "masse salariale", "charges sociales", "frais de personnel",
         "charges de personnel", "rémunérations",
         "人件費", "給与", "給料", "給与手当", "賞与", "法定福利費", "福利厚生費", "採用費", "研修費",
         "personalkosten", "gehälter", "gehalt", "löhne", "löhne und gehälter", "sozialabgaben", "personal",
         "salarios", "sueldos", "sueldos y salarios", "nómina", "gastos de personal"),
    ),
    CostCategory(
        "martech",
        "Marketing technology",
        "The marketing technology stack: automation, CRM share, analytics, "
        "attribution, data and other software subscriptions.",
        ("marketing technology", "software", "tools", "saas", "subscriptions",
         "marketing automation", "analytics", "crm", "technology", "tech stack",
         "licenses", "licences",
         "logiciels", "logiciel", "outils", "abonnements", "technologie marketing", "outils marketing",
         "ソフトウェア", "ソフトウェア費", "システム利用料", "ツール費", "saas利用料", "マーケティングツール",
         "softwarelizenzen", "lizenzen", "marketingtechnologie",
         "herramientas", "licencias", "suscripciones", "tecnología de marketing"),
    ),
    CostCategory(
        "other_vendors",
        "Other vendors",
        "Any other acquisition-related vendor cost: research, lists and data, printing, "
        "direct mail, consultants.",
        ("other", "misc", "miscellaneous", "vendors", "other vendors", "consultants",
         "consulting", "research", "direct mail", "printing", "data", "lists",
         "autres", "divers", "autres fournisseurs", "conseil", "études", "impression", "publipostage",
         "promotion", "sales promotion", "promotions", "promotion des ventes", "promotion commerciale",
         "その他", "雑費", "外注費", "印刷費", "調査費", "販売促進費", "販促費", "販売促進",
         "verkaufsförderung", "promoción de ventas", "promoción",
         "sonstiges", "sonstige", "sonstige kosten", "beratung", "druckkosten", "marktforschung",
         "otros", "varios", "otros proveedores", "consultoría", "impresión", "investigación de mercado"),
    ),
    CostCategory(
        "sales",
        "Sales",
        "Sales costs: sales salaries, commissions, sales tools and travel. Counted only "
        "in the sales-and-marketing CAC view.",
        ("commissions", "commission", "sales salaries", "sales team", "sales tools",
         "sales travel", "business development", "sdr", "sdrs", "account executives",
         "ventes", "force de vente", "frais commerciaux", "salaires commerciaux",
         "営業費", "販売手数料", "営業人件費",
         "vertrieb", "vertriebskosten", "provisionen",
         "ventas", "comisiones", "equipo de ventas", "fuerza de ventas"),
        in_marketing_cac=False,
    ),
)

CATEGORIES: dict[str, CostCategory] = {c.key: c for c in COST_CATEGORIES}
MEDIA_CATEGORY = "digital_advertising"
MARKETING_CATEGORIES: tuple[str, ...] = tuple(c.key for c in COST_CATEGORIES if c.in_marketing_cac)


def category(key: str) -> CostCategory:
    """The category registered under ``key``; an unknown key lists the valid ones."""
    try:
        return CATEGORIES[key]
    except KeyError:
        raise KeyError(f"unknown cost category {key!r}; valid: {', '.join(CATEGORIES)}") from None


_ACCENTS = re.compile("[\u0300-\u036f]")
"""The combining accents of Latin, Greek and Cyrillic letters (é is e + U+0301 once decomposed).
Japanese voicing marks (U+3099, U+309A) lie outside: ガ stays ガ, never カ."""


def fold_text(text: str) -> str:
    """Text as it is matched, in any script: case folded, accents dropped (Événements = evenements),
    fullwidth Latin letters as ASCII and halfwidth katakana as fullwidth (ｶﾞｲﾄﾞ = ガイド); CJK kept."""
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return unicodedata.normalize("NFC", _ACCENTS.sub("", decomposed))


def normalise_label(text: str) -> str:
    """Fold a free-text label for matching: ``fold_text``, then punctuation and spacing as one space.

    Letters and digits of every script are kept ("Publicité digitale" is "publicite digitale",
    "広告宣伝費" stays itself); only what is neither (punctuation, symbols, spaces) separates words.
    """
    return " ".join(re.sub(r"[\W_]+", " ", fold_text(text).replace("&", " and ")).split())


def _category_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for cat in COST_CATEGORIES:
        for label in (cat.key, cat.label, *cat.synonyms):
            folded = normalise_label(label)
            if lookup.setdefault(folded, cat.key) != cat.key:
                raise AssertionError(f"category synonym {label!r} is claimed twice")
    return lookup


CATEGORY_LOOKUP: dict[str, str] = _category_lookup()
"""Folded label -> canonical category key."""

_DEPARTMENT = frozenset({"marketing", "mktg", "mkt", "マーケティング", "マーケ", "marketingabteilung"})
"""Words naming the marketing department: "Salaires marketing" is the department's salaries."""
_JOINS = re.compile(r"\s+(?:and|et|und|y|e|o|or|ou|oder)\s+|[&/+,;、・]|\s+-\s+")
"""What joins two labels of one category: "Contenu et SEO", "Salaries & benefits", "広告費・媒体費"."""


def category_of(label: str) -> str | None:
    """The category a label names, without guessing; None when it names none (or two).

    A synonym, folded (``normalise_label``); else a label whose parts, joined by "and", "et",
    "und", "y", "&", "/", "・" and the like, each name the same category ("Contenu et SEO",
    "Salaries & benefits"); else a synonym with the marketing department's name beside it
    ("Salaires marketing", "Marketing events"). "Sales & marketing" names no one category. Anything
    looser is only suggested, never taken.
    """
    folded = normalise_label(label)
    if folded in CATEGORY_LOOKUP:
        return CATEGORY_LOOKUP[folded]
    parts = [normalise_label(p) for p in _JOINS.split(fold_text(label))]
    parts = [p for p in parts if p]
    keys: set[str] = set()
    for part in parts:
        words = [w for w in part.split() if w not in _DEPARTMENT]
        key = CATEGORY_LOOKUP.get(part) or CATEGORY_LOOKUP.get(" ".join(words))
        if key is None:
            return None
        keys.add(key)
    return keys.pop() if len(keys) == 1 else None

# Segments: the four customer types of the domain, matched case-insensitively; any other
# text is kept as a segment of its own (the data contract allows free text).
SEGMENTS: dict[str, tuple[str, ...]] = {
    "Enterprise B2B": ("enterprise b2b", "enterprise", "b2b enterprise", "ent", "large enterprise"),
    "SMB": ("smb", "small business", "small and medium business", "sme", "mid market",
            "midmarket", "small medium business"),
    "DTC": ("dtc", "d2c", "direct to consumer", "consumer", "b2c", "ecommerce"),
    "B2B2C": ("b2b2c", "indirect", "partner led"),
}
SEGMENT_LOOKUP: dict[str, str] = {
    normalise_label(s): canonical for canonical, syns in SEGMENTS.items() for s in (canonical, *syns)
}

# Billing intervals: how often a subscription pays, i.e. the term one payment buys. Matched
# ignoring case, spaces, hyphens, underscores and a plural ("Semi-annual" = "semiannual",
# "3 month" = "3 months"); a bare number is a count of months. Any other text is an error:
# a wrong term would misstate lifetimes.
BILLING_INTERVALS: dict[str, tuple[str, ...]] = {
    "month": ("monthly", "mo", "m", "mth", "1", "1m", "1 month", "every month", "per month",
              "month to month"),
    "quarter": ("quarterly", "q", "qtr", "3", "3m", "3 months", "every 3 months", "every quarter",
                "per quarter"),
    "half-year": ("half-yearly", "semiannual", "semiannually", "6", "6m", "6 months", "every 6 months"),
    "year": ("yearly", "annual", "annually", "y", "yr", "12", "12m", "12 months", "1 year", "1y",
             "every year", "every 12 months", "per year", "per annum"),
}
BILLING_INTERVAL_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "half-year": 6, "year": 12}
"""Months one payment covers, per stored interval."""


def normalise_interval(text: str) -> str:
    """Fold a billing-interval cell: case, spaces, hyphens, underscores and a plural are ignored; 12.0 is 12."""
    folded = re.sub(r"[\s\-_]+", "", text.casefold())
    folded = re.sub(r"(month|mth|mo|quarter|year|yr)s$", r"\1", folded)  # 3 months = 3 month
    return re.sub(r"^([0-9]+)\.0+$", r"\1", folded)


def _interval_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for interval, synonyms in BILLING_INTERVALS.items():
        for label in (interval, *synonyms):
            if lookup.setdefault(normalise_interval(label), interval) != interval:
                raise AssertionError(f"billing interval spelling {label!r} is claimed twice")
    return lookup


BILLING_INTERVAL_LOOKUP: dict[str, str] = _interval_lookup()
"""Folded spelling -> stored interval (month, quarter, half-year or year)."""

Kind = Literal["spend", "funnel", "customers", "revenue", "gl"]
KINDS: tuple[Kind, ...] = ("spend", "funnel", "customers", "revenue", "gl")
DATA_KINDS: tuple[Kind, ...] = ("spend", "funnel", "customers", "revenue")
"""The kinds the figures are made from (``finance.store.dataset.Dataset``); the general ledger (``gl``) is what
the spend is checked against (``finance.metrics.reconcile``), not a source of figures."""
MONEY_KINDS: tuple[Kind, ...] = ("spend", "revenue", "gl")
"""Files whose import total is an amount of money; the others' totals are counts (customers, funnel volumes)."""

ColumnType = Literal["period", "date", "category", "text", "money", "count", "segment", "currency",
                     "interval"]


@dataclass(frozen=True)
class Column:
    """One column of an import file's contract."""

    name: str
    type: ColumnType
    required: bool = False
    synonyms: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class FileKind:
    """The contract of one kind of import file."""

    kind: Kind
    description: str
    columns: tuple[Column, ...]
    period_column: str
    measure: str
    """The column summed per period in import summaries and the imports log."""
    header_lookup: dict[str, str] = field(default_factory=dict, compare=False)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.kind} has no column {name!r}; valid: {self.column_names}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def channel_name_key(name: str) -> str:
    """How channels match across files: ignoring case and spacing ("Paid search" = "Paid  Search")."""
    return " ".join(name.lower().split())


def normalise_header(text: str) -> str:
    """Fold a header for matching: case, accents, spaces and punctuation are ignored, letters of every
    script kept ("Période" is "periode", "Cost-Category" is "costcategory", "金額" stays itself)."""
    return re.sub(r"[\W_]+", "", fold_text(text))


def _file_kind(kind: Kind, description: str, columns: tuple[Column, ...], period_column: str,
               measure: str) -> FileKind:
    lookup: dict[str, str] = {}
    for col in columns:
        for name in (col.name, *col.synonyms):
            folded = normalise_header(name)
            if lookup.setdefault(folded, col.name) != col.name:
                raise AssertionError(f"{kind}: header synonym {name!r} is claimed twice")
    return FileKind(kind, description, columns, period_column, measure, lookup)


# Headers as finance teams in Paris, Tokyo, Berlin and Madrid write them: French, Japanese, German
# and Spanish, in that order in each list. They fold like English ones ("Période" is "periode").
_PERIOD_ABROAD = ("période", "période comptable", "trimestre", "mois", "date comptable",
                  "date de comptabilisation",
                  "期間", "対象期間", "会計期間", "四半期", "月", "年月", "計上月", "計上日", "日付",
                  "zeitraum", "quartal", "monat", "datum", "buchungsdatum", "buchungsperiode", "belegdatum",
                  "período", "periodo contable", "mes", "fecha", "fecha contable")
_CURRENCY_ABROAD = ("devise", "monnaie", "通貨", "通貨コード", "währung", "moneda", "divisa")
_CUSTOMER_ABROAD = ("client", "id client", "identifiant client", "numéro client", "n° client", "code client",
                    "顧客", "顧客id", "顧客番号", "顧客コード", "会員id", "会員番号",
                    "kunde", "kundennummer", "kunden-id", "kundennr",
                    "cliente", "id cliente", "id de cliente", "número de cliente", "código de cliente")
_SEGMENT_ABROAD = ("segment client", "type de client", "セグメント", "顧客区分", "顧客セグメント", "顧客種別",
                   "kundensegment", "kundentyp", "segmento", "segmento de cliente", "tipo de cliente")

_CHANNEL = Column(
    "channel", "text",
    synonyms=("marketing channel", "source", "utm source", "acquisition channel", "lead source",
              "campaign channel", "original source", "default channel group", "channel group",
              "session default channel group", "first touch channel",
              "canal", "canal marketing", "canal d'acquisition", "origine",
              "チャネル", "チャンネル", "チャネル名", "流入元", "集客チャネル", "媒体",
              "kanal", "marketingkanal", "quelle", "akquisitionskanal",
              "canal de marketing", "canal de adquisición", "fuente", "origen"),
    description="Marketing channel, free text (e.g. Paid Search).",
)

FILE_KINDS: dict[Kind, FileKind] = {
    "spend": _file_kind(
        "spend",
        "Marketing and sales spend from the ledger, ad platforms and agencies.",
        (
            Column("period", "period", True,
                   ("quarter", "month", "date", "fiscal period", "posting date",
                    "period name", "fiscal quarter", "day", "year month", "transaction date",
                    "invoice date", "posting period", "accounting period", *_PERIOD_ABROAD),
                   "The period the cost belongs to: a date, month or quarter."),
            Column("category", "category", True,
                   ("cost category", "cost type", "expense category", "expense type",
                    "spend category", "type", "account", "gl account", "account name",
                    "gl account name", "expense account",
                    "catégorie", "catégorie de coût", "catégorie de dépense", "type de coût", "type de dépense",
                    "nature", "nature de dépense", "compte", "compte comptable", "libellé du compte",
                    "費目", "勘定科目", "科目", "カテゴリ", "カテゴリー", "費用区分", "経費区分",
                    "kategorie", "kostenart", "kostenkategorie", "konto", "sachkonto", "ausgabenart",
                    "aufwandsart",
                    "categoría", "categoría de gasto", "tipo de gasto", "tipo de coste", "tipo de costo",
                    "cuenta", "cuenta contable", "partida"),
                   "Cost category: a canonical key or a documented synonym."),
            Column("channel", "text", False,
                   _CHANNEL.synonyms,
                   "Marketing channel; blank for shared costs (personnel, martech, ...)."),
            Column("amount", "money", True,
                   ("spend", "cost", "amount spent", "total", "value", "net amount",
                    "expense", "debit",
                    "montant", "montant ht", "coût", "dépense", "dépenses", "valeur", "débit",
                    "金額", "支出", "支出額", "費用", "税抜金額", "合計", "借方金額", "コスト",
                    "betrag", "kosten", "ausgaben", "summe", "nettobetrag", "wert", "soll", "aufwand",
                    "importe", "monto", "gasto", "gastos", "coste", "costo", "valor", "importe neto", "debe"),
                   "Amount in the reporting currency; negative for credits."),
            Column("currency", "currency", False, ("ccy", "currency code", "curr", *_CURRENCY_ABROAD)),
            Column("vendor", "text", False, ("supplier", "payee", "vendor name", "partner",
                                             "fournisseur", "prestataire", "tiers", "bénéficiaire",
                                             "取引先", "仕入先", "支払先", "ベンダー",
                                             "lieferant", "anbieter", "kreditor", "zahlungsempfänger",
                                             "proveedor", "acreedor", "beneficiario")),
            Column("description", "text", False, ("memo", "notes", "note", "details", "line description",
                                                  "libellé", "commentaire", "désignation",
                                                  "摘要", "説明", "備考", "内容", "メモ",
                                                  "beschreibung", "buchungstext", "verwendungszweck",
                                                  "bemerkung", "notiz",
                                                  "descripción", "concepto", "notas", "comentario",
                                                  "observaciones")),
            Column("service_start", "date", False,
                   ("service start", "service period start", "service from", "start of service", "start date",
                    "amortisation start", "amortization start", "contract start", "term start", "coverage start",
                    "début de service", "début de la prestation", "date de début", "début de période",
                    "役務提供開始日", "サービス開始日", "契約開始日", "償却開始日", "開始日",
                    "leistungsbeginn", "leistungszeitraum von", "vertragsbeginn", "startdatum",
                    "inicio del servicio", "fecha de inicio", "inicio del contrato"),
                   "The first day of the service the cost pays for (an annual contract, an event deposit, a "
                   "retainer): with service_end, the cost is amortised by month over it on the accrual basis."),
            Column("service_end", "date", False,
                   ("service end", "service period end", "service to", "end of service", "end date",
                    "amortisation end", "amortization end", "contract end", "term end", "coverage end",
                    "fin de service", "fin de la prestation", "date de fin", "fin de période",
                    "役務提供終了日", "サービス終了日", "契約終了日", "償却終了日", "終了日",
                    "leistungsende", "leistungszeitraum bis", "vertragsende", "enddatum",
                    "fin del servicio", "fecha de fin", "fin del contrato"),
                   "The last day of the service the cost pays for; given with service_start."),
        ),
        "period",
        "amount",
    ),
    "funnel": _file_kind(
        "funnel",
        "Funnel volumes per period and channel from ad platforms, analytics and the CRM.",
        (
            Column("period", "period", True, ("quarter", "month", "date", "week", "day", "year month",
                                              "période", "trimestre", "mois", "semaine", "jour",
                                              "期間", "四半期", "月", "週", "日付", "年月",
                                              "zeitraum", "quartal", "monat", "woche", "datum", "tag",
                                              "período", "mes", "semana", "fecha", "día")),
            Column("channel", "text", True, _CHANNEL.synonyms),
            Column("leads", "count", True, ("lead count", "new leads", "total leads", "contacts",
                                            "prospects", "nombre de leads", "nouveaux leads",
                                            "リード", "リード数", "見込み客", "見込み客数", "問い合わせ数",
                                            "anzahl leads", "interessenten", "kontakte",
                                            "prospectos", "clientes potenciales", "contactos")),
            Column("visitors", "count", False, ("visits", "sessions", "users", "unique visitors",
                                                "website visitors", "visiteurs", "visites",
                                                "訪問者数", "訪問数", "セッション", "セッション数", "ユーザー",
                                                "ユーザー数", "besucher", "besuche", "sitzungen", "nutzer",
                                                "visitantes", "visitas", "sesiones", "usuarios")),
            Column("event_attendees", "count", False, ("attendees", "event attendance",
                                                       "registrants attended", "participants",
                                                       "participants aux événements",
                                                       "イベント参加者", "イベント参加者数", "参加者数", "来場者数",
                                                       "teilnehmer", "veranstaltungsteilnehmer",
                                                       "asistentes", "asistentes a eventos")),
            Column("mqls", "count", False, ("mql", "marketing qualified leads", "leads qualifiés marketing",
                                            "mql数", "marketingqualifizierte leads",
                                            "leads cualificados por marketing",
                                            "leads calificados por marketing")),
            Column("sqls", "count", False, ("sql", "sales qualified leads", "leads qualifiés ventes", "sql数",
                                            "vertriebsqualifizierte leads", "leads cualificados por ventas",
                                            "leads calificados por ventas")),
            Column("opportunities", "count", False, ("opps", "opportunity", "deals", "pipeline deals",
                                                     "opportunités", "商談", "商談数", "案件数",
                                                     "verkaufschancen", "chancen", "oportunidades")),
        ),
        "period",
        "leads",
    ),
    "customers": _file_kind(
        "customers",
        "New customers with acquisition date, channel and segment from the CRM.",
        (
            Column("customer_id", "text", True, ("customer", "customer number", "account id",
                                                 "client id", "id", "customer no", "cust id",
                                                 "record id", "contact id", *_CUSTOMER_ABROAD)),
            Column("acquired_on", "date", True, ("acquired", "acquisition date", "signup date",
                                                 "sign up date", "created", "created at",
                                                 "first order date", "close date", "won date",
                                                 "start date", "date", "became a customer date",
                                                 "customer since", "first purchase date",
                                                 "date d'acquisition", "date d'inscription",
                                                 "date de création", "client depuis", "date de signature",
                                                 "date de première commande",
                                                 "獲得日", "登録日", "契約日", "入会日", "初回購入日", "作成日",
                                                 "日付", "akquisitionsdatum", "anmeldedatum",
                                                 "registrierungsdatum", "kunde seit", "abschlussdatum",
                                                 "vertragsbeginn", "erstellt am", "datum",
                                                 "fecha de adquisición", "fecha de alta", "fecha de registro",
                                                 "cliente desde", "fecha de primera compra",
                                                 "fecha de cierre", "fecha")),
            Column("channel", "text", False, _CHANNEL.synonyms),
            Column("segment", "segment", False, ("customer segment", "customer type", "tier",
                                                 *_SEGMENT_ABROAD)),
            Column("billing_interval", "interval", False,
                   ("billing interval", "billing period", "billing frequency", "billing cycle",
                    "billing term", "plan interval", "subscription interval", "subscription term",
                    "term", "contract term", "payment frequency", "payment interval",
                    "renewal frequency", "interval",
                    "périodicité de facturation", "fréquence de facturation", "cycle de facturation",
                    "périodicité", "請求間隔", "請求周期", "課金周期", "支払サイクル", "契約期間",
                    "abrechnungsintervall", "abrechnungszeitraum", "zahlungsintervall", "laufzeit",
                    "periodicidad de facturación", "frecuencia de facturación", "ciclo de facturación",
                    "periodicidad"),
                   "How often the customer pays: month, quarter, half-year or year; "
                   "blank when unknown (detected from the revenue ledger)."),
        ),
        "acquired_on",
        "customers",
    ),
    "revenue": _file_kind(
        "revenue",
        "Revenue ledger per customer and date from billing.",
        (
            Column("customer_id", "text", True, ("customer", "customer number", "account id",
                                                 "client id", "cust id", "customer no",
                                                 *_CUSTOMER_ABROAD)),
            Column("date", "date", True, ("invoice date", "order date", "transaction date",
                                          "billing date", "paid at", "created at", "period",
                                          "created utc", "created", "day", "month",
                                          "date de facture", "date de facturation", "date de commande",
                                          "date de transaction", "période", "mois",
                                          "請求日", "売上日", "計上日", "日付", "取引日", "注文日", "年月", "期間",
                                          "月",
                                          "rechnungsdatum", "datum", "bestelldatum", "buchungsdatum", "monat",
                                          "zeitraum", "fecha de factura", "fecha", "fecha de pedido",
                                          "fecha de transacción", "mes", "período")),
            Column("revenue", "money", True, ("amount", "net revenue", "sales", "total",
                                              "invoice amount", "order value",
                                              "chiffre d'affaires", "ca", "revenu", "revenus", "montant",
                                              "montant ht", "ventes", "売上", "売上高", "売上金額", "金額", "収益",
                                              "請求金額", "umsatz", "erlös", "erlöse", "umsatzerlöse", "betrag",
                                              "rechnungsbetrag", "ingresos", "ventas", "importe", "monto",
                                              "facturación")),
            Column("gross_margin", "money", False, ("margin", "gross profit", "gm", "marge brute", "marge",
                                                    "粗利", "粗利益", "売上総利益", "bruttomarge", "rohertrag",
                                                    "deckungsbeitrag", "margen bruto", "margen",
                                                    "beneficio bruto")),
            Column("cost", "money", False, ("cogs", "cost of goods sold", "cost of revenue", "coût", "coûts",
                                            "coût des ventes", "coût de revient", "原価", "売上原価", "kosten",
                                            "wareneinsatz", "herstellkosten", "coste", "costo", "coste de ventas",
                                            "costo de ventas")),
            Column("segment", "segment", False, ("customer segment", "customer type", *_SEGMENT_ABROAD)),
            Column("channel", "text", False, _CHANNEL.synonyms),
            Column("currency", "currency", False, ("ccy", "currency code", "curr", *_CURRENCY_ABROAD)),
        ),
        "date",
        "revenue",
    ),
    "gl": _file_kind(
        "gl",
        "The general ledger's marketing and sales accounts (a trial balance or GL summary, or the GL detail of "
        "QuickBooks, Xero or NetSuite): what the books say was spent, to reconcile the spend against.",
        (
            Column("period", "period", True,
                   ("month", "date", "fiscal period", "posting date", "period name", "fiscal quarter",
                    "quarter", "year month", "transaction date", "posting period", "accounting period",
                    *_PERIOD_ABROAD),
                   "The accounting period: a month or quarter, or a posting date."),
            Column("account", "text", True,
                   ("gl account", "account name", "gl account name", "ledger account", "nominal account",
                    "expense account", "account code and name",
                    "compte", "compte comptable", "libellé du compte", "intitulé du compte",
                    "勘定科目", "科目", "勘定科目名", "konto", "sachkonto", "kontobezeichnung",
                    "cuenta", "cuenta contable", "nombre de la cuenta"),
                   "The ledger account as the books name it (6100 Advertising); mapped to a cost category in "
                   "the store (python -m finance gl map)."),
            Column("amount", "money", True,
                   ("net amount", "balance", "net change", "net movement", "movement", "total", "value",
                    "montant", "solde", "mouvement", "金額", "残高", "当期発生額", "betrag", "saldo",
                    "bewegung", "importe", "saldo neto", "movimiento"),
                   "The account's net debit for the period (debits less credits), in the reporting currency "
                   "unless a currency column says otherwise."),
            Column("currency", "currency", False, ("ccy", "currency code", "curr", *_CURRENCY_ABROAD)),
            Column("vendor", "text", False, ("supplier", "payee", "vendor name", "name",
                                             "fournisseur", "tiers", "取引先", "lieferant", "proveedor")),
            Column("description", "text", False, ("memo", "memo/description", "line description", "narration",
                                                  "libellé", "摘要", "buchungstext", "concepto")),
        ),
        "period",
        "amount",
    ),
}


def file_kind(kind: str) -> FileKind:
    """The contract for ``kind``; an unknown kind lists the valid ones."""
    try:
        return FILE_KINDS[kind]  # type: ignore[index]
    except KeyError:
        raise KeyError(f"unknown file kind {kind!r}; valid: {', '.join(KINDS)}") from None


DEFAULT_CURRENCY = "USD"


# Health bands of LTV:CAC. "Anything over 2-3x is pretty healthy"; below 1x each new customer
# destroys value; very high ratios suggest under-investment in growth. Edges are
# configurable; each band includes its lower edge (a ratio of exactly 2.0 is "healthy").
DEFAULT_BAND_EDGES: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0)
BAND_LABELS: tuple[str, ...] = ("unprofitable", "at risk", "healthy", "strong", "under-investing?")


def check_band_edges(edges: tuple[float, ...]) -> tuple[float, ...]:
    """Four increasing, positive edges for the five bands, or a ValueError saying why."""
    if len(edges) != len(BAND_LABELS) - 1:
        raise ValueError(f"band edges need {len(BAND_LABELS) - 1} numbers, got {len(edges)}")
    if not all(math.isfinite(e) and e > 0 for e in edges) or any(b <= a for a, b in pairwise(edges)):
        raise ValueError(f"band edges must be finite, positive and increasing, got {edges}")
    return tuple(float(e) for e in edges)


def band_of(ratio: float | None, edges: tuple[float, ...] = DEFAULT_BAND_EDGES) -> str | None:
    """The health band of an LTV:CAC ratio; None for an unknown ratio."""
    if ratio is None or ratio != ratio:  # NaN
        return None
    position = sum(1 for edge in edges if ratio >= edge)
    return BAND_LABELS[position]
