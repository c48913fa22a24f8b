"""Small payloads in each platform's own JSON shape, for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def x_page(*tweets: dict[str, Any], users: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    users = users or [
        {
            "id": "100",
            "name": "Kenji",
            "username": "kenji_t",
            "verified": False,
            "public_metrics": {"followers_count": 1200},
        },
        {
            "id": "200",
            "name": "Big Voice",
            "username": "bigvoice",
            "verified": True,
            "public_metrics": {"followers_count": 85000},
        },
    ]
    ids = [t["id"] for t in tweets]
    return {
        "data": list(tweets),
        "includes": {"users": users},
        "meta": {"newest_id": max(ids), "oldest_id": min(ids), "result_count": len(ids)},
    }


def tweet(tweet_id: str, text: str, author: str = "100", **extra: Any) -> dict[str, Any]:
    return {
        "id": tweet_id,
        "text": text,
        "author_id": author,
        "created_at": "2026-11-22T09:15:00.000Z",
        "lang": "en",
        "conversation_id": tweet_id,
        "public_metrics": {
            "retweet_count": 3,
            "reply_count": 1,
            "like_count": 10,
            "quote_count": 0,
        },
        **extra,
    }


def reddit_submission(name: str, title: str, body: str = "") -> dict[str, Any]:
    short = name.removeprefix("t3_")
    return {
        "kind": "t3",
        "data": {
            "id": short,
            "name": name,
            "title": title,
            "selftext": body,
            "author": "throwaway_dev",
            "author_fullname": "t2_8xk2m",
            "subreddit": "sysadmin",
            "permalink": f"/r/sysadmin/comments/{short}/slug/",
            "created_utc": 1763800000.0,
            "score": 152,
            "num_comments": 48,
        },
    }


def reddit_comment(name: str, body: str, parent: str) -> dict[str, Any]:
    return {
        "kind": "t1",
        "data": {
            "id": name.removeprefix("t1_"),
            "name": name,
            "body": body,
            "author": "someone",
            "author_fullname": "t2_3jd9",
            "link_id": parent,
            "parent_id": parent,
            "subreddit": "sysadmin",
            "permalink": f"/r/sysadmin/comments/x/slug/{name}/",
            "created_utc": 1763800600,
            "score": 20,
        },
    }


def bluesky_post(rkey: str, text: str, langs: list[str] | None = None) -> dict[str, Any]:
    did = "did:plc:abcd1234efgh5678ijkl9012"
    return {
        "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
        "cid": "bafyreib",
        "author": {"did": did, "handle": "alice.bsky.social", "displayName": "Alice"},
        "record": {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": "2026-11-22T10:00:00.000Z",
            "langs": langs or ["en"],
        },
        "replyCount": 0,
        "repostCount": 2,
        "likeCount": 5,
        "quoteCount": 0,
        "indexedAt": "2026-11-22T10:00:01.123Z",
    }


def mastodon_status(status_id: str, content: str, language: str = "en") -> dict[str, Any]:
    return {
        "id": status_id,
        "uri": f"https://mastodon.social/users/alice/statuses/{status_id}",
        "url": f"https://mastodon.social/@alice/{status_id}",
        "created_at": "2026-11-22T10:00:00.000Z",
        "content": content,
        "spoiler_text": "",
        "language": language,
        "in_reply_to_id": None,
        "reblog": None,
        "replies_count": 0,
        "reblogs_count": 1,
        "favourites_count": 3,
        "account": {
            "id": "1",
            "username": "alice",
            "acct": "alice",
            "display_name": "Alice",
            "url": "https://mastodon.social/@alice",
            "followers_count": 120,
        },
    }


def rss_entry(entry_id: str, title: str, summary: str = "") -> dict[str, Any]:
    return {
        "id": entry_id,
        "title": title,
        "link": entry_id,
        "summary": summary,
        "published": "Sun, 22 Nov 2026 10:00:00 GMT",
        "author": "Jane Reporter",
        "feed": {
            "title": "Tech News Daily",
            "link": "https://technews.example.com/",
            "language": "en",
        },
    }


def write_jsonl(path: Path, *lines: Any) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False))
            handle.write("\n")
    return path
