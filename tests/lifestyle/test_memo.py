"""Recent: a bounded map that forgets the least recently used entry first."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from lifestyle.memo import Recent


def test_it_keeps_at_most_its_limit_forgetting_the_least_recently_used() -> None:
    recent: Recent[str, int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    assert recent.get("a") == 1  # "a" is now the most recently used
    recent.put("c", 3)
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (1, None, 3)
    assert len(recent) == 2


def test_putting_again_replaces_and_refreshes() -> None:
    recent: Recent[str, int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.put("a", 10)
    recent.put("c", 3)
    assert (recent.get("a"), recent.get("b")) == (10, None)


def test_forget_removes_one_entry_and_ignores_unknown_keys() -> None:
    recent: Recent[str, int] = Recent(3)
    recent.put("a", 1)
    recent.forget("a")
    recent.forget("never there")
    assert recent.get("a") is None
    assert len(recent) == 0


def test_threads_never_push_it_past_its_limit() -> None:
    recent: Recent[int, int] = Recent(50)

    def fill(start: int) -> None:
        for n in range(start, start + 1000):
            recent.put(n, n)
            recent.get(n - 1)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fill, range(0, 8000, 1000)))
    assert len(recent) == 50
