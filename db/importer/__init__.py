"""Loading operator files into the registry: region master files and registry rows.

* :func:`import_regions`: a BPS region master file (``code,parent_code,level,name``);
* :func:`import_registry`: households, persons and assistance in the layout that
  :func:`export_template` writes (CSV or Parquet).

Both check every row before writing anything and raise :class:`ImportRejected`
with one :class:`Problem` (file, line, column, reason) per bad value; input
that cannot be read at all raises :class:`Unreadable`.
"""

from db.importer.problems import ImportRejected, Problem, Unreadable
from db.importer.regions import RegionsSummary, import_regions
from db.importer.registry import ImportSummary, import_registry
from db.importer.template import export_template

__all__ = [
    "ImportRejected",
    "ImportSummary",
    "Problem",
    "RegionsSummary",
    "Unreadable",
    "export_template",
    "import_regions",
    "import_registry",
]
