"""Reader, configuration and language detection."""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import dedup
from dedup.cli import main
from dedup.config import (
    DEFAULT_CONFIG_FILE,
    SETTINGS,
    Config,
    ConfigError,
    commented_toml,
    load_config,
    settings_table,
)
from dedup.io.discover import InputError, InputFile, discover_inputs
from dedup.io.outdir import OutputError
from dedup.io.read import DEFAULT_FIELDS, RawItem, ReadConfig, numbered_items, read_batches
from dedup.records import Record, Reject
from dedup.settings import Range, about
from dedup.stages.embed import STATIC_USE, USE_MULTILINGUAL
from dedup.stages.language import (
    LanguageConfig,
    SiteLanguages,
    SitePrior,
    detect_language,
    detect_languages,
    given_language,
    guessed_languages,
    iso_code,
    languages_of,
    ngrams,
    normalised_codes,
    pack,
    profiles,
    sample_text,
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
    # 7-bit bytes between escapes, valid UTF-8 too
    ('<meta charset="iso-2022-jp">', "東京で新しい経済データが発表された。", "iso2022_jp"),
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
    (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "gone.jsonl")
    with pytest.raises(InputError, match=f"a symbolic link to {tmp_path}/gone.jsonl, which"):
        discover_inputs([str(tmp_path / "dangling.jsonl")])
    (tmp_path / "loop-a.jsonl").symlink_to(tmp_path / "loop-b.jsonl")
    (tmp_path / "loop-b.jsonl").symlink_to(tmp_path / "loop-a.jsonl")
    with pytest.raises(InputError, match=r"loop-a\.jsonl: a loop of symbolic links$"):
        discover_inputs([str(tmp_path / "loop-a.jsonl")])
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


def test_an_empty_path_is_refused_not_taken_for_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``dedup run "$IN" --out "$OUT"`` with a variable unset: "" is Path("."), which
    would read or fill the current folder; an empty --index would run without one."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jsonl").write_text('{"id": "a", "title": "A title", "text": "A text."}\n')
    options = ["--set", 'embed.model="off"', "-q"]
    assert main(["run", "", "--out", str(tmp_path / "out"), *options]) == 2
    assert "an input is an empty path (an unset shell variable?)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["run", "a.jsonl", "--out", "", *options])
    assert stopped.value.code == 2 and "--out: an empty path" in capsys.readouterr().err
    assert main(["run", "a.jsonl", "--out", "out", "--index", " ", *options]) == 2
    assert "the index is an empty path" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.jsonl"]
    with pytest.raises(OutputError, match="empty path"):
        dedup.run([{"id": "a", "text": "A text."}], out="")


def test_config_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[dedup]\nthreshold = 0.8\n[run]\nworkers = 3\n")
    cfg = load_config(path, ["dedup.threshold=0.9"])
    assert cfg.dedup.threshold == 0.9 and cfg.run.workers == 3
    # the README's load_config("my.toml"): a path as a string, one override as a string
    assert load_config(str(path), "dedup.threshold=0.9") == cfg
    # a date setting written as a TOML date, unquoted, is its ISO form
    path.write_text("[extract]\nlatest_date = 2025-01-01\n")
    assert load_config(path).extract.latest_date == "2025-01-01"
    assert load_config(overrides=["extract.latest_date=2025-01-01"]).extract.latest_date \
        == "2025-01-01"


