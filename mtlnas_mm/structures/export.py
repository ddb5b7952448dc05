"""THE export format of searched architectures, shared by every search space.

Every search space exports its derived architecture as a subclass of
:class:`BaseArchitecture` registered under a ``kind`` (the MTL-NAS fusion
edges are ``'fusion_edges'``).  On disk an architecture is one JSON or YAML
mapping::

    format: mtlnas_mm.Architecture
    format_version: 2
    kind: fusion_edges          # which BaseArchitecture subclass reads it
    ...                         # the kind's own keys (its payload())
    meta: {...}                 # free-form (iteration, source config, ...)

:func:`load_architecture` reads any kind; every error names the file and
the offending key.  Version-1 files (written before search spaces had
kinds) have no ``kind`` and are fusion-edge architectures.
"""
import os.path as osp
from typing import Any, Dict, Mapping, Type, Union

from mmengine.fileio import dump as _file_dump
from mmengine.fileio import load as _file_load

ARCH_FORMAT = 'mtlnas_mm.Architecture'
ARCH_FORMAT_VERSION = 2
#: versions this code reads
READABLE_VERSIONS = (1, 2)
#: the kind of version-1 files
LEGACY_KIND = 'fusion_edges'
SUFFIXES = ('.json', '.yaml', '.yml')

ARCHITECTURE_KINDS: Dict[str, Type['BaseArchitecture']] = {}


def format_error(source: str, key: str, msg: str) -> ValueError:
    """A ``ValueError`` naming the file (or ``source``) and the key."""
    return ValueError(f'{source}: key "{key}": {msg}')


def register_architecture(cls: Type['BaseArchitecture']
                          ) -> Type['BaseArchitecture']:
    """Class decorator: make ``cls`` readable under ``cls.kind``."""
    if cls.kind in ARCHITECTURE_KINDS:
        raise KeyError(f'architecture kind {cls.kind!r} is already '
                       'registered')
    ARCHITECTURE_KINDS[cls.kind] = cls
    return cls


class BaseArchitecture:
    """A derived architecture of one search space, and its file format.

    Subclasses set :attr:`kind`, implement :meth:`payload` (their keys of
    the on-disk mapping), :meth:`from_payload` (the inverse, validating and
    naming ``source`` and the key in every error) and :meth:`soft_values`
    (the relaxed values of the architecture parameters, for curves).
    """

    kind: str = ''
    meta: dict

    def payload(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_payload(cls, data: Mapping, meta: dict,
                     source: str) -> 'BaseArchitecture':
        raise NotImplementedError

    def soft_values(self) -> Dict[str, Any]:
        """``{choice name: relaxed value}`` (e.g. gate probabilities)."""
        raise NotImplementedError

    # ------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON/YAML-able dict (the on-disk format)."""
        out = dict(format=ARCH_FORMAT, format_version=ARCH_FORMAT_VERSION,
                   kind=self.kind)
        out.update(self.payload())
        out['meta'] = dict(self.meta)
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = '<dict>'
                  ) -> 'BaseArchitecture':
        """Read :meth:`to_dict` output of any registered kind (called on a
        subclass: that kind only)."""
        if not isinstance(data, Mapping):
            raise ValueError(f'{source}: expected a mapping at top level, got '
                             f'{type(data).__name__}')
        fmt = data.get('format', ARCH_FORMAT)
        if fmt != ARCH_FORMAT:
            raise format_error(source, 'format',
                               f'expected {ARCH_FORMAT!r}, got {fmt!r}')
        if 'format_version' not in data:
            raise format_error(source, 'format_version', 'missing')
        version = data['format_version']
        if version not in READABLE_VERSIONS:
            raise format_error(source, 'format_version',
                               f'unsupported version {version!r} (this code '
                               f'reads {list(READABLE_VERSIONS)})')
        kind = data.get('kind', LEGACY_KIND if version == 1 else None)
        if kind not in ARCHITECTURE_KINDS:
            raise format_error(source, 'kind',
                               f'unknown architecture kind {kind!r}; known: '
                               f'{sorted(ARCHITECTURE_KINDS)}')
        target = ARCHITECTURE_KINDS[kind]
        if cls is not BaseArchitecture and not issubclass(target, cls):
            raise format_error(source, 'kind',
                               f'expected a {cls.kind!r} architecture, got '
                               f'{kind!r}')
        meta = data.get('meta') or {}
        if not isinstance(meta, Mapping):
            raise format_error(source, 'meta', 'must be a mapping')
        return target.from_payload(data, dict(meta), source)

    @staticmethod
    def _check_suffix(path: str) -> None:
        if not str(path).lower().endswith(SUFFIXES):
            raise ValueError(f'{path}: architecture files must end with one '
                             f'of {SUFFIXES}')

    def dump(self, path: str) -> None:
        """Write :meth:`to_dict` to a ``.json`` or ``.yaml``/``.yml`` file."""
        path = str(path)
        self._check_suffix(path)
        _file_dump(self.to_dict(), path)

    @classmethod
    def load(cls, path: str) -> 'BaseArchitecture':
        """Read a file written by :meth:`dump` (validated; errors name the
        file and the offending key)."""
        path = str(path)
        cls._check_suffix(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'architecture file not found: {path}')
        try:
            data = _file_load(path)
        except Exception as err:  # parser errors of json / yaml
            raise ValueError(f'{path}: cannot parse architecture file: '
                             f'{err}') from None
        return cls.from_dict(data, source=path)

    @classmethod
    def build(cls, arch: Union['BaseArchitecture', str, Mapping]
              ) -> 'BaseArchitecture':
        """Accept an architecture, a file path or a dict."""
        if isinstance(arch, BaseArchitecture):
            if cls is not BaseArchitecture and not isinstance(arch, cls):
                raise TypeError(f'expected a {cls.kind!r} architecture, got '
                                f'{arch.kind!r}')
            return arch
        if isinstance(arch, str):
            return cls.load(arch)
        if isinstance(arch, Mapping):
            return cls.from_dict(arch, source='architecture')
        raise TypeError('architecture must be a path, a dict or an '
                        f'architecture object, got {type(arch).__name__}')


def load_architecture(path: str) -> BaseArchitecture:
    """Read an architecture file of any kind."""
    return BaseArchitecture.load(path)
