"""Reader, configuration and language detection."""

from __future__ import annotations

import codecs
import gzip
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from dedup.config import CHOICES, DEFAULT_CONFIG_FILE, RANGES, ConfigError, load_config
from dedup.io.discover import InputError, InputFile, discover_inputs
from dedup.io.read import RawItem, ReadConfig, numbered_items, read_batches
from dedup.records import Record, Reject
from dedup.stages.language import (
    LanguageConfig,
    detect_language,
    detect_languages,
    iso_code,
    ngrams,
    normalised_codes,
    pack,
    profiles,
)
from dedup.stages.parse import parse_item, published_day

REPO = Path(__file__).parent.parent


def parse(line: bytes, cfg: ReadConfig | None = None) -> Record | Reject:
    """Parse one JSONL line."""
    return parse_item(RawItem("f.jsonl:1", "json", line), cfg or ReadConfig())


def test_field_mapping_and_normalised_dates() -> None:
    cfg = load_config(overrides=['read.fields.text="body"', 'read.fields.published="date"'])
    record = parse(b'{"id": 7, "title": "T", "body": "B", "date": "2025-03-20T10:00:00+02:00"}',
                   cfg.read)
    assert isinstance(record, Record)
    assert (record.id, record.text, record.published) == ("7", "B", "2025-03-20T08:00:00Z")


def test_bad_dates_are_flagged_not_rejected() -> None:
    record = parse(b'{"id": "x", "title": "T", "published": "last Tuesday"}')
    assert isinstance(record, Record)
    assert record.published is None and "bad_published" in record.flags
    assert math.isnan(published_day(None))
    assert published_day("1970-01-02") == 1.0


def test_text_is_capped_and_flagged() -> None:
    record = parse(b'{"id": "x", "text": "' + b"a" * 50 + b'"}', ReadConfig(max_text_chars=10))
    assert isinstance(record, Record)
    assert len(record.text) == 10 and "text_truncated" in record.flags


def test_invalid_utf8_and_nul_bytes_are_repaired_and_flagged() -> None:
    record = parse(b'{"id": "x", "title": "caf\xe9 \x93quoted\x94", "text": "a\\u0000b"}')
    assert isinstance(record, Record)
    assert record.text == "ab" and {"invalid_utf8", "nul_bytes"} <= set(record.flags)
    assert record.title == "café “quoted”"  # stray Windows-1252 bytes in a UTF-8 dump


UKRAINIAN = "Київ оголосив про нові переговори — «коаліція охочих» зібралася знову."
CHINESE = "北京今天发布了新的经济数据，增长超过预期。"


def html_page(meta: str, body: str) -> str:
    return f"<html><head>{meta}<title>t</title></head><body><p>{body}</p></body></html>"


@pytest.mark.parametrize(("meta", "body", "encoding"), [
    ('<meta charset="windows-1251">', UKRAINIAN, "cp1251"),
    ('<meta http-equiv="Content-Type" content="text/html; charset=koi8-u">',
     "Київ оголосив про нові переговори.", "koi8_u"),
    ("<META CHARSET=gb2312>", CHINESE, "gbk"),
    ('<meta charset="iso-8859-1">', "Café “quoted” – dash", "cp1252"),  # read as browsers do
])
def test_html_files_are_read_in_the_charset_they_declare(meta: str, body: str,
                                                         encoding: str) -> None:
    page = html_page(meta, body)
    record = parse_item(RawItem(origin="p.html", kind="html", payload=page.encode(encoding)),
                        ReadConfig())
    assert isinstance(record, Record) and record.html == page and not record.flags


def test_utf8_wins_over_a_stale_declaration_and_boms_decide() -> None:
    page = html_page('<meta charset="windows-1251">', UKRAINIAN)  # re-saved as UTF-8
    saved = parse_item(RawItem(origin="p.html", kind="html", payload=page.encode()),
                       ReadConfig())
    assert isinstance(saved, Record) and saved.html == page
    for payload in (codecs.BOM_UTF8 + page.encode(), page.encode("utf-16")):  # BOM + text
        record = parse_item(RawItem(origin="p.html", kind="html", payload=payload),
                            ReadConfig())
        assert isinstance(record, Record) and record.html == page
    note = parse_item(RawItem(origin="n.txt", kind="txt",
                              payload=f"Title\n{UKRAINIAN}\n".encode("utf-16")), ReadConfig())
    assert isinstance(note, Record) and (note.title, note.text) == ("Title", UKRAINIAN)


