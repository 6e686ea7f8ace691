"""MLT XML (Kdenlive, Shotcut, melt) read into frozen dataclasses, rewritten and written, with lxml and nothing resolved from outside the file.

The reader keeps MLT's own structure (producers, chains, playlists, tractors, transitions, filters)
and leaves times as the strings the file holds; ``latentcut.timeline.mlt_eval`` interprets them.
Entities are never expanded and nothing is fetched: a file that declares entities is refused. This
is the one module that speaks lxml: the editor's edge writes projects as ``Element`` trees, and
rewrites a read document's properties, through it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from lxml import etree

from latentcut.errors import ProjectError, one_line
from latentcut.timebase import FPS_RANGE, fps_in_range

__all__ = [
    "Addition",
    "Blank",
    "Element",
    "Entry",
    "Filter",
    "MltDocument",
    "Playlist",
    "Service",
    "Track",
    "Tractor",
    "Transition",
    "element_ids",
    "mlt_bytes",
    "read_mlt_document",
    "read_mlt_string",
    "rewritten_mlt",
]


@dataclass(frozen=True)
class Filter:
    """A ``<filter>`` or a chain's ``<link>``: its properties (attributes included)."""

    props: Mapping[str, str]

    @property
    def service(self) -> str:
        return self.props.get("mlt_service", "")


@dataclass(frozen=True)
class Service:
    """A ``<producer>`` or ``<chain>``: something that makes frames from a resource."""

    id: str
    tag: str  # "producer" or "chain"
    props: Mapping[str, str]
    filters: tuple[Filter, ...] = ()
    links: tuple[Filter, ...] = ()  # a chain's <link> elements (timeremap, ...)

    @property
    def service(self) -> str:
        return self.props.get("mlt_service", "")


@dataclass(frozen=True)
class Entry:
    """A clip in a playlist: ``producer`` from ``in_`` to ``out`` (MLT times, ``out`` inclusive; None: the producer's)."""

    producer: str
    in_: str | None
    out: str | None
    filters: tuple[Filter, ...] = ()


@dataclass(frozen=True)
class Blank:
    """An empty stretch of a playlist, ``length`` as an MLT time."""

    length: str


@dataclass(frozen=True)
class Playlist:
    id: str
    props: Mapping[str, str]
    items: tuple[Entry | Blank, ...]
    filters: tuple[Filter, ...] = ()


@dataclass(frozen=True)
class Track:
    """A ``<track>`` of a tractor: which service plays there and what of it is hidden (``video``, ``audio``, ``both``)."""

    producer: str
    hide: str = ""


@dataclass(frozen=True)
class Transition:
    props: Mapping[str, str]

    @property
    def service(self) -> str:
        return self.props.get("mlt_service", "")


@dataclass(frozen=True)
class Tractor:
    id: str
    props: Mapping[str, str]
    tracks: tuple[Track, ...]
    transitions: tuple[Transition, ...] = ()
    filters: tuple[Filter, ...] = ()


@dataclass(frozen=True)
class MltDocument:
    """A whole MLT XML file, read once: its profile, its services by id, the order of top-level elements, and its bytes.

    The conform evaluates it, the editor's edge reads keys from it and rewrites it (``rewritten_mlt``).
    """

    path: Path
    root_attr: str  # the <mlt root="..."> folder, "" when absent
    fps: Fraction
    size: tuple[int, int]
    services: Mapping[str, Service | Playlist | Tractor]
    top_level: tuple[str, ...]  # ids of top-level producers/chains/playlists/tractors, in file order
    mlt_version: str = ""
    sha256: str = ""  # of ``source``, the bytes parsed
    source: bytes = field(default=b"", repr=False, compare=False)

    @property
    def folder(self) -> Path:
        """The folder relative paths resolve against: ``root`` if it exists here, else the file's own folder."""
        if self.root_attr and Path(self.root_attr).is_dir():
            return Path(self.root_attr)
        return self.path.parent


def _props(element: etree._Element) -> dict[str, str]:
    props = {k: v for k, v in element.attrib.items() if k not in ("id",)}
    for prop in element.findall("property"):
        name = prop.get("name")
        if name:
            props[name] = "".join(prop.itertext())
    return props


