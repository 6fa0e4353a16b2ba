"""The method registry: a decorator, the ``salbench.methods`` entry-point group,
and plugins loaded from paths the user names.

A *method* is a class deriving from :class:`Method`. It declares who it is
(``name``, ``paper``, ``kind``, whether it ``needs_weights``) and turns a batch
of RGB uint8 images into 8-bit saliency maps at each image's own size.

Registration is lazy, in the manner of lm-evaluation-harness: the entry-point
group ``salbench.methods`` maps a name to ``module:attribute``; the module is
imported only when that method is asked for (or when everything is listed).
Importing a module whose classes use :func:`register_method` registers them
(and their variants) under their names.

Plugins never load from anywhere implicit: only installed entry points, and
files or modules the user names with ``--plugin`` (or
:func:`load_plugin`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

from salbench.errors import SalbenchError
from salbench.plugins.options import Option, schema_from_defaults, validate

ENTRY_POINT_GROUP = "salbench.methods"


class RegistryError(SalbenchError, KeyError):
    """Unknown method name, or a plugin that fails to load."""

    def __str__(self) -> str:  # KeyError quotes its message; we don't want that
        return str(self.args[0]) if self.args else ""


class MethodNotReady(SalbenchError, RuntimeError):
    """Raised by :meth:`Method.prepare` before any work when a method cannot run
    (missing weights, missing optional dependency). The message says how to fix it."""


class Method:
    """Base class of every saliency method.

    Subclasses set the class attributes and implement :meth:`predict`.
    ``options`` are the method's own keyword options (variants pre-set some),
    declared once as a tuple of :class:`salbench.plugins.options.Option` in ``OPTIONS``
    (``default_options`` is derived from it); every value passed in is checked
    against that schema.
    """

    #: the options this method takes (name, type, default, help).
    OPTIONS: ClassVar[tuple[Option, ...]] = ()

    #: registry name, e.g. ``"r3net"``; variants get their own names.
    name: ClassVar[str] = ""
    #: short citation, e.g. ``"Deng et al., IJCAI 2018"``.
    paper: ClassVar[str] = ""
    #: ``"learned"``, ``"classical"`` or ``"precomputed"``.
    kind: ClassVar[str] = "classical"
    #: True when the method cannot run without a weights / checkpoint file.
    needs_weights: ClassVar[bool] = False
    #: True when the dense-CRF post-processing applies (R3Net-style); the runner
    #: runs it in a process pool and honours ``--crf/--no-crf``.
    supports_crf: ClassVar[bool] = False
    #: default for ``--crf`` when the user says nothing.
    default_crf: ClassVar[bool] = False
    #: how the runner parallelises ``predict`` across images: ``"processes"``
    #: (CPU methods written in numba / NumPy), ``"threads"`` or ``"none"``
    #: (a model on a device, which batches itself).
    parallel: ClassVar[str] = "processes"
    #: preferred number of images per ``predict`` call.
    batch_size: ClassVar[int] = 1
    #: one line on what input the method takes.
    input_note: ClassVar[str] = "RGB uint8 image of any size"
    #: default options of this registered name (derived from ``OPTIONS``;
    #: variants override some).
    default_options: ClassVar[dict[str, Any]] = {}
    #: the base method a variant belongs to (``"r3net"`` for ``"r3net-ll"``).
    family: ClassVar[str] = ""
    #: (H, W) at which parameters / GMACs are reported (a network that resizes
    #: its input to a fixed size declares that size).
    cost_size: ClassVar[tuple[int, int]] = (300, 300)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "OPTIONS" in cls.__dict__ and "default_options" not in cls.__dict__:
            cls.default_options = {o.name: o.default for o in cls.OPTIONS}

    @classmethod
    def options_schema(cls) -> tuple[Option, ...]:
        """The declared options with this name's defaults (a variant's presets
        become its defaults); inferred from ``default_options`` where a class
        declares no ``OPTIONS``."""
        from dataclasses import replace
        declared: tuple[Option, ...] | None = None
        for c in cls.__mro__:
            if c.__dict__.get("OPTIONS"):
                declared = c.__dict__["OPTIONS"]
                break
        defaults = dict(cls.default_options)
        if declared is None:
            return schema_from_defaults(defaults)
        names = {o.name for o in declared}
        out = [replace(o, default=defaults.get(o.name, o.default)) for o in declared]
        out += schema_from_defaults({k: v for k, v in defaults.items() if k not in names})
        return tuple(out)

    def __init__(self, *, weights: str | Path | None = None, device: str = "cpu",
                 **options: Any) -> None:
        checked = validate(self.name, self.options_schema(), options)
        self.weights = Path(weights) if weights else None
        self.device = device
        self.options: dict[str, Any] = {**self.default_options, **checked}

    # -- lifecycle -----------------------------------------------------------
    def prepare(self) -> None:
        """Load weights / check requirements. Raise :class:`MethodNotReady` with a
        message that says how to get going; called once before any image is read."""

    def bind(self, dataset: Any, label: str, *, run_datasets: Sequence[str] = ()) -> None:
        """Called by the runner before the images of each dataset (a
        :class:`salbench.data.datasets.Dataset`), with the label results are stored
        under and the names of all datasets of the run. Methods that depend on
        the dataset (precomputed maps) look up their files here and raise
        :class:`MethodNotReady` when they cannot; the default does nothing.
        The runner binds every dataset once before any work, so such errors
        come before anything is computed."""

    def identity(self) -> dict[str, Any]:
        """What, beyond name, options and source code, determines this
        method's maps once :meth:`prepare` / :meth:`bind` ran (e.g. the weights'
        sha256, the maps folder's fingerprint). Compared on resume."""
        return {}

    def predict(self, images: Sequence["np.ndarray"], names: Sequence[str]) -> list["np.ndarray"]:  # noqa: F821
        """Saliency maps for ``images`` (each ``H×W×3`` uint8 RGB): one ``H×W``
        uint8 map per image at that image's own size. ``names`` are the dataset
        stems (the ``maps`` method needs them; others may ignore them)."""
        raise NotImplementedError

    # -- description ---------------------------------------------------------
    def count_params(self) -> int | None:
        """Parameters of the model, classifier layers excluded; None for
        weight-free methods."""
        return None

    def gmacs(self, size: tuple[int, int] = (300, 300)) -> float | None:
        """Multiply-accumulates (×1e9) for one image of ``size``; None when not a network."""
        return None