@pytest.mark.parametrize("content, message", [
    (b"[dedup\n", "is not valid TOML"),
    ("[dedup]\nthreshold = 0.8\n".encode("utf-16"), "is not UTF-8 text .*byte 0xff at offset 0"),
    (b"[dedup]\nthreshold = 0.8 # caf\xe9\n", "is not UTF-8 text .*byte 0xe9 at offset 29"),
])
def test_a_config_file_that_is_not_toml_is_a_config_error(tmp_path: Path, content: bytes,
                                                          message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.parametrize("override, message", [
    ("nosection.x=1", "unknown config section"),
    ("dedup.nokey=1", "unknown config key 'dedup.nokey'; known: threshold, .*shingle_size"),
    ("cluster.treshold=0.3", "unknown config key .*; did you mean 'cluster.threshold'\\?$"),
    ("clustr.threshold=0.3", "unknown config section .*; did you mean 'cluster'\\?$"),
    ("dedup.num_perm=many", "expected an integer"),
    ("dedup.threshold=2.0", "dedup.threshold must be"),
    ("cluster.window_days=inf", "must be a finite number, >= 0, got inf"),
    ("read.max_text_chars=99999999999999999999", "must be >= 1 and fit in 64 bits"),
    ("dedup.threshold=nan", "dedup.threshold must be > 0 to 1, got nan"),
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


def test_shipped_default_toml_is_written_from_the_declarations() -> None:
    """configs/default.toml is `dedup config`'s output byte for byte, and states the
    defaults the stages' dataclasses declare."""
    assert DEFAULT_CONFIG_FILE.read_text() == commented_toml(), \
        "regenerate it: dedup config > dedup/configs/default.toml"
    assert load_config(DEFAULT_CONFIG_FILE) == Config()


def test_readme_settings_table_is_written_from_the_declarations() -> None:
    """The README's table is settings_table() byte for byte: every setting, its default,
    range and comment as the dataclasses declare them."""
    section = (REPO / "README.md").read_text().split("## Configuration")[1].split("\n## ")[0]
    table = "".join(line + "\n" for line in section.splitlines() if line.startswith("|"))
    assert table == settings_table(), "regenerate it: python -c 'import dedup.config as c; " \
                                      "print(c.settings_table(), end=\"\")'"
    rows = re.findall(r"^\| `(\w+\.\w+)` \| `(.*?)` \| (.*?) \| (.+) \|$", table, re.M)
    assert [name for name, *_ in rows] == [entry.name for entry in SETTINGS]
    for (name, default, allowed, doc), entry in zip(rows, SETTINGS, strict=True):
        assert tomllib.loads(f"v = {default}")["v"] == entry.default, name
        assert (allowed, doc) == (entry.allowed(), entry.about.doc), name


def test_every_field_of_every_section_is_a_setting() -> None:
    """Each setting is declared once, on its stage's dataclass, with a comment: the TOML,
    the README and the checks read the declarations, so no field may lack one."""
    fields = [f"{section.name}.{key.name}" for section in dataclasses.fields(Config)
              for key in dataclasses.fields(getattr(Config(), section.name))]
    assert [entry.name for entry in SETTINGS] == fields
    assert all(entry.about.doc and "  " not in entry.about.doc for entry in SETTINGS)
    assert SETTINGS[0].about.limits == Range(0, 1024)  # run.workers, declared in config.py
    choices = {entry.name: entry.about.choices for entry in SETTINGS if entry.about.choices}
    assert choices == {"run.progress": ("auto", "always", "never"),
                       "run.engine": ("local", "dask"),
                       "extract.favor": ("precision", "recall", "balanced"),
                       "embed.model": ("auto", "off", USE_MULTILINGUAL, STATIC_USE)}


def test_a_field_without_a_declaration_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Undeclared:
        knob: int = 3

    with pytest.raises(TypeError, match=r"'knob' is not declared with dedup\.settings\.setting"):
        about(dataclasses.fields(Undeclared)[0])


def test_a_mutable_default_is_each_configs_own() -> None:
    first, second = ReadConfig(), ReadConfig()
    assert first.fields == second.fields == DEFAULT_FIELDS
    assert first.fields is not second.fields and first.fields is not DEFAULT_FIELDS


def test_dedup_config_prints_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 0
    assert capsys.readouterr().out == DEFAULT_CONFIG_FILE.read_text()


def test_dedup_config_prints_the_effective_config_which_loads_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file, a preset and --set, printed as commented TOML: loading the print gives the
    same Config, strings that need escaping and floats that print oddly included."""
    given = tmp_path / "given.toml"
    given.write_text('[cluster]\nthreshold = 0.35\nwindow_days = 1e-5\n'
                     '[read]\nfields = { text = "body \\"quoted\\" \\\\ \\t ü \\u007f" }\n')
    options = ["--config", str(given), "--preset", "news-please",
               "--set", "link.enabled=false", "--set", 'extract.latest_date="2025-01-31"']
    expected = load_config(given, options[5::2], "news-please")
    assert expected.read.fields["text"] == 'body "quoted" \\ \t ü \x7f'
    assert expected.read.fields["published"] == "date_publish"
    assert main(["config", *options]) == 0
    printed = capsys.readouterr().out
    (tmp_path / "printed.toml").write_text(printed)
    assert load_config(tmp_path / "printed.toml") == expected
    assert "\nthreshold = 0.35  # range: > 0 to 1; default: 0.4\n" in printed
    assert "\nwindow_days = 1e-05  # range: >= 0; default: 7.0\n" in printed
    assert "\nenabled = false  # default: true\n" in printed
    assert printed.count("default:") == 5  # the four set, and read.fields


def test_dedup_config_refuses_a_bad_setting_as_run_does(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--set", "cluster.threshold=3"]) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err == "dedup: error: cluster.threshold must be > 0 to 1, got 3.0\n"


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
    # Traditional Chinese, which the n-grams took for Korean; Japanese and Korean kept
    ("臺北市政府今日宣布，捷運票價將自明年一月起調整，市長表示此舉是為了維持營運品質。", "zh"),
    ("中央氣象局表示，強烈颱風預計明日接近東部海域，民眾應嚴加防範強風豪雨。", "zh"),
    ("日本銀行は金融政策決定会合で利上げを決めたと発表した", "ja"),
    ("서울시는 내년부터 지하철 요금을 인상한다고 발표했다.", "ko"),
])
def test_letters_decide_where_the_ngram_model_cannot(text: str, lang: str) -> None:
    """langdetect has no be/kk/sr/ka/hy profile, mixes up the Cyrillic languages on
    short text and takes Han text without kana or Hangul for Korean or Japanese;
    alphabets, scripts and function words settle those."""
    assert detect_language("", text, LanguageConfig()).lang == lang


def test_a_quoted_word_does_not_decide_a_long_text() -> None:
    """One Ukrainian letter in a long Russian text is within ``foreign_letter_share``."""
    text = ("Лидеры ЕС, Великобритании и Канады соберутся в Париже на следующей неделе, "
            "чтобы обсудить гарантии безопасности и поддержку армии. Министр назвал встречу "
            "«історичною» и добавил, что решения будут приняты до конца месяца.")
    assert detect_language("", text, LanguageConfig()).lang == "ru"
    assert detect_language("", text, LanguageConfig(foreign_letter_share=0.0)).lang != "ru"


# A page's furniture left in English above its own text: Latin letters make more n-grams
# than Han characters do, and the model took such Chinese pages for English.
NOTICE = "We value your privacy. We and our partners use cookies. Accept all | Reject"


@pytest.mark.parametrize("text, lang", [
    (f"{NOTICE}\n臺北市政府今日宣布，捷運票價將自明年一月起調整，市長表示此舉是為了維持營運品質。"
     "中央氣象局表示，強烈颱風預計明日接近東部海域，民眾應嚴加防範強風豪雨。", "zh"),
    (f"{NOTICE}\n日本銀行は金融政策決定会合で利上げを決めたと発表した。政府は来年度の予算案を"
     "閣議決定し、防衛費と社会保障費が過去最大となった。", "ja"),
    (f"{NOTICE}\n서울시는 내년부터 지하철 요금을 인상한다고 발표했다. 정부는 다음 주 파리에서 "
     "열리는 회의에 장관을 보내기로 했으며 관계자들은 협상이 길어질 것으로 내다봤다.", "ko"),
    (f"{NOTICE}\nЛидеры ЕС соберутся в Париже на следующей неделе, сообщил министр.", "ru"),
    (f"{NOTICE}\nأعلنت الحكومة اليوم أن الوزراء سيجتمعون في باريس الأسبوع المقبل.", "ar"),
    (f"{NOTICE}\nΟι ηγέτες της Ευρώπης θα συναντηθούν στο Παρίσι την επόμενη εβδομάδα.", "el"),
    # and a line in another script does not decide a text mostly in Latin letters
    ("Leaders from the EU, the UK and Canada will gather in Paris next week to discuss "
     "guarantees.\n臺北市政府今日宣布", "en"),
])
def test_the_script_most_letters_are_in_bounds_the_language(text: str, lang: str) -> None:
    assert detect_language("", text, LanguageConfig()).lang == lang


def test_too_little_text_is_undetermined() -> None:
    assert detect_language("", "12 34 !!", LanguageConfig()).lang == "und"
    # bytes that could not be decoded say nothing (a page of them came out Bengali)
    assert detect_language("\ufffd" * 40, "\ufffd\ufffd \ufffd\n" * 80,
                           LanguageConfig()).lang == "und"


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


def test_the_sample_is_the_title_then_lines_at_even_steps_until_the_budget() -> None:
    """The detector reads the title and lines spread over the text, blank ones skipped;
    a title that fills the budget is the whole sample."""
    lines = [f"line {i} " + "w" * 10 for i in range(8)]  # 17 characters each
    text = "\n\n".join(lines)
    assert sample_text("Title", text, 1000) == "\n".join(["Title", *lines])
    # 5 + 17 * 2 = 39 of 40: every fourth line first, the last one cut to the budget
    assert sample_text("Title", text, 40) == "\n".join(["Title", lines[0], lines[4], "l"])
    assert sample_text("A long headline", text, 10) == "A long hea"
    assert sample_text("Exactly ten", "", 11) == "Exactly ten"
    assert sample_text("", "", 80) == ""


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


@pytest.mark.parametrize(("given", "code"), [
    ("en", "en"), ("en_GB", "en"), ("en-US", "en"), ("eng", "en"), ("English", "en"),
    (" FR ", "fr"), ("deu", "de"), ("ger", "de"), ("zh-cn", "zh"), ("zh_Hans_CN", "zh"),
    ("pt-BR", "pt"), ("iw", "he"), ("no", "nb"),
    ("xx", None), ("5", None), ("und", None), ("", None), ("zz-ZZ", None),
])
def test_a_given_language_is_read_as_its_code(given: str, code: str | None) -> None:
    assert given_language(given) == code


def test_the_learner_groups_a_sites_pages_by_their_trusted_language() -> None:
    """Boilerplate is counted per site and language before cleaning; with a trusted
    input language that language is the group (a guess from a short sample split one
    site's Galician pages among es, ca, pt and hu), and a code that names none is
    guessed."""
    english = "The central bank raised its interest rate by half a point on Thursday."
    german = "Die Zentralbank hat am Donnerstag ihren Leitzins um einen halben Punkt erhöht."
    records = [Record(id=str(n), title="", text=text, lang=lang) for n, (text, lang) in
               enumerate([(english, "gl"), (german, "gl"), (german, "xx"), (english, "")])]
    assert guessed_languages(records, LanguageConfig(trust_input=True)) == ["gl", "gl", "de", "en"]
    assert guessed_languages(records, LanguageConfig()) == ["en", "de", "de", "en"]


def test_a_trusted_language_that_names_none_is_detected_and_flagged() -> None:
    english = "The central bank raised its interest rate by half a point on Thursday."
    german = "Die Zentralbank hat am Donnerstag ihren Leitzins um einen halben Punkt erhöht."
    records = [Record(id=str(n), title="", text=text, lang=lang) for n, (text, lang) in
               enumerate([(english, "en_GB"), (english, "eng"), (german, "xx"),
                          (english, "fr")])]
    found = languages_of(records, SitePrior.of(SiteLanguages.counted([], [])),
                         LanguageConfig(trust_input=True))
    assert [d.lang for d in found] == ["en", "en", "de", "fr"]  # "fr" trusted as given
    assert [r.flags for r in records] == [[], [], ["lang_not_understood"], []]