def test_undeclared_encodings_are_guessed_and_wrong_declarations_never_fail() -> None:
    page = html_page("", UKRAINIAN)
    record = parse_item(RawItem(origin="p.html", kind="html", payload=page.encode("cp1251")),
                        ReadConfig())
    assert isinstance(record, Record) and record.html == page
    assert record.flags == ["charset_guessed"]
    note = parse_item(RawItem(origin="n.txt", kind="txt",
                              payload=f"Заголовок\n{UKRAINIAN}\n".encode("cp1251")),
                      ReadConfig())
    assert isinstance(note, Record) and (note.title, note.text) == ("Заголовок", UKRAINIAN)
    lying = html_page('<meta charset="utf-16be">', "odd").encode() + b"\xff"
    record = parse_item(RawItem(origin="p.html", kind="html", payload=lying), ReadConfig())
    assert isinstance(record, Record) and "undecodable_bytes" in record.flags


def raw_items(files: list[InputFile]) -> list[RawItem | Reject]:
    """Every raw record of the files, in input order."""
    return [item for batch in read_batches(files, 100, ReadConfig())
            for _, item in numbered_items(batch)]


def test_txt_and_html_files(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("\n\nThe title\nFirst line.\nSecond line.\n")
    (tmp_path / "two.html").write_text("<html><body><p>Hi</p></body></html>")
    (tmp_path / "notes.md").write_text("ignored")
    files = discover_inputs([str(tmp_path)]).files
    assert [f.name for f in files] == ["one.txt", "two.html"]
    items = [i for i in raw_items(files) if isinstance(i, RawItem)]
    txt = parse_item(items[0], ReadConfig())
    assert isinstance(txt, Record)
    assert (txt.id, txt.title, txt.text) == ("one", "The title", "First line.\nSecond line.")
    html = parse_item(items[1], ReadConfig())
    assert isinstance(html, Record) and html.html and not html.text


def test_truncated_gzip_ends_in_a_reject(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"id": "%d", "text": "x"}\n' % i for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    items = raw_items([InputFile(str(path))])
    assert isinstance(items[-1], Reject) and items[-1].reason == "unreadable_file"
    assert all(isinstance(i, RawItem) for i in items[:-1]) and len(items) > 1


def test_batches_number_records_the_same_whatever_their_size(tmp_path: Path) -> None:
    """Blocks of lines, documents and rejects keep input positions and line numbers."""
    (tmp_path / "a.jsonl").write_bytes(b'{"id": "a1"}\n\n{"id": "a2"}\n  \n{"id": "a3"}')
    (tmp_path / "b.txt").write_text("Title\nBody.\n")
    data = gzip.compress(b"".join(b'{"id": "c%d"}\n' % i for i in range(500)))
    (tmp_path / "c.jsonl.gz").write_bytes(data[: len(data) // 2])
    files = discover_inputs([str(tmp_path)]).files

    def numbered(size: int) -> list[tuple[int, str, str]]:
        return [(seq, item.origin, item.payload.decode() if isinstance(item, RawItem)
                 else item.reason)
                for batch in read_batches(files, size, ReadConfig())
                for seq, item in numbered_items(batch)]

    whole = numbered(10**6)
    assert [seq for seq, _, _ in whole] == list(range(len(whole)))
    assert whole[:4] == [(0, f"{tmp_path}/a.jsonl:1", '{"id": "a1"}'),
                         (1, f"{tmp_path}/a.jsonl:3", '{"id": "a2"}'),
                         (2, f"{tmp_path}/a.jsonl:5", '{"id": "a3"}'),
                         (3, f"{tmp_path}/b.txt", "Title\nBody.\n")]
    assert whole[-1][2] == "unreadable_file"
    assert numbered(1) == numbered(2) == numbered(7) == whole


def test_bad_paths_fail_early(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        discover_inputs([str(tmp_path / "nope")])
    (tmp_path / "data.xml").write_text("a,b")
    with pytest.raises(InputError, match="unsupported"):
        discover_inputs([str(tmp_path / "data.xml")])
    with pytest.raises(InputError, match="matches no readable file"):
        discover_inputs([str(tmp_path / "*.jsonl")])
    (tmp_path / "b.jsonl").write_text("{}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.jsonl").write_text("{}\n")
    assert discover_inputs([str(tmp_path / "**" / "*.jsonl")]).files == [
        InputFile(str(tmp_path / "b.jsonl")), InputFile(str(tmp_path / "sub" / "a.jsonl"))]


def test_config_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[dedup]\nthreshold = 0.8\n[run]\nworkers = 3\n")
    cfg = load_config(path, ["dedup.threshold=0.9"])
    assert cfg.dedup.threshold == 0.9 and cfg.run.workers == 3


@pytest.mark.parametrize("override, message", [
    ("nosection.x=1", "unknown config section"),
    ("dedup.nokey=1", "unknown config key 'dedup.nokey'; known: threshold, .*shingle_size"),
    ("cluster.treshold=0.3", "unknown config key .*; did you mean 'cluster.threshold'\\?$"),
    ("clustr.threshold=0.3", "unknown config section .*; did you mean 'cluster'\\?$"),
    ("dedup.num_perm=many", "expected an integer"),
    ("dedup.threshold=2.0", "dedup.threshold must be"),
    ("run.progress=sometimes", "run.progress"),
    ("novalue", "expected section.key=value"),
    ('read.fields.txt="body"', "'txt' is not a record field .*did you mean 'text'"),
    ('read.fields={titel="headline"}', "'titel' is not a record field .*did you mean 'title'"),
    ("read.fields={}", "an empty table sets nothing"),
    ('read.fields.text=""', "'text' must be mapped to an input field name"),
])
def test_config_errors_are_clear(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_default_toml_states_the_defaults() -> None:
    assert load_config(DEFAULT_CONFIG_FILE) == load_config()


def test_readme_documents_every_setting_with_its_default() -> None:
    """The README's configuration table: one row per key of default.toml."""
    readme = (REPO / "README.md").read_text().split("## Configuration")[1]
    rows = dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| `(.*?)` \|", readme, re.M))
    settings = tomllib.loads(DEFAULT_CONFIG_FILE.read_text())
    assert rows.keys() == {f"{section}.{key}" for section, values in settings.items()
                           for key in values}
    for name, shown in rows.items():
        section, key = name.split(".")
        assert tomllib.loads(f"v = {shown}")["v"] == settings[section][key], name
    ranges = dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| `.*?` \| (.*?) \|", readme, re.M))
    for name, shown in ranges.items():
        expected = RANGES[name].describe() if name in RANGES else \
            ", ".join(CHOICES[name]) if name in CHOICES else \
            "true, false" if isinstance(settings[name.split(".")[0]][name.split(".")[1]], bool) \
            else ""
        assert shown == expected, name


@pytest.mark.parametrize("text, lang", [
    ("Leaders from the EU, the UK and Canada will gather in Paris next week.", "en"),
    ("Die Staats- und Regierungschefs treffen sich nächste Woche in Paris.", "de"),
    ("Лідери ЄС, Великої Британії та Канади зберуться в Парижі наступного тижня.", "uk"),
    ("Лидеры ЕС, Великобритании и Канады соберутся в Париже на следующей неделе.", "ru"),
    ("北京今天发布了新的经济数据，显示工业生产增长放缓。", "zh"),
])
def test_language_is_detected_and_deterministic(text: str, lang: str) -> None:
    first = detect_language("", text, LanguageConfig())
    assert first.lang == lang and 0 < first.confidence <= 1
    assert all(detect_language("", text, LanguageConfig()) == first for _ in range(5))


@pytest.mark.parametrize("text, lang", [
    ("Лідэры краін Еўрапейскага саюза збяруцца ў Парыжы на наступным тыдні.", "be"),
    ("Кіраўніцтва горада паведаміла, што новы мост адкрыюць увосень.", "be"),
    ("Еуропалық одақ елдерінің басшылары келесі аптада Парижде жиналады.", "kk"),
    ("Лидери европских земаља састаће се следеће недеље у Паризу, саопштила је влада.", "sr"),
    ("Влада је саопштила да су лидери у Паризу договорили нове мере.", "sr"),
    ("Лидерите на европските земји ќе се сретнат следната недела во Париз.", "mk"),
    ("Владата соопшти дека министерот е во Париз на средба со колегите.", "mk"),
    ("Лидерите на европейските държави ще се срещнат следващата седмица в Париж.", "bg"),
    ("Є надія, що перемовини відбудуться наступного тижня.", "uk"),
    ("ევროპის ლიდერები მომავალ კვირას პარიზში შეიკრიბებიან.", "ka"),
    ("Եվրոպայի առաջնորդները հաջորդ շաբաթ կհավաքվեն Փարիզում։", "hy"),
    ("Europeiske ledere skal møtes i Paris neste uke for å diskutere våpenhvilen.", "nb"),
])
def test_letters_decide_where_the_ngram_model_cannot(text: str, lang: str) -> None:
    """langdetect has no be/kk/sr/ka/hy profile and mixes up the Cyrillic languages on
    short text; alphabets, scripts and function words settle those."""
    assert detect_language("", text, LanguageConfig()).lang == lang


def test_a_quoted_word_does_not_decide_a_long_text() -> None:
    """One Ukrainian letter in a long Russian text is within ``foreign_letter_share``."""
    text = ("Лидеры ЕС, Великобритании и Канады соберутся в Париже на следующей неделе, "
            "чтобы обсудить гарантии безопасности и поддержку армии. Министр назвал встречу "
            "«історичною» и добавил, что решения будут приняты до конца месяца.")
    assert detect_language("", text, LanguageConfig()).lang == "ru"
    assert detect_language("", text, LanguageConfig(foreign_letter_share=0.0)).lang != "ru"


def test_too_little_text_is_undetermined() -> None:
    assert detect_language("", "12 34 !!", LanguageConfig()).lang == "und"


LANGDETECT_SENTENCES = [
    "Leaders from the EU, the UK and Canada will gather in Paris next week.",
    "Die Staats- und Regierungschefs treffen sich nächste Woche in Paris.",
    "Les dirigeants européens se réuniront la semaine prochaine à Paris.",
    "Los líderes europeos se reunirán la próxima semana en París.",
    "I leader europei si incontreranno la prossima settimana a Parigi.",
    "Przywódcy europejscy spotkają się w przyszłym tygodniu w Paryżu.",
    "Avrupalı liderler gelecek hafta Paris'te bir araya gelecek.",
    "Os líderes europeus vão reunir-se na próxima semana em Paris.",
    "Лідери ЄС, Великої Британії та Канади зберуться в Парижі наступного тижня.",
    "Лидеры ЕС, Великобритании и Канады соберутся в Париже на следующей неделе.",
]


@pytest.mark.parametrize("text", LANGDETECT_SENTENCES)
def test_detection_agrees_with_langdetect_on_clear_text(text: str) -> None:
    """The stage scores langdetect's own profiles, so on clear text both must agree."""
    from langdetect import DetectorFactory, detect

    DetectorFactory.seed = 0
    assert detect_language("", text, LanguageConfig()).lang == iso_code(detect(text))


def test_acronyms_and_addresses_do_not_decide_the_language() -> None:
    """All-capitals runs, URLs and e-mail addresses are skipped as langdetect skips them."""
    text = "Перемир'я обговорили в Києві NATO USA EU https://example.com/news news@example.com"
    assert detect_language("", text, LanguageConfig()).lang == "uk"
    model = profiles()
    grams = {gram for packed, _ in ngrams(*normalised_codes(["NATO"], model), model)
             for gram in packed.tolist()}
    inside_the_run = {pack(gram) for gram in ("A", "T", "NA", "AT", "NAT", "ATO")}
    assert grams and not grams & inside_the_run
    assert model.rows.get(np.array([pack("the"), pack("qxz")], dtype=np.uint64))[1] == -1
    assert model.rows.get(np.array([pack("the")], dtype=np.uint64))[0] >= 0


def test_batch_detection_is_per_article() -> None:
    """An article's result never depends on the other articles of its batch."""
    texts = [*LANGDETECT_SENTENCES, "", "12 34", "Ok"]
    alone = [detect_language("", text, LanguageConfig()) for text in texts]
    assert detect_languages([""] * len(texts), texts, LanguageConfig()) == alone
    assert detect_languages([], [], LanguageConfig()) == []
    assert detect_languages([""] * 3, texts[::-1][:3], LanguageConfig()) == alone[::-1][:3]


@pytest.mark.parametrize("overrides", [
    ['read.fields={text="maintext"}'],
    ['read.fields.text="maintext"'],
])
def test_a_fields_table_changes_only_the_keys_it_names(overrides: list[str]) -> None:
    fields = load_config(overrides=overrides).read.fields
    assert fields == {**ReadConfig().fields, "text": "maintext"}


def test_a_fields_table_in_a_toml_file_keeps_the_other_mappings(tmp_path: Path) -> None:
    config = tmp_path / "np.toml"
    config.write_text('[read.fields]\ntext = "maintext"\n')
    fields = load_config(config).read.fields
    assert fields["text"] == "maintext" and fields["title"] == "title"
    assert fields["url"] == "url" and fields["id"] == "id"
