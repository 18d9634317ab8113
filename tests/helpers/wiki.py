"""An excerpt of a Wikipedia dump built here, in the MediaWiki export schema: two articles,
a redirect, a talk page and an empty article."""

from __future__ import annotations

from xml.sax.saxutils import escape

SITEINFO = """  <siteinfo>
    <sitename>Wikipedia</sitename>
    <dbname>enwiki</dbname>
    <base>https://en.wikipedia.org/wiki/Main_Page</base>
    <generator>MediaWiki 1.43.0-wmf.1</generator>
    <case>first-letter</case>
    <namespaces>
      <namespace key="-2" case="first-letter">Media</namespace>
      <namespace key="0" case="first-letter" />
      <namespace key="1" case="first-letter">Talk</namespace>
      <namespace key="6" case="first-letter">File</namespace>
      <namespace key="14" case="first-letter">Category</namespace>
    </namespaces>
  </siteinfo>
"""

ADA = """{{Short description|English mathematician}}
{{Infobox person
| name = Ada Lovelace
| image = Ada_Lovelace.jpg
| birth_date = {{birth date|1815|12|10|df=y}}
}}
'''Augusta Ada King, Countess of Lovelace''' (''née'' '''Byron'''; 10 December 1815 \
&ndash; 27 November 1852) was an English [[mathematician]] and writer.<ref>{{cite book \
|title=Ada |year=1999}}</ref> She worked on [[Charles Babbage]]'s proposed \
[[Analytical Engine|mechanical general-purpose computer]].<ref name="fuegi"/>
[[File:Ada Lovelace portrait.jpg|thumb|upright|Portrait by [[Alfred Edward Chalon]]]]
<!-- Please do not change the birth date without a source. -->
__TOC__
== Early life ==
Her father was [[Lord Byron]]; she met [[Mary Somerville]] in 1833. \
She lived {{convert|20|mi|km}} from London.
{| class="wikitable"
|-
! Year !! Event
|-
| 1833 || Met Babbage {{efn|At a party.}}
|}
=== Notes ===
* The first [[algorithm]]s
* A [https://example.org/notes translation] of an article
# Numbered item
== References ==
{{Reflist}}
[[Category:1815 births]]
[[Category:English mathematicians|Lovelace]]
[[de:Ada Lovelace]]
"""

BABBAGE = """'''Charles Babbage''' ({{IPAc-en|ˈ|b|æ|b|ɪ|dʒ}}; 26 December 1791 \
&ndash; 18 October 1871) was a [[polymath]].{{sfn|Halacy|1970|p=xi}} He is known \
as a ''[[Father of the computer|father of the computer]]'' and wrote \
[[:Category:Works by Charles Babbage|several books]].

==Difference engine==
[[Image:Babbage Difference Engine.jpg|thumb|left|A part of the engine]]
Babbage began in 1822 with what he called the [[difference engine]]."""


def page(title: str, page_id: int, text: str | None, ns: int = 0, redirect: str = "") -> str:
    redirect_tag = f'    <redirect title="{escape(redirect)}" />\n' if redirect else ""
    text_tag = (
        '      <text bytes="0" />'
        if text is None
        else f'      <text bytes="{len(text)}" xml:space="preserve">{escape(text)}</text>'
    )
    return f"""  <page>
    <title>{escape(title)}</title>
    <ns>{ns}</ns>
    <id>{page_id}</id>
{redirect_tag}    <revision>
      <id>{page_id * 1000}</id>
      <parentid>{page_id * 1000 - 1}</parentid>
      <timestamp>2024-05-0{page_id % 9 + 1}T12:00:00Z</timestamp>
      <contributor><username>Editor</username><id>7</id></contributor>
      <model>wikitext</model>
      <format>text/x-wiki</format>
{text_tag}
      <sha1>0</sha1>
    </revision>
  </page>
"""


PAGES = [
    page("Ada Lovelace", 1, ADA),
    page("Lovelace", 2, "#REDIRECT [[Ada Lovelace]]", redirect="Ada Lovelace"),
    page("Talk:Ada Lovelace", 3, "Is the birth date right? ~~~~", ns=1),
    page("Empty article", 4, None),
    page("Charles Babbage", 5, BABBAGE),
    page("Analytical Engine", 6, "The '''Analytical Engine''' was a [[computer]] design."),
]
HEAD = (
    '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" '
    'xml:lang="en">\n' + SITEINFO
)
TAIL = "</mediawiki>\n"


def dump(pages: list[str] = PAGES) -> bytes:
    return (HEAD + "".join(pages) + TAIL).encode()