@dataclass
class MethodSpec:
    """A registered name: the class, the options this name pre-sets, metadata."""

    name: str
    cls: type[Method]
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def create(self, **kwargs: Any) -> Method:
        """An instance of the method with this spec's options (``kwargs`` override
        them; ``weights`` and ``device`` go to the constructor)."""
        opts = {**self.options, **{k: v for k, v in kwargs.items()
                                   if k not in ("weights", "device")}}
        inst = self.cls(weights=kwargs.get("weights"), device=kwargs.get("device", "cpu"), **opts)
        return inst


_REGISTRY: dict[str, MethodSpec] = {}
_ENTRY_POINTS: dict[str, Any] | None = None
#: plugins already loaded (resolved file path or module name) -> names they registered
_PLUGINS: dict[str, tuple[str, ...]] = {}
#: entry points already imported
_LOADED_EPS: set[str] = set()


def origin(cls: type) -> str:
    """``module.Class (file)`` for messages about where a method comes from."""
    mod = sys.modules.get(cls.__module__)
    f = getattr(mod, "__file__", None)
    if cls.__module__.startswith("salbench_plugin_") and f:  # a plugin file: its path says it
        return f"{cls.__qualname__} in {f}"
    return f"{cls.__module__}.{cls.__qualname__}" + (f" ({f})" if f else "")


def _same_class(a: type, b: type) -> bool:
    """The same class, also when a variant subclass wraps it."""
    base_a = a.__mro__[1] if a.__dict__.get("_salbench_variant") else a
    base_b = b.__mro__[1] if b.__dict__.get("_salbench_variant") else b
    return (base_a.__module__, base_a.__qualname__) == (base_b.__module__, base_b.__qualname__)


def _check_collision(reg_name: str, c: type[Method], replace: bool) -> None:
    """Raise when ``reg_name`` is taken by another class (registered, or an
    installed entry point not loaded yet), unless ``replace`` says so."""
    if replace:
        return
    old = _REGISTRY.get(reg_name)
    if old is not None:
        if _same_class(old.cls, c):
            return  # the same module registering again (a re-import)
        raise RegistryError(f"method name {reg_name!r} is registered twice: by {origin(old.cls)} "
                            f"and by {origin(c)}; pass replace=True to register_method to replace "
                            f"it on purpose")
    eps = _entry_points()
    owner = reg_name if reg_name in eps else None
    if owner is None:  # a variant name: its family's module registers it (r3net-ll in r3net)
        fam = reg_name.split("-")[0]
        owner = next((f for f in (fam, fam.rstrip("+")) if f in eps and f != reg_name), None)
    if owner is None:
        return
    ep = eps[owner]
    if c.__module__ == ep.module or c.__module__.startswith(ep.module + "."):
        return  # the entry point's own module
    if owner not in _LOADED_EPS:
        _load_entry_point(owner)  # load the built-in so the collision is seen now
        if reg_name in _REGISTRY:
            _check_collision(reg_name, c, replace)
        return
    if reg_name == owner:
        raise RegistryError(f"method name {reg_name!r} is registered twice: by the entry point "
                            f"{ep.name} = {ep.value} and by {origin(c)}; pass replace=True to "
                            f"register_method to replace it on purpose")


