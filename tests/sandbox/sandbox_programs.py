"""Ordinary programs with tests, for the sandbox correctness suite.

Each function program is ``(name, func, code, (old, new), cases)``: ``code`` is correct, and
replacing ``old`` by ``new`` makes it wrong (the tests must then fail). Each stdin program is
``(name, code, (old, new), [(stdin, expected_stdout), ...])``.
"""

FUNCTION_PROGRAMS = [
    ("add", "add", "def add(a, b):\n    return a + b\n", ("a + b", "a - b"),
     [((1, 2), 3), ((-5, 5), 0), ((10**20, 1), 10**20 + 1)]),
    ("fizzbuzz", "fizzbuzz", """
def fizzbuzz(n):
    out = []
    for i in range(1, n + 1):
        s = ("Fizz" if i % 3 == 0 else "") + ("Buzz" if i % 5 == 0 else "")
        out.append(s or str(i))
    return out
""", ("i % 5 == 0", "i % 4 == 0"), [((15,), ["1", "2", "Fizz", "4", "Buzz", "Fizz", "7", "8",
                                              "Fizz", "Buzz", "11", "Fizz", "13", "14",
                                              "FizzBuzz"])]),
    ("counter_top", "top_k", """
from collections import Counter
def top_k(words, k):
    return [w for w, _ in sorted(Counter(words).items(), key=lambda kv: (-kv[1], kv[0]))[:k]]
""", ("-kv[1]", "kv[1]"), [((["a", "b", "a", "c", "b", "a"], 2), ["a", "b"]),
                           ((["x"], 1), ["x"])]),
    ("heap_merge", "merge_sorted", """
import heapq
def merge_sorted(lists):
    return list(heapq.merge(*lists))
""", ("heapq.merge(*lists)", "sum(lists, [])"), [(([[1, 4], [2, 3], [0]],), [0, 1, 2, 3, 4])]),
    ("bisect_rank", "rank", """
import bisect
def rank(sorted_xs, x):
    return bisect.bisect_left(sorted_xs, x)
""", ("bisect_left", "bisect_right"), [(([1, 2, 2, 3], 2), 1), (([], 5), 0)]),
    ("lru_fib", "fib", """
from functools import lru_cache
@lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
""", ("n if n < 2", "1 if n < 2"), [((0,), 0), ((10,), 55), ((90,), 2880067194370816120)]),
    ("gcd_lcm", "lcm_all", """
import math
from functools import reduce
def lcm_all(xs):
    return reduce(lambda a, b: a * b // math.gcd(a, b), xs, 1)
""", ("a * b // math.gcd(a, b)", "a * b"), [(([4, 6, 8],), 24), (([7],), 7)]),
    ("regex_emails", "emails", r"""
import re
def emails(text):
    return re.findall(r"[\w.]+@[\w]+\.[a-z]{2,}", text)
""", ("{2,}", "{4,}"), [(("mail a.b@x.org or c@y.io now",), ["a.b@x.org", "c@y.io"])]),
    ("json_roundtrip", "normalize", """
import json
def normalize(text):
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
""", ("sort_keys=True", "sort_keys=False"), [(('{"b": 1, "a": [1, 2]}',), '{"a":[1,2],"b":1}')]),
    ("weekday", "weekday_name", """
import datetime
def weekday_name(y, m, d):
    return datetime.date(y, m, d).strftime("%A")
""", ("%A", "%a"), [((2024, 2, 29), "Thursday"), ((2000, 1, 1), "Saturday")]),
    ("fractions_sum", "harmonic", """
from fractions import Fraction
def harmonic(n):
    s = sum(Fraction(1, k) for k in range(1, n + 1))
    return (s.numerator, s.denominator)
""", ("range(1, n + 1)", "range(1, n)"), [((4,), (25, 12)), ((1,), (1, 1))]),
    ("decimal_round", "money", """
from decimal import Decimal, ROUND_HALF_UP
def money(x):
    return str(Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
""", ("ROUND_HALF_UP)", "ROUND_HALF_EVEN)"), [(("2.675",), "2.68"), (("0.125",), "0.13")]),
    ("stats_median", "median_and_mode", """
import statistics
def median_and_mode(xs):
    return (statistics.median(xs), statistics.mode(xs))
""", ("statistics.median(xs)", "statistics.mean(xs)"), [(([1, 2, 2, 9],), (2.0, 2))]),
    ("caesar", "caesar", """
import string
def caesar(text, k):
    lo = string.ascii_lowercase
    table = str.maketrans(lo, lo[k:] + lo[:k])
    return text.translate(table)
""", ("lo[k:] + lo[:k]", "lo[k:] + lo[:k - 1] + 'a'"), [(("abc xyz", 3), "def abc")]),
    ("seeded_random", "shuffled", """
import random
def shuffled(n, seed):
    rng = random.Random(seed)
    xs = list(range(n))
    rng.shuffle(xs)
    return xs
""", ("random.Random(seed)", "random.Random(seed + 1)"),
     [((6, 42), [3, 1, 2, 4, 0, 5]), ((3, 0), [0, 2, 1])]),
    ("sha256", "digest", """
import hashlib
def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]
""", ("sha256", "sha1"), [(("abc",), "ba7816bf8f01cfea")]),
    ("base64", "b64", """
import base64
def b64(text):
    return base64.b64encode(text.encode()).decode()
""", ("b64encode", "b32encode"), [(("hello",), "aGVsbG8=")]),
    ("zlib_ratio", "compressed_len", """
import zlib
def compressed_len(n):
    return len(zlib.decompress(zlib.compress(b"a" * n)))
""", ("zlib.decompress(zlib.compress(b\"a\" * n))", "zlib.compress(b\"a\" * n)"),
     [((1000,), 1000)]),
    ("struct_pack", "pack_be", """
import struct
def pack_be(a, b):
    return list(struct.pack(">HI", a, b))
""", (">HI", "<HI"), [((1, 2), [0, 1, 0, 0, 0, 2])]),
    ("textwrap", "wrap", """
import textwrap
def wrap(text, width):
    return textwrap.wrap(text, width)
""", ("textwrap.wrap(text, width)", "textwrap.wrap(text, width // 2)"),
     [(("the quick brown fox", 10), ["the quick", "brown fox"])]),
    ("unicodedata", "strip_accents", """
import unicodedata
def strip_accents(s):
    return "".join(c for c in unicodedata.normalize("NFD", s)
                   if unicodedata.category(c) != "Mn")
""", ('"NFD"', '"NFC"'), [(("café naïve",), "cafe naive")]),
    ("dataclass", "total_area", """
from dataclasses import dataclass
@dataclass(frozen=True)
class Rect:
    w: int
    h: int
    def area(self) -> int:
        return self.w * self.h
def total_area(pairs):
    return sum(Rect(w, h).area() for w, h in pairs)
""", ("self.w * self.h", "self.w + self.h"), [(([(2, 3), (4, 5)],), 26)]),
    ("typing_generic", "first_or", """
from typing import Optional, TypeVar, Sequence
T = TypeVar("T")
def first_or(xs: Sequence[T], default: Optional[T] = None) -> Optional[T]:
    return xs[0] if xs else default
""", ("xs[0]", "xs[-1]"), [(([3, 2, 1],), 3), (([], 7), 7)]),
    ("enum", "color_value", """
from enum import Enum
class Color(Enum):
    RED = 1
    GREEN = 2
def color_value(name):
    return Color[name].value
""", ("GREEN = 2", "GREEN = 3"), [(("GREEN",), 2)]),
    ("itertools_combos", "pair_sums", """
import itertools
def pair_sums(xs, target):
    return sorted(p for p in itertools.combinations(sorted(xs), 2) if sum(p) == target)
""", ("combinations", "permutations"), [(([1, 2, 3, 4], 5), [(1, 4), (2, 3)])]),
    ("operator_sort", "by_second", """
import operator
def by_second(rows):
    return sorted(rows, key=operator.itemgetter(1))
""", ("itemgetter(1)", "itemgetter(0)"), [(([(1, "b"), (2, "a")],), [(2, "a"), (1, "b")])]),
    ("deepcopy", "independent", """
import copy
def independent(nested):
    clone = copy.deepcopy(nested)
    clone[0].append(99)
    return nested
""", ("copy.deepcopy(nested)", "copy.copy(nested)"), [(([[1]],), [[1]])]),
    ("array_sum", "typed_sum", """
import array
def typed_sum(xs):
    return sum(array.array("i", xs))
""", ('sum(array.array("i", xs))', 'sum(array.array("i", xs[1:]))'), [(([1, 2, 3],), 6)]),
    ("csv_parse", "column", """
import csv, io
def column(text, name):
    return [row[name] for row in csv.DictReader(io.StringIO(text))]
""", ("row[name]", "row[name].upper()"), [(("a,b\nx,y\nz,w\n", "b"), ["y", "w"])]),
    ("difflib", "similar", """
import difflib
def similar(a, b):
    return round(difflib.SequenceMatcher(None, a, b).ratio(), 3)
""", ("round(", "1 - round("), [(("abcd", "abce"), 0.75)]),
    ("calendar", "leap_days", """
import calendar
def leap_days(y1, y2):
    return calendar.leapdays(y1, y2)
""", ("leapdays(y1, y2)", "leapdays(y1, y2 + 1)"), [((2000, 2024), 6)]),
    ("ipaddress", "hosts", """
import ipaddress
def hosts(cidr):
    return len(list(ipaddress.ip_network(cidr).hosts()))
""", (".hosts()", ""), [(("10.0.0.0/29",), 6)]),
    ("uuid5", "stable_id", """
import uuid
def stable_id(name):
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
""", ("NAMESPACE_DNS", "NAMESPACE_URL"),
     [(("python.org",), "886313e1-3b8a-5372-9b90-0c9aee199e5d")]),
    ("pathlib_scratch", "roundtrip_file", """
from pathlib import Path
def roundtrip_file(lines):
    p = Path("data.txt")
    p.write_text("\\n".join(lines))
    return p.read_text().splitlines()
""", ('"\\n".join(lines)', '" ".join(lines)'), [((["a", "b"],), ["a", "b"])]),
    ("tempfile", "temp_roundtrip", """
import tempfile, os
def temp_roundtrip(data):
    with tempfile.NamedTemporaryFile("w+", delete=False) as f:
        f.write(data)
        name = f.name
    with open(name) as f:
        out = f.read()
    os.unlink(name)
    return out
""", ("out = f.read()", "out = f.read()[::-1]"), [(("sandbox",), "sandbox")]),
    ("sqlite", "query", """
import sqlite3
def query(rows):
    db = sqlite3.connect(":memory:")
    db.execute("create table t (name text, score int)")
    db.executemany("insert into t values (?, ?)", rows)
    return db.execute("select name from t order by score desc limit 1").fetchone()[0]
""", ("score desc", "score asc"), [(([("a", 1), ("b", 3), ("c", 2)],), "b")]),
    ("xml", "xml_titles", """
import xml.etree.ElementTree as ET
def xml_titles(text):
    return [e.text for e in ET.fromstring(text).iter("title")]
""", ('iter("title")', 'iter("book")'),
     [(("<lib><book><title>A</title></book><book><title>B</title></book></lib>",), ["A", "B"])]),
    ("html_escape", "escape", """
import html
def escape(s):
    return html.escape(s)
""", ("html.escape(s)", "html.escape(s, quote=False)"),
     [(('<a href="x">',), "&lt;a href=&quot;x&quot;&gt;")]),
    ("urlparse", "query_param", """
from urllib.parse import urlparse, parse_qs
def query_param(url, key):
    return parse_qs(urlparse(url).query)[key][0]
""", ("[key][0]", "[key][-1]"), [(("http://x.org/p?a=1&b=2&a=3", "a"), "1")]),
    ("shlex", "split_cmd", """
import shlex
def split_cmd(cmd):
    return shlex.split(cmd)
""", ("shlex.split(cmd)", "cmd.split()"), [(("echo 'a b' c",), ["echo", "a b", "c"])]),
    ("fnmatch", "matching", """
import fnmatch
def matching(names, pattern):
    return fnmatch.filter(names, pattern)
""", ("fnmatch.filter(names, pattern)", "fnmatch.filter(names, pattern.upper())"),
     [((["a.py", "b.txt", "c.py"], "*.py"), ["a.py", "c.py"])]),
    ("graphlib", "topo", """
from graphlib import TopologicalSorter
def topo(deps):
    return list(TopologicalSorter(deps).static_order())
""", ("static_order())", "static_order())[::-1]"),
     [(({"b": ["a"], "c": ["b"]},), ["a", "b", "c"])]),
    ("pickle", "pickle_roundtrip", """
import pickle
def pickle_roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))
""", ("pickle.loads(pickle.dumps(obj))", "pickle.dumps(obj)"), [(({"a": (1, 2)},), {"a": (1, 2)})]),
    ("gzip", "gzip_len", """
import gzip
def gzip_len(text):
    return len(gzip.decompress(gzip.compress(text.encode())))
""", ("gzip.decompress(gzip.compress(text.encode()))", "gzip.compress(text.encode())"),
     [(("x" * 500,), 500)]),
    ("binascii", "crc", """
import binascii
def crc(text):
    return binascii.crc32(text.encode())
""", ("text.encode()", "text.encode()[1:]"), [(("hello",), 907060870)]),
    ("threads", "parallel_squares", """
import threading
def parallel_squares(xs):
    out = [None] * len(xs)
    def work(i):
        out[i] = xs[i] * xs[i]
    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in ts: t.start()
    for t in ts: t.join()
    return out
""", ("xs[i] * xs[i]", "xs[i] + xs[i]"), [(([1, 2, 3],), [1, 4, 9])]),
    ("subprocess_echo", "shell_echo", """
import subprocess
def shell_echo(word):
    return subprocess.run(["/bin/sh", "-c", "echo " + word], capture_output=True,
                          text=True).stdout.strip()
""", ('"echo "', '"echo x"'), [(("hi",), "hi")]),
    ("contextlib", "suppressed", """
import contextlib
def suppressed(xs):
    out = []
    for x in xs:
        with contextlib.suppress(ZeroDivisionError):
            out.append(10 // x)
    return out
""", ("10 // x", "10 // (x + 1)"), [(([1, 0, 5],), [10, 2])]),
    ("binary_search", "bsearch", """
def bsearch(xs, x):
    lo, hi = 0, len(xs) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if xs[mid] == x:
            return mid
        if xs[mid] < x:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1
""", ("lo = mid + 1", "lo = mid + 2"), [(([1, 3, 5, 7, 9, 11], 7), 3), (([1, 3], 4), -1)]),
    ("dijkstra", "shortest", """
import heapq
def shortest(edges, src, dst):
    graph = {}
    for a, b, w in edges:
        graph.setdefault(a, []).append((b, w))
    dist = {src: 0}
    pq = [(0, src)]
    while pq:
        d, u = heapq.heappop(pq)
        if u == dst:
            return d
        for v, w in graph.get(u, []):
            if d + w < dist.get(v, float("inf")):
                dist[v] = d + w
                heapq.heappush(pq, (d + w, v))
    return -1
""", ("d + w < dist", "d + w > dist"),
     [(([("a", "b", 1), ("b", "c", 2), ("a", "c", 5)], "a", "c"), 3)]),
    ("sieve", "primes", """
def primes(n):
    sieve = [True] * (n + 1)
    sieve[0:2] = [False, False]
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = [False] * len(sieve[i * i::i])
    return [i for i, p in enumerate(sieve) if p]
""", ("int(n ** 0.5) + 1", "int(n ** 0.5)"), [((30,), [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]),
                                              ((25,), [2, 3, 5, 7, 11, 13, 17, 19, 23])]),
    ("lis", "lis", """
import bisect
def lis(xs):
    tails = []
    for x in xs:
        i = bisect.bisect_left(tails, x)
        tails[i:i + 1] = [x]
    return len(tails)
""", ("bisect_left", "bisect_right"), [(([10, 9, 2, 5, 3, 7, 101, 18],), 4), (([2, 2, 2],), 1)]),
    ("matrix", "matmul", """
def matmul(a, b):
    return [[sum(x * y for x, y in zip(row, col)) for col in zip(*b)] for row in a]
""", ("zip(*b)", "b"), [(([[1, 2], [3, 4]], [[5, 6], [7, 8]]), [[19, 22], [43, 50]])]),
    ("anagrams", "group_anagrams", """
from collections import defaultdict
def group_anagrams(words):
    groups = defaultdict(list)
    for w in words:
        groups["".join(sorted(w))].append(w)
    return sorted(sorted(g) for g in groups.values())
""", ('"".join(sorted(w))', "w"), [((["eat", "tea", "tan", "nat", "bat"],),
                                   [["bat"], ["eat", "tea"], ["nat", "tan"]])]),
    ("generators", "take_squares", """
from itertools import islice, count
def take_squares(n):
    return list(islice((i * i for i in count(1)), n))
""", ("count(1)", "count(0)"), [((4,), [1, 4, 9, 16])]),
    ("exceptions", "safe_div", """
def safe_div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        return None
""", ("return None", "return 0"), [((1, 0), None), ((6, 3), 2.0)]),
    ("bigint", "factorial_digits", """
import math
def factorial_digits(n):
    return sum(int(d) for d in str(math.factorial(n)))
""", ("math.factorial(n)", "math.factorial(n + 1)"), [((100,), 648)]),
]

STDIN_PROGRAMS = [
    ("echo_upper", "print(input().upper())\n", (".upper()", ".lower()"),
     [("hello\n", "HELLO\n"), ("MiXeD\n", "MIXED\n")]),
    ("sum_lines", "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))\n",
     ("sum(", "max("), [("1 2 3\n4\n", "10\n")]),
    ("word_count", "import sys\nprint(len(sys.stdin.read().split()))\n", ("len(", "1 + len("),
     [("a b c\nd\n", "4\n")]),
    ("reverse_lines", "import sys\nfor line in reversed(sys.stdin.read().splitlines()):\n"
     "    print(line)\n", ("reversed(", "list("), [("a\nb\nc\n", "c\nb\na\n")]),
    ("main_guard", "def solve(n):\n    return n * 2\n\nif __name__ == '__main__':\n"
     "    print(solve(int(input())))\n", ("n * 2", "n * 3"), [("21\n", "42\n")]),
    ("json_stdin", "import json, sys\ndata = json.load(sys.stdin)\nprint(sorted(data))\n",
     ("sorted(data)", "list(data)"), [('{"b": 1, "a": 2}', "['a', 'b']\n")]),
]