def _filters(element: etree._Element, tag: str = "filter") -> tuple[Filter, ...]:
    return tuple(Filter(_props(child)) for child in element.findall(tag))


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.services: dict[str, Service | Playlist | Tractor] = {}
        self._anonymous = itertools.count()

    def _id(self, element: etree._Element) -> str:
        return element.get("id") or f"_inline{next(self._anonymous)}"

    def _register(self, element: etree._Element) -> str:
        tag = element.tag
        service_id = self._id(element)
        if tag in ("producer", "chain"):
            self.services[service_id] = Service(service_id, tag, _props(element), _filters(element), _filters(element, "link"))
        elif tag == "playlist":
            items: list[Entry | Blank] = []
            for child in element:
                if child.tag == "entry":
                    items.append(Entry(self._child_or_ref(child), child.get("in"), child.get("out"), _filters(child)))
                elif child.tag == "blank":
                    items.append(Blank(child.get("length", "0")))
            self.services[service_id] = Playlist(service_id, _props(element), tuple(items), _filters(element))
        elif tag == "tractor":
            tracks: list[Track] = []
            transitions: list[Transition] = []
            for child in element:
                if child.tag == "multitrack":
                    for inner in child:
                        if inner.tag == "track":
                            tracks.append(Track(self._child_or_ref(inner), inner.get("hide", "")))
                        elif inner.tag in ("playlist", "producer", "chain", "tractor"):
                            tracks.append(Track(self._register(inner)))
                elif child.tag == "track":
                    tracks.append(Track(self._child_or_ref(child), child.get("hide", "")))
                elif child.tag == "transition":
                    transitions.append(Transition(_props(child)))
            self.services[service_id] = Tractor(service_id, _props(element), tuple(tracks), tuple(transitions), _filters(element))
        return service_id

    def _child_or_ref(self, element: etree._Element) -> str:
        for child in element:
            if child.tag in ("producer", "chain", "playlist", "tractor"):
                return self._register(child)
        reference = element.get("producer")
        if not reference:
            raise ProjectError(f"{self.path}: line {element.sourceline}: <{element.tag}> names no producer")
        return reference


def _parsed(source: bytes, path: Path, *, comments: bool = False) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=not comments
    )
    try:
        tree = etree.fromstring(source, parser).getroottree()
    except etree.XMLSyntaxError as exc:
        raise ProjectError(
            f"{path}: not well-formed XML ({one_line(exc)}); is the file complete? Re-save it from the editor"
        ) from exc
    docinfo = tree.docinfo
    if docinfo.internalDTD is not None or docinfo.system_url:
        raise ProjectError(f"{path}: declares a DTD or XML entities, which latentcut never expands; remove the <!DOCTYPE>")
    root = tree.getroot()
    if root.tag != "mlt":
        raise ProjectError(f"{path}: root element is <{root.tag}>, not <mlt>; this is not an MLT or Kdenlive project")
    return root


def _profile(root: etree._Element, path: Path) -> tuple[Fraction, tuple[int, int]]:
    profile = root.find("profile")
    if profile is None:
        raise ProjectError(f"{path}: no <profile>; latentcut needs the project's frame rate")
    try:
        fps = Fraction(int(profile.get("frame_rate_num", "")), int(profile.get("frame_rate_den", "1")))
        size = (int(profile.get("width", "0")), int(profile.get("height", "0")))
    except (ValueError, ZeroDivisionError) as exc:
        raise ProjectError(f"{path}: <profile> has no valid frame_rate_num/frame_rate_den") from exc
    if not fps_in_range(fps):
        written = one_line(f"{profile.get('frame_rate_num')}/{profile.get('frame_rate_den', '1')}", 60)
        raise ProjectError(f"{path}: <profile> frame rate {written} is not one latentcut renders ({FPS_RANGE})")
    return fps, size


KNOWN_KDENLIVE_VERSION = 1.1  # document versions up to this one are understood (0.99, 1.04 = 22.12, 1.1 = 23.04+)


def _check_kdenlive_version(services: Mapping[str, Service | Playlist | Tractor], path: Path) -> None:
    main_bin = services.get("main_bin")
    version = main_bin.props.get("kdenlive:docproperties.version", "") if isinstance(main_bin, Playlist) else ""
    if version:
        try:
            number = float(version)
        except ValueError as exc:
            raise ProjectError(
                f"{path}: Kdenlive document version {version!r} is not a number; re-save the project in Kdenlive"
            ) from exc
        if not math.isfinite(number):
            raise ProjectError(f"{path}: Kdenlive document version {version!r} is not a number; re-save the project in Kdenlive")
        if number > KNOWN_KDENLIVE_VERSION:
            raise ProjectError(
                f"{path}: Kdenlive document version {version} is newer than latentcut understands ({KNOWN_KDENLIVE_VERSION}); "
                "upgrade latentcut, or conform a copy saved by an older Kdenlive"
            )


def read_mlt_string(source: bytes, path: Path) -> MltDocument:
    """Parse MLT XML held in ``source``; ``path`` names it in errors and anchors relative paths."""
    root = _parsed(source, path)
    fps, size = _profile(root, path)
    reader = _Reader(path)
    top_level = []
    for element in root:
        if element.tag in ("producer", "chain", "playlist", "tractor"):
            top_level.append(reader._register(element))
    if not top_level:
        raise ProjectError(f"{path}: no producer, playlist or tractor at the top level; nothing to play")
    _check_kdenlive_version(reader.services, path)
    return MltDocument(
        path=path,
        root_attr=root.get("root", ""),
        fps=fps,
        size=size,
        services=reader.services,
        top_level=tuple(top_level),
        mlt_version=root.get("version", ""),
        sha256=hashlib.sha256(source).hexdigest(),
        source=source,
    )