def register_method(cls: type[Method] | None = None, *, name: str | None = None,
                    description: str = "", replace: bool = False, **options: Any) -> Callable:
    """Register a :class:`Method` subclass.

    As a bare decorator it registers ``cls.name``. Called with ``name=`` and
    options it registers a *variant*: the same class under another name with
    some options pre-set (``register_method(R3Net, name="r3net-ll", features="LL")``).
    A name already taken (by a registered class or an installed entry point)
    raises :class:`RegistryError` naming both origins, unless ``replace=True``
    says the replacement is deliberate.
    """

    def deco(c: type[Method]) -> type[Method]:
        if not (isinstance(c, type) and issubclass(c, Method)):
            raise TypeError(f"{c!r} is not a salbench.plugins.registry.Method subclass")
        reg_name = (name or c.name).lower()
        if not reg_name:
            raise ValueError(f"{c.__name__} has no name")
        options_ = validate(reg_name, c.options_schema(), options)
        _check_collision(reg_name, c, replace)
        spec_cls = c
        if name and name != c.name:
            # a variant: a thin subclass so instances report their own name
            spec_cls = type(c.__name__ + "_" + _ident(reg_name), (c,),
                            {"name": reg_name, "family": c.family or c.name,
                             "default_options": {**c.default_options, **options_},
                             "_salbench_variant": True, "__module__": c.__module__})
        _REGISTRY[reg_name] = MethodSpec(reg_name, spec_cls, dict(options_),
                                         description or (spec_cls.__doc__ or "").strip().split("\n")[0])
        return c

    if cls is not None:
        return deco(cls)
    return deco


def _ident(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in s)


def _entry_points() -> dict[str, Any]:
    global _ENTRY_POINTS
    if _ENTRY_POINTS is None:
        from importlib.metadata import entry_points
        _ENTRY_POINTS = {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return _ENTRY_POINTS


def _load_entry_point(ep_name: str) -> None:
    if ep_name in _LOADED_EPS:
        return
    _LOADED_EPS.add(ep_name)
    ep = _entry_points()[ep_name]
    try:
        obj = ep.load()
    except Exception as exc:  # a broken third-party plugin must say which one
        _LOADED_EPS.discard(ep_name)
        raise RegistryError(f"plugin {ep.name!r} ({ep.value}) failed to load: "
                            f"{type(exc).__name__}: {exc}") from exc
    if isinstance(obj, type) and issubclass(obj, Method) and obj.name.lower() not in _REGISTRY:
        register_method(obj)


def load_plugin(target: str | Path) -> list[str]:
    """Import a plugin the user named: a ``.py`` file path or a module name.
    Returns the method names it registered."""
    before = set(_REGISTRY)
    p = Path(target)
    key = str(p.resolve()) if (p.suffix == ".py" or p.exists()) else str(target)
    if key in _PLUGINS:  # loading the same plugin twice is a no-op
        return list(_PLUGINS[key])
    if p.suffix == ".py" or p.exists():
        if not p.is_file():
            raise RegistryError(f"plugin file {p} does not exist")
        mod_name = f"salbench_plugin_{_ident(str(p.resolve()))}"
        spec = importlib.util.spec_from_file_location(mod_name, p)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[mod_name]
            raise RegistryError(f"plugin file {p} failed to import: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            importlib.import_module(str(target))
        except Exception as exc:
            raise RegistryError(f"plugin module {target!r} failed to import: "
                                f"{type(exc).__name__}: {exc}") from exc
    added = sorted(set(_REGISTRY) - before)
    if not added:
        raise RegistryError(f"plugin {target} registered no method "
                            f"(decorate a salbench.plugins.registry.Method subclass with @register_method)")
    _PLUGINS[key] = tuple(added)
    return added


def get_spec(name: str) -> MethodSpec:
    """The registered method called ``name`` (case-insensitive), loading its entry
    point on first use; an unknown name raises :class:`SalbenchError` listing the known ones."""
    key = name.lower()
    if key not in _REGISTRY:
        eps = _entry_points()
        if key in eps:
            _load_entry_point(key)
        else:
            # variants are registered by their family's module: r3net-ll lives in r3net
            family = key.split("-")[0]
            for cand in (family, family.rstrip("+")):
                if cand in eps and cand not in _REGISTRY:
                    _load_entry_point(cand)
    if key not in _REGISTRY:
        raise RegistryError(f"unknown method {name!r}; known: {', '.join(available())}")
    return _REGISTRY[key]


def create(name: str, **kwargs: Any) -> Method:
    """Instantiate a registered method: ``create("r3net", weights=..., device="cuda")``."""
    return get_spec(name).create(**kwargs)


def load_all() -> dict[str, MethodSpec]:
    """Import every entry point (for listing). A broken plugin is reported, not fatal."""
    errors = []
    for ep_name in list(_entry_points()):
        try:
            _load_entry_point(ep_name)
        except RegistryError as exc:
            errors.append(str(exc))
    for e in errors:
        print(f"warning: {e}", file=sys.stderr)
    return dict(sorted(_REGISTRY.items()))


def available() -> list[str]:
    """Names known without importing anything: entry points plus what is registered."""
    return sorted(set(_entry_points()) | set(_REGISTRY))
