"""Word lists of the main news languages: function words and the words of dates.

Function words are ignored by event clustering.  IDF only pushes them down when a block
holds many documents; in a small block (a short dump, or a language with few articles in
a large one) every article shares "the"/"и"/"der" and they decide the similarity and the
reported top terms.  Dropping them is language knowledge, not tuning: short lists of
articles, pronouns, auxiliaries, prepositions and conjunctions only, so no content word
is ever lost.

Date words (months, weekdays, "updated"...) tell the cleaner a date line from other
text, and let the boilerplate learner mask dates in a line's shape.
"""

from __future__ import annotations

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""
        a an the and or but if then than so as at by for from in into of on onto to with
        without about after before over under up down out off this that these those is are
        was were be been being am has have had having do does did will would shall should can
        could may might must it its it's he him his she her hers they them their theirs we us
        our you your i me my not no nor also just only very more most such which who whom
        whose what when where why how all any both each other some own same too s t said says
        there here while during against between through again further once
        """.split()),
    "de": frozenset("""
        der die das den dem des ein eine einer eines einem einen und oder aber auch als am an
        auf aus bei bis durch für gegen im in ins ist sind war waren wird werden wurde wurden
        hat haben hatte hatten sein seine ihr ihre es er sie wir ihr ich du man mit nach nicht
        noch nur ob so über um unter vom von vor zu zum zur dass daß wie was wenn weil sich
        dieser diese dieses denn doch schon sehr mehr
        """.split()),
    "fr": frozenset("""
        le la les l un une des du de d et ou mais donc or ni car à au aux en dans par pour sur
        sous avec sans vers chez entre est sont était étaient été être a ont avait avaient
        sera seront il elle ils elles on nous vous je tu me se sa son ses leur leurs ce cet
        cette ces qui que qu quoi dont où ne pas plus comme si aussi très tout tous toute
        """.split()),
    "es": frozenset("""
        el la los las lo un una unos unas y o pero ni que de del a al en con por para sin
        sobre entre hasta desde es son era eran fue fueron ser sido ha han había habían se su
        sus le les él ella ellos ellas nosotros yo tú me te nos este esta estos estas ese esa
        esos esas como más muy ya también no si cuando donde
        """.split()),
    "it": frozenset("""
        il lo la i gli le un uno una e ed o ma che di del dello della dei degli delle a al
        allo alla ai agli alle da dal dalla dai in nel nello nella nei negli nelle con su sul
        sulla per tra fra è sono era erano stato stata essere ha hanno aveva si suo sua suoi
        sue lui lei loro noi io non più anche come se quando dove questo questa quello quella
        """.split()),
    "pt": frozenset("""
        o a os as um uma uns umas e ou mas que de do da dos das em no na nos nas por pelo pela
        para com sem sobre entre até é são era eram foi foram ser sido tem têm tinha se seu sua
        seus suas ele ela eles elas nós eu não mais muito também como quando onde este esta
        esse essa isso isto ao aos à às
        """.split()),
    "nl": frozenset("""
        de het een en of maar dat die dit deze van in op aan met voor door naar bij uit over
        tot om te is zijn was waren wordt worden werd werden heeft hebben had hadden hij zij
        ze wij we ik je u hun haar zijn niet ook als dan nog wel er
        """.split()),
    "pl": frozenset("""
        i w z na do nie się to że jest są był była było byli by a o od po za przez dla przy
        jak ale lub oraz czy ten ta te tego tej tym już jego jej ich go je jako także też
        może który która które którzy co tak
        """.split()),
    "ru": frozenset("""
        и в во не что он она оно они на я с со как а то все всё так его её ее их но да ты к у
        же вы за бы по только мне было был была были вот от меня о из ему при это этот эта
        эти этого для уже или ни быть будет до также который которая которые которых чтобы
        после более между где когда если об ли под над без через
        """.split()),
    "uk": frozenset("""
        і й та в у на з із зі до від для по за про при під над без через не що це цей ця ці
        цього як а але або чи так його її їх він вона воно вони ми ви я ти був була було були
        буде є також який яка які якого вже щоб після між де коли якщо ж же лише
        """.split()),
    "tr": frozenset("""
        ve ile de da bir bu şu o için gibi ama fakat veya ya ki mi mı mu mü ne daha çok en
        olan olarak olduğu sonra önce kadar göre ancak ise değil her hem bunun bunu onun
        """.split()),
}


def stopwords_for(lang: str) -> frozenset[str]:
    """The function words of ``lang`` (empty for languages without a list)."""
    return STOPWORDS.get(lang, frozenset())


# Words a date/time stamp is made of, in the supported languages; a short line with a
# digit and only these words is a date line (cruft as a title, kept inside the text).
DATE_WORDS: frozenset[str] = frozenset({
    # English
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday", "mon", "tue", "tues", "wed", "thu",
    "thur", "thurs", "fri", "sat", "sun", "updated", "update", "published", "posted",
    "last", "on", "at", "am", "pm", "a", "p", "m", "today", "yesterday", "st", "nd",
    "rd", "th", "of",
    # time zones
    "ist", "gmt", "utc", "est", "edt", "cst", "cdt", "pst", "pdt", "mst", "mdt", "et",
    "bst", "cet", "cest", "msk", "eet", "eest", "aest", "aedt", "jst", "hkt", "sgt",
    "wib", "hrs", "h",
    # German
    "januar", "jänner", "februar", "märz", "mai", "juni", "juli", "oktober", "dezember",
    "montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag",
    "uhr", "um", "aktualisiert", "veröffentlicht", "heute", "gestern", "stand",
    # French
    "janvier", "février", "mars", "avril", "juin", "juillet", "août", "septembre",
    "octobre", "novembre", "décembre", "lundi", "mardi", "mercredi", "jeudi",
    "vendredi", "samedi", "dimanche", "le", "à", "mis", "jour", "publié", "hier",
    # Spanish
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
    "septiembre", "setiembre", "octubre", "noviembre", "diciembre", "lunes", "martes",
    "miércoles", "jueves", "viernes", "sábado", "domingo", "de", "del", "actualizado",
    "publicado", "hoy", "ayer", "las", "la",
    # Italian
    "gennaio", "febbraio", "aprile", "maggio", "giugno", "luglio", "settembre",
    "ottobre", "dicembre", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì",
    "sabato", "domenica", "di", "alle", "aggiornato", "pubblicato", "oggi", "ieri",
    # Portuguese
    "janeiro", "fevereiro", "março", "maio", "junho", "julho", "setembro", "outubro",
    "novembro", "dezembro", "segunda-feira", "terça-feira", "quarta-feira",
    "quinta-feira", "sexta-feira", "feira", "às", "atualizado", "hoje", "ontem",
    # Polish
    "stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia",
    "września", "października", "listopada", "grudnia", "styczeń", "luty", "marzec",
    "kwiecień", "czerwiec", "lipiec", "sierpień", "wrzesień", "październik", "listopad",
    "grudzień", "poniedziałek", "wtorek", "środa", "czwartek", "piątek", "sobota",
    "niedziela", "zaktualizowano", "opublikowano", "dzisiaj", "wczoraj", "godz",
    # Russian
    "января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
    "сентября", "октября", "ноября", "декабря", "январь", "февраль", "март", "апрель",
    "май", "июнь", "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
    "понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье",
    "в", "г", "года", "обновлено", "опубликовано", "сегодня", "вчера",
    # Ukrainian
    "січня", "лютого", "березня", "квітня", "травня", "червня", "липня", "серпня",
    "вересня", "жовтня", "листопада", "грудня", "понеділок", "вівторок", "середа",
    "четвер", "пʼятниця", "п'ятниця", "субота", "неділя", "о", "р", "року", "оновлено",
    "опубліковано", "сьогодні", "вчора",
    # Turkish
    "ocak", "şubat", "mart", "nisan", "mayıs", "haziran", "temmuz", "ağustos", "eylül",
    "ekim", "kasım", "aralık", "pazartesi", "salı", "çarşamba", "perşembe", "cuma",
    "cumartesi", "pazar", "saat", "güncelleme", "güncellendi", "bugün", "dün",
})

# The words of DATE_WORDS that say a date is a stamp, not which date it is: the fixed part
# of a date line ("Updated <date>", "Veröffentlicht am <date>"), where the date varies.
STAMP_WORDS: frozenset[str] = frozenset({
    "updated", "update", "published", "posted", "last", "aktualisiert", "veröffentlicht",
    "stand", "publié", "mis", "jour", "actualizado", "publicado", "aggiornato",
    "pubblicato", "atualizado", "zaktualizowano", "opublikowano", "обновлено",
    "опубликовано", "оновлено", "опубліковано", "güncelleme", "güncellendi",
})