def read_mlt_document(path: Path) -> MltDocument:
    """Read an MLT or Kdenlive project file."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return read_mlt_string(source, path)


def _set_property(element: etree._Element, name: str, value: str) -> None:
    """Set ``<property name>`` of ``element``: a new one goes after the others, before entries, filters and tracks, as Kdenlive writes them."""
    found = next((p for p in element.findall("property") if p.get("name") == name), None)
    if found is None:
        found = etree.Element("property", name=name)
        properties = element.findall("property")
        if properties:
            properties[-1].addnext(found)
        else:
            element.insert(0, found)
    found.text = value
    element.attrib.pop(name, None)


@dataclass(frozen=True)
class Addition:
    """An element ``rewritten_mlt`` adds: into the element with id ``into`` ("" for ``<mlt>`` itself), or with
    ``entry`` into that entry (counted from 0) of the playlist ``into``; before the child with id ``before``, else
    after the last child tagged ``after_last``, else last."""

    element: Element
    into: str = ""
    before: str = ""
    after_last: str = ""
    entry: int | None = None


def element_ids(document: MltDocument) -> frozenset[str]:
    """Every ``id`` attribute in ``document`` (services, filters, transitions), so a new element gets one not taken."""
    return frozenset(str(value) for value in _parsed(document.source, document.path).xpath("//@id"))


def _added(tree: etree._Element, addition: Addition, path: Path) -> None:
    parent = tree if not addition.into else next(iter(tree.xpath("//*[@id=$id]", id=addition.into)), None)
    if parent is None:
        raise ProjectError(f"{path}: no element {addition.into!r} to add a {addition.element.tag} to")
    if addition.entry is not None:
        entries = parent.findall("entry")
        if not 0 <= addition.entry < len(entries):
            raise ProjectError(f"{path}: {addition.into} has {len(entries)} clips, not a clip {addition.entry}")
        parent = entries[addition.entry]
    built = _built(addition.element)
    before = next((child for child in parent if addition.before and child.get("id") == addition.before), None)
    after = parent.findall(addition.after_last) if addition.after_last else []
    if before is not None:
        before.addprevious(built)
    elif after:
        after[-1].addnext(built)
    else:
        parent.append(built)


def rewritten_mlt(
    document: MltDocument,
    changes: Mapping[str, Mapping[str, str]],
    *,
    attributes: Mapping[str, Mapping[str, str]] | None = None,
    entries: Mapping[str, Mapping[str, str]] | None = None,
    added: Sequence[Addition] = (),
    root: str | None = None,
    size: tuple[int, int] | None = None,
) -> bytes:
    """Return ``document``'s XML with properties of producers, chains, playlists and tractors set as ``changes`` says ({id: {name: value}}).

    ``attributes`` sets attributes of elements by id ({id: {name: value}}), ``entries`` those of every
    playlist entry playing a producer ({producer id: {name: value}}); ``added`` elements go in, in order.
    Everything else is kept as it is, byte for byte where lxml allows; ``root`` replaces ``<mlt root>``,
    ``size`` the profile's frame size (square pixels).
    """
    tree = _parsed(document.source, document.path, comments=True)
    profile = tree.find("profile")
    if size is not None and profile is not None:
        profile.attrib.update(
            {
                "width": str(size[0]),
                "height": str(size[1]),
                "sample_aspect_num": "1",
                "sample_aspect_den": "1",
                "display_aspect_num": str(size[0]),
                "display_aspect_den": str(size[1]),
            }
        )
    for element in tree.iter("producer", "chain", "playlist", "tractor"):
        for name, value in changes.get(element.get("id", ""), {}).items():
            _set_property(element, name, value)
        element.attrib.update((attributes or {}).get(element.get("id", ""), {}))
    for entry in tree.iter("entry"):
        entry.attrib.update((entries or {}).get(entry.get("producer", ""), {}))
    for addition in added:
        _added(tree, addition, document.path)
    if root is not None:
        tree.set("root", root)
    return etree.tostring(tree.getroottree(), xml_declaration=True, encoding="utf-8")


@dataclass(frozen=True)
class Element:
    """An element of an MLT XML file to write: its tag and attributes, its ``<property>`` children in order, then its other children."""

    tag: str
    attrib: Mapping[str, str] = field(default_factory=dict)
    props: tuple[tuple[str, str], ...] = ()
    children: tuple[Element, ...] = ()


def _built(element: Element) -> etree._Element:
    built = etree.Element(element.tag, dict(element.attrib))
    for name, value in element.props:
        etree.SubElement(built, "property", name=name).text = value
    for child in element.children:
        built.append(_built(child))
    return built


def mlt_bytes(root: Element) -> bytes:
    """The XML text of the tree ``root`` (indented, with an XML declaration), as a project file holds it."""
    return etree.tostring(_built(root).getroottree(), xml_declaration=True, encoding="utf-8", pretty_print=True)
