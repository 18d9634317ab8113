"""Scrapy's side of bench/crawl.py: one crawl in its own process (Twisted's reactor cannot
restart), printing one JSON line of counts and timings on stdout.

    python -m bench.scrapy_spider '{"start_url": ..., "scope": ..., "pages": 400, ...}'

The spider follows every in-scope `<a href>` that LinkExtractor finds, breadth-first like lmkiln's
crawler, so both fetch about the same pages. With `extract_text` it also runs lmkiln's own
`lmkiln.tasks.collect.extract.main_text.extract` on each page: the same output lmkiln produces.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter

from scrapy import Spider, signals
from scrapy.crawler import CrawlerProcess
from scrapy.http import HtmlResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.settings import default_settings

from lmkiln.tasks.collect.extract.main_text import extract
from lmkiln.tasks.collect.extract.markup import decode


class SiteSpider(Spider):
    name = "site"

    def __init__(self, start_url: str, scope: str, extract_text: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.start_urls = [start_url]
        self.extract_text = extract_text
        self.links = LinkExtractor(allow=[f"^{re.escape(scope)}"])
        self.counts: Counter[str] = Counter()
        self.times: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._opened, signal=signals.spider_opened)
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        return spider

    def _opened(self, spider: Spider) -> None:
        self.times["opened"] = time.perf_counter()

    def _closed(self, spider: Spider, reason: str) -> None:
        self.times["closed"] = time.perf_counter()
        self.counts[f"closed_{reason}"] += 1

    def parse(self, response):
        self.counts[f"http_{response.status}"] += 1
        if not isinstance(response, HtmlResponse):
            self.counts["skipped_type"] += 1
            return
        self.counts["pages"] += 1
        self.counts["bytes"] += len(response.body)
        if self.extract_text:
            content_type = response.headers.get("Content-Type", b"").decode("latin-1")
            page = extract(decode(response.body, content_type), response.url)
            yield {"url": response.url, "title": page.title, "text": page.text}
        for link in self.links.extract_links(response):
            yield response.follow(link, callback=self.parse)


def settings(config: dict) -> dict:
    """The same concurrency and politeness as lmkiln's WebSource; otherwise Scrapy's defaults."""
    # lmkiln waits exactly delay_ms between two requests to a site; Scrapy's default is a
    # random 0.5x-1.5x of it, the same on average. Scrapy 2.19 renamed the setting.
    if hasattr(default_settings, "DOWNLOAD_DELAY_JITTER"):
        exact_delay = {"DOWNLOAD_DELAY_JITTER": 0}
    else:
        exact_delay = {"RANDOMIZE_DOWNLOAD_DELAY": False}
    return exact_delay | {
        "USER_AGENT": config["user_agent"],
        "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": config["concurrency"],
        "CONCURRENT_REQUESTS_PER_DOMAIN": config["concurrency"],
        "DOWNLOAD_DELAY": config["delay_ms"] / 1000,
        "AUTOTHROTTLE_ENABLED": False,
        "CLOSESPIDER_PAGECOUNT": config["pages"],
        "DEPTH_LIMIT": config["max_depth"],
        # Breadth-first, as lmkiln crawls: the same pages (and page sizes) on both sides.
        "DEPTH_PRIORITY": 1,
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "DOWNLOAD_TIMEOUT": config["timeout_s"],
        "RETRY_TIMES": config["retries"],
        "HTTPCACHE_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }


def run(config: dict) -> dict:
    process = CrawlerProcess(settings(config))
    crawler = process.create_crawler(SiteSpider)
    started_s = time.perf_counter()
    process.crawl(
        crawler,
        start_url=config["start_url"],
        scope=config["scope"],
        extract_text=config["extract_text"],
    )
    process.start()
    finished_s = time.perf_counter()
    spider = crawler.spider
    # Timed from spider_opened (components built) to spider_closed, as lmkiln's crawl() is
    # timed from its call to its return; robots.txt is inside both.
    return {
        "pages": spider.counts.pop("pages", 0),
        "bytes": spider.counts.pop("bytes", 0),
        "wall_s": spider.times["closed"] - spider.times["opened"],
        "process_wall_s": finished_s - started_s,
        "counters": dict(spider.counts),
        "requests": crawler.stats.get_value("downloader/request_count", 0),
    }


def main() -> None:
    print(json.dumps(run(json.loads(sys.argv[1]))))


if __name__ == "__main__":
    main()
