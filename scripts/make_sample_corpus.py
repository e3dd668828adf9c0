"""Build the bundled sample corpus from the Python standard library's docstrings.

The corpus is real English technical text under the PSF licence, so it can be
redistributed with the repository. Each record is one documented module,
class, function or method of a public standard-library module:

    {"id": "json.loads", "text": "...", "module": "json", "kind": "function",
     "area": "data formats", "lines": 12}

Run with the Python the project targets (3.11) to regenerate
``src/selfsim/sample/stdlib_docs.jsonl``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import warnings
from pathlib import Path

# Public modules grouped by the chapter of the library reference they belong to.
AREAS: dict[str, list[str]] = {
    "text": ["string", "re", "difflib", "textwrap", "unicodedata", "stringprep", "readline"],
    "binary data": ["struct", "codecs"],
    "data types": ["datetime", "zoneinfo", "calendar", "collections", "collections.abc", "heapq",
                   "bisect", "array", "weakref", "types", "copy", "pprint", "reprlib", "enum",
                   "graphlib"],
    "numbers and math": ["numbers", "math", "cmath", "decimal", "fractions", "random", "statistics"],
    "functional programming": ["itertools", "functools", "operator"],
    "files and directories": ["pathlib", "os.path", "fileinput", "stat", "filecmp", "tempfile",
                              "glob", "fnmatch", "linecache", "shutil"],
    "persistence": ["pickle", "copyreg", "shelve", "marshal", "dbm", "sqlite3"],
    "compression and archives": ["zlib", "gzip", "bz2", "lzma", "zipfile", "tarfile"],
    "file formats": ["csv", "configparser", "tomllib", "netrc", "plistlib"],
    "cryptography": ["hashlib", "hmac", "secrets"],
    "operating system": ["os", "io", "time", "argparse", "getopt", "logging", "logging.config",
                         "logging.handlers", "getpass", "platform", "errno", "ctypes"],
    "concurrency": ["threading", "multiprocessing", "concurrent.futures", "subprocess", "sched",
                    "queue", "contextvars", "asyncio"],
    "networking": ["socket", "ssl", "select", "selectors", "signal", "mmap"],
    "internet data": ["email", "email.message", "email.parser", "email.utils", "json", "mailbox",
                      "mimetypes", "base64", "binascii", "quopri"],
    "markup": ["html", "html.parser", "xml.etree.ElementTree", "xml.dom.minidom", "xml.sax"],
    "internet protocols": ["webbrowser", "wsgiref", "urllib.request", "urllib.parse",
                           "urllib.robotparser", "http", "http.client", "ftplib", "poplib",
                           "imaplib", "smtplib", "uuid", "socketserver", "http.server",
                           "http.cookies", "http.cookiejar", "xmlrpc.client", "ipaddress"],
    "multimedia": ["wave", "colorsys"],
    "internationalisation": ["gettext", "locale"],
    "program frameworks": ["turtle", "cmd", "shlex"],
    "development tools": ["typing", "pydoc", "doctest", "unittest", "unittest.mock"],
    "debugging and profiling": ["bdb", "faulthandler", "pdb", "timeit", "trace", "tracemalloc",
                                "cProfile", "pstats"],
    "packaging and runtime": ["sysconfig", "builtins", "warnings", "dataclasses", "contextlib",
                              "abc", "atexit", "traceback", "gc", "inspect", "site",
                              "importlib", "importlib.resources", "importlib.metadata",
                              "zipimport", "pkgutil", "modulefinder", "runpy"],
    "language services": ["ast", "symtable", "token", "keyword", "tokenize", "tabnanny",
                          "pyclbr", "py_compile", "compileall", "dis", "pickletools"],
}

MIN_CHARS = 40
MAX_CHARS = 6000


def _records_for(module_name: str, area: str) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module(module_name)
    records: list[dict] = []

    def emit(qualified: str, obj: object, kind: str) -> None:
        doc = inspect.getdoc(obj)
        if not doc or len(doc) < MIN_CHARS:
            return
        records.append({"id": qualified, "text": doc[:MAX_CHARS], "module": module_name,
                        "kind": kind, "area": area, "lines": doc.count("\n") + 1})

    emit(module_name, module, "module")
    public = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    for name in sorted(set(public)):
        obj = getattr(module, name, None)
        home = getattr(obj, "__module__", None) or module_name
        if obj is None or home.split(".")[0].lstrip("_") != module_name.split(".")[0]:
            continue
        if inspect.isclass(obj):
            emit(f"{module_name}.{name}", obj, "class")
            for attr, member in sorted(vars(obj).items()):
                if attr.startswith("_") or not callable(member):
                    continue
                emit(f"{module_name}.{name}.{attr}", member, "method")
        elif callable(obj):
            emit(f"{module_name}.{name}", obj, "function")
    return records


def main(out: Path) -> None:
    seen: set[str] = set()
    texts: set[str] = set()
    rows: list[dict] = []
    for area, modules in AREAS.items():
        for module_name in modules:
            try:
                found = _records_for(module_name, area)
            except Exception as error:  # a module missing on this platform is skipped
                print(f"skip {module_name}: {error}", file=sys.stderr)
                continue
            for row in found:
                if row["id"] in seen or row["text"] in texts:
                    continue
                seen.add(row["id"])
                texts.add(row["text"])
                rows.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} records to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else
         Path(__file__).resolve().parents[1] / "src/selfsim/sample/stdlib_docs.jsonl")
